//go:build !msklink.envcreds

package iamauth

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/msklink/msklink/internal/testutil"
)

// BenchmarkProviderDefaultChain is ours on the same default chain: loaded
// once, so a fetch costs what a cached fetch does.
func BenchmarkProviderDefaultChain(b *testing.B) {
	dir := b.TempDir()
	for k, v := range testutil.EmptyAWSEnv(dir) {
		b.Setenv(k, v)
	}
	b.Setenv("AWS_ACCESS_KEY_ID", testCreds.AccessKeyID)
	b.Setenv("AWS_SECRET_ACCESS_KEY", testCreds.SecretAccessKey)
	ctx := context.Background()
	p, err := New(ctx, WithRegion("us-east-1"), WithLoadOptions(config.WithEC2IMDSClientEnableState(0)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Token(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
