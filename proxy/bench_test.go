package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// benchPath is a way for a franz-go client to the cluster.
type benchPath struct {
	name string
	opts []kgo.Opt
}

// benchPaths starts a cluster and a proxy in front of its IAM listener,
// and returns the client options of both paths: straight to the IAM
// listener (TLS + OAUTHBEARER), and through the proxy (no TLS, no SASL).
func benchPaths(b *testing.B) (*emulator.Cluster, []benchPath) {
	c, _ := startCluster(b, emulator.WithTopic("bench", 3))
	cfg := iamConfig(c)
	p, _ := startProxy(b, cfg)
	prov, err := kafkaconn.TokenProvider(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	return c, []benchPath{
		{"direct-iam", []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(emulator.IAM)...),
			kgo.DialTLSConfig(&tls.Config{RootCAs: c.CAPool(), MinVersion: tls.VersionTLS12}), kgo.SASL(prov.OAuth())}},
		{"proxy", []kgo.Opt{kgo.SeedBrokers(p.Addr())}},
	}
}

// BenchmarkProduce compares produce throughput of the same franz-go
// producer and records straight to the emulator's IAM listener (TLS +
// OAUTHBEARER) and through the proxy (plaintext to the proxy, which adds
// its own TLS + OAUTHBEARER connection), in one run. docs/BENCHMARKS.md
// has the figures:
//
//	go test -run XXX -bench Produce -benchtime 200000x -count 3 ./proxy/
func BenchmarkProduce(b *testing.B) {
	_, paths := benchPaths(b)
	value := make([]byte, 100)
	for _, tc := range paths {
		b.Run(tc.name, func(b *testing.B) { testutil.BenchmarkProduce(b, "bench", value, tc.opts...) })
	}
}

// BenchmarkConsume is BenchmarkProduce's counterpart: records are produced
// first (not timed), then read from the start by a new consumer, straight
// and through the proxy, whose Fetch answers are forwarded byte for byte.
//
//	go test -run XXX -bench Consume -benchtime 200000x -count 3 ./proxy/
func BenchmarkConsume(b *testing.B) {
	c, paths := benchPaths(b)
	direct := paths[0].opts
	ctx := context.Background()
	value := make([]byte, 100)
	topic := 0
	for _, tc := range paths {
		b.Run(tc.name, func(b *testing.B) {
			topic++
			name := fmt.Sprintf("consume-%d", topic)
			if err := c.Kfake().CreateTopic(name, 3, nil); err != nil {
				b.Fatal(err)
			}
			prod, err := kgo.NewClient(append(direct, kgo.DefaultProduceTopic(name), kgo.DisableClientMetrics(), kgo.ProducerLinger(time.Millisecond))...)
			if err != nil {
				b.Fatal(err)
			}
			for range b.N {
				prod.Produce(ctx, &kgo.Record{Value: value}, nil)
			}
			if err := prod.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			prod.Close()
			cl, err := kgo.NewClient(append(tc.opts, kgo.ConsumeTopics(name), kgo.DisableClientMetrics(),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			b.SetBytes(int64(len(value)))
			b.ResetTimer()
			for n := 0; n < b.N; {
				fs := cl.PollFetches(ctx)
				if err := fs.Err(); err != nil {
					b.Fatal(err)
				}
				n += fs.NumRecords()
			}
		})
	}
}
