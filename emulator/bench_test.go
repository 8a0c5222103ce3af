package emulator

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkProduce compares produce throughput through the emulator's IAM
// listener (TLS + OAUTHBEARER + per-request authorization) with kfake's own
// plaintext listener, same client settings and records, in one run.
//
//	go test -run XXX -bench Produce -benchtime 200000x ./emulator/
func BenchmarkProduce(b *testing.B) {
	c, err := Start(context.Background(), Ephemeral(), WithTopic("bench", 3))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := provider(b, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	value := make([]byte, 100)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"kfake-plaintext", []kgo.Opt{kgo.SeedBrokers(c.Kfake().ListenAddrs()...)}},
		{"emulator-iam", iamOpts(c, p.OAuth())},
		{"emulator-plaintext", []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cl, err := kgo.NewClient(append(tc.opts, kgo.DefaultProduceTopic("bench"), kgo.DisableClientMetrics(),
				kgo.ProducerLinger(time.Millisecond))...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			ctx := context.Background()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			errs := make(chan error, 1)
			for range b.N {
				cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
					if err != nil {
						select {
						case errs <- err:
						default:
						}
					}
				})
			}
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			select {
			case err := <-errs:
				b.Fatal(err)
			default:
			}
		})
	}
}
