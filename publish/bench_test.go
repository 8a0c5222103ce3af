package publish

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

// connCounter counts the connections a client opens.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		c.n.Add(1)
	}
}

func setLatency(c *emulator.Cluster, d time.Duration) {
	for id := int32(0); id < 3; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{RequestLatency: d})
	}
}

// BenchmarkColdStart counts the Kafka request round trips of a cold start
// through the IAM listener: Init (New + Warm) and the first Publish after
// it, against a bare franz-go client's first ProduceSync with default
// options. Each iteration runs once with no added latency and once with
// 20 ms added to every request; the difference divided by 20 ms is the
// number of sequential request round trips. TCP and TLS handshakes are not
// delayed by the emulator and are reported as connections opened (each
// costs one TCP round trip plus one TLS 1.3 round trip on top).
func BenchmarkColdStart(b *testing.B) {
	const lat = 20 * time.Millisecond
	c := startEmulator(b)
	cfg := iamConfig(c)
	rec := func() []*kgo.Record { return []*kgo.Record{{Value: []byte("cold")}} }

	b.Run("msklink", func(b *testing.B) {
		var init, first [2]time.Duration
		var conns int64
		for b.Loop() {
			for i, d := range []time.Duration{0, lat} {
				setLatency(c, d)
				cc := &connCounter{}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				p, err := New(ctx, cfg, WithClientOpts(kafkaconn.WithClientOpts(kgo.WithHooks(cc))))
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Warm(ctx); err != nil {
					b.Fatal(err)
				}
				init[i] += time.Since(start)
				start = time.Now()
				if o := p.Publish(ctx, rec()); o[0].Status != Acked {
					b.Fatal(o[0])
				}
				first[i] += time.Since(start)
				conns += cc.n.Load()
				p.Close()
				cancel()
			}
		}
		setLatency(c, 0)
		n := float64(b.N)
		b.ReportMetric(float64(init[1]-init[0])/n/float64(lat), "init-RTs")
		b.ReportMetric(float64(first[1]-first[0])/n/float64(lat), "first-publish-RTs")
		b.ReportMetric(float64(conns)/n/2, "connections")
		b.ReportMetric(float64(first[0])/n/1e6, "first-publish-ms")
	})

	b.Run("franz-go-defaults", func(b *testing.B) {
		var first [2]time.Duration
		var conns int64
		for b.Loop() {
			for i, d := range []time.Duration{0, lat} {
				setLatency(c, d)
				cc := &connCounter{}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				tc, _ := kafkaconn.TLSConfig(cfg)
				prov, err := kafkaconn.TokenProvider(ctx, cfg)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DialTLSConfig(tc), kgo.SASL(prov.OAuth()), kgo.WithHooks(cc))
				if err != nil {
					b.Fatal(err)
				}
				if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "events", Value: []byte("cold")}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				first[i] += time.Since(start)
				conns += cc.n.Load()
				cl.Close()
				cancel()
			}
		}
		setLatency(c, 0)
		n := float64(b.N)
		b.ReportMetric(float64(first[1]-first[0])/n/float64(lat), "first-ack-RTs")
		b.ReportMetric(float64(conns)/n/2, "connections")
		b.ReportMetric(float64(first[0])/n/1e6, "first-ack-ms")
	})
}

// BenchmarkThroughput compares records/s through a Publisher with a bare
// franz-go client built from the same Config, against the same emulator
// (IAM listener), in batches of 1,000 records of 100 bytes.
func BenchmarkThroughput(b *testing.B) {
	c := startEmulator(b, emulator.WithKfakeOpts())
	cfg := iamConfig(c)
	batch := func() []*kgo.Record {
		recs := make([]*kgo.Record, 1000)
		for i := range recs {
			recs[i] = &kgo.Record{Value: make([]byte, 100)}
		}
		return recs
	}
	ctx := context.Background()
	b.Run("publisher", func(b *testing.B) {
		p, err := New(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		if err := p.Warm(ctx); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			for _, o := range p.Publish(ctx, batch()) {
				if o.Status != Acked {
					b.Fatal(o)
				}
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("franz-go", func(b *testing.B) {
		cl, err := kafkaconn.NewClient(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if err := cl.ProduceSync(ctx, batch()...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "records/s")
	})
}
