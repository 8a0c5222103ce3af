//go:build !msklink.envcreds

package iamauth

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/config"
)

// BenchmarkProviderDefaultChain is ours on the same default chain: loaded
// once, so a fetch costs what a cached fetch does.
func BenchmarkProviderDefaultChain(b *testing.B) {
	setTestEnv(b)
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
