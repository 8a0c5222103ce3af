package emulator

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/internal/testutil"
)

// BenchmarkProduce compares produce throughput through the emulator's IAM
// listener (TLS + OAUTHBEARER + per-request authorization) with a bare
// kfake cluster's own plaintext listener (the emulator's kfake has none),
// same client settings and records, in one run.
//
//	go test -run XXX -bench Produce -benchtime 200000x ./emulator/
func BenchmarkProduce(b *testing.B) {
	c, err := Start(context.Background(), Ephemeral(), WithTopic("bench", 3))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bare, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	p := provider(b, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	value := make([]byte, 100)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"kfake-plaintext", []kgo.Opt{kgo.SeedBrokers(bare.ListenAddrs()...)}},
		{"emulator-iam", iamOpts(c, p.OAuth())},
		{"emulator-plaintext", []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...)}},
	} {
		b.Run(tc.name, func(b *testing.B) { testutil.BenchmarkProduce(b, "bench", value, tc.opts...) })
	}
}
