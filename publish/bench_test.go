package publish

import (
	"context"
	"encoding/binary"
	"flag"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
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

var (
	throughputRecords  = flag.Int("throughput-records", 300_000, "records per side and round of BenchmarkThroughput")
	throughputInFlight = flag.Int("throughput-in-flight", DefaultMaxInFlightRecords, "records in flight for both sides of BenchmarkThroughput: the Publisher's WithMaxInFlightRecords, franz-go's MaxBufferedRecords")
)

// BenchmarkThroughput compares records/s through a Publisher with a bare
// franz-go client built with the same options (kafkaconn's, the same
// partitioner), on one emulator (IAM listener: TLS and
// OAUTHBEARER), records of 100 bytes. Each iteration is a round: both
// sides publish -throughput-records records, each to a fresh topic that is
// then read back (a record missing or duplicated fails the benchmark),
// the side going first alternating between rounds so that a change in the
// machine's load hits both. It reports each side's median records/s and
// the median of the rounds' ratios.
//
//   - stream: one Stream fed every record, against franz-go's
//     asynchronous Produce of every record, then waiting for the promises.
//   - publish: Publish of 1,000 records at a time, against ProduceSync of
//     1,000 records at a time.
//
// Run with -benchtime Nx for N rounds.
func BenchmarkThroughput(b *testing.B) {
	c := startEmulator(b)
	cfg := iamConfig(c)
	ctx := context.Background()
	n := *throughputRecords
	value := func(i int) []byte {
		v := make([]byte, 100)
		binary.BigEndian.PutUint64(v, uint64(i))
		return v
	}
	// franz-go with the Publisher's options: kafkaconn's, the same
	// partitioner and as many records buffered (franz-go's default is
	// 50,000); warmed with one record (-1) as Warm warms.
	franz := func(b *testing.B, topic string) *kgo.Client {
		cfg := cfg
		cfg.Topic = topic
		cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.RecordPartitioner(newPartitioner()),
			kgo.MaxBufferedRecords(*throughputInFlight)))
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value(-1)}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		return cl
	}
	publisher := func(b *testing.B, topic string) *Publisher {
		cfg := cfg
		cfg.Topic = topic
		p, err := New(ctx, cfg, WithMaxInFlightRecords(*throughputInFlight))
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Warm(ctx); err != nil {
			b.Fatal(err)
		}
		return p
	}
	// side publishes n records to a fresh topic, timing only the
	// publishing, and checks the topic.
	type side struct {
		name string
		run  func(b *testing.B, topic string) time.Duration
	}
	streamSide := side{"stream", func(b *testing.B, topic string) time.Duration {
		p := publisher(b, topic)
		defer p.Close()
		var bad atomic.Int64
		start := time.Now()
		s := p.Stream(ctx, func(_ int, o Outcome) {
			if o.Status != Acked {
				bad.Add(1)
			}
		})
		for i := range n {
			s.Send(&kgo.Record{Value: value(i)})
		}
		s.Close()
		el := time.Since(start)
		if bad.Load() > 0 {
			b.Fatalf("%d records not acked", bad.Load())
		}
		return el
	}}
	asyncSide := side{"franz-go-async", func(b *testing.B, topic string) time.Duration {
		cl := franz(b, topic)
		defer cl.Close()
		var bad atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		wg.Add(n)
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Value: value(i)}, func(_ *kgo.Record, err error) {
				if err != nil {
					bad.Add(1)
				}
				wg.Done()
			})
		}
		wg.Wait()
		el := time.Since(start)
		if bad.Load() > 0 {
			b.Fatalf("%d records not acked", bad.Load())
		}
		return el
	}}
	// batches publishes n records 1,000 at a time.
	batches := func(publish func([]*kgo.Record)) time.Duration {
		start := time.Now()
		for i := 0; i < n; i += 1000 {
			recs := make([]*kgo.Record, min(1000, n-i))
			for j := range recs {
				recs[j] = &kgo.Record{Value: value(i + j)}
			}
			publish(recs)
		}
		return time.Since(start)
	}
	publishSide := side{"publish", func(b *testing.B, topic string) time.Duration {
		p := publisher(b, topic)
		defer p.Close()
		return batches(func(recs []*kgo.Record) {
			for _, o := range p.Publish(ctx, recs) {
				if o.Status != Acked {
					b.Fatal(o)
				}
			}
		})
	}}
	syncSide := side{"franz-go-sync", func(b *testing.B, topic string) time.Duration {
		cl := franz(b, topic)
		defer cl.Close()
		return batches(func(recs []*kgo.Record) {
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
		})
	}}

	// Warm the emulator (and the heap) up first: the first round would
	// otherwise pay for it.
	asyncSide.run(b, createTopic(b, c, "warm-up"))

	for _, pair := range [][2]side{{streamSide, asyncSide}, {publishSide, syncSide}} {
		ours, theirs := pair[0], pair[1]
		b.Run(ours.name+"-vs-"+theirs.name, func(b *testing.B) {
			var oursRates, theirRates, ratios []float64
			round := 0
			for b.Loop() {
				rates := map[string]float64{}
				order := []side{ours, theirs}
				if round%2 == 1 {
					order[0], order[1] = theirs, ours
				}
				for _, sd := range order {
					topic := createTopic(b, c, sd.name)
					el := sd.run(b, topic)
					checkTopic(b, c, topic, n)
					rates[sd.name] = float64(n) / el.Seconds()
				}
				oursRates = append(oursRates, rates[ours.name])
				theirRates = append(theirRates, rates[theirs.name])
				ratios = append(ratios, rates[ours.name]/rates[theirs.name])
				round++
			}
			testutil.ReportRounds(b, ours.name, theirs.name, oursRates, theirRates, ratios)
			b.Logf("%s rec/s %.0f, %s rec/s %.0f, ratios %.2f", ours.name, oursRates, theirs.name, theirRates, ratios)
		})
	}
}

// createTopic creates a topic of 6 partitions named after name.
func createTopic(b *testing.B, c *emulator.Cluster, name string) string {
	b.Helper()
	return testutil.CreateTopic(b, c.BootstrapAddrs(emulator.Plaintext), name, 6)
}

// checkTopic reads topic back and fails b unless it holds records 0..n-1
// exactly once (and the warm-up record -1 at most once).
func checkTopic(b *testing.B, c *emulator.Cluster, topic string, n int) {
	b.Helper()
	got := testutil.ConsumeN(b, []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(emulator.Plaintext)...), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(100 * time.Millisecond)}, n, 2*time.Minute, 500*time.Millisecond)
	seen := make([]bool, n)
	warm := 0
	for _, r := range got {
		i := int64(binary.BigEndian.Uint64(r.Value))
		switch {
		case i == -1:
			warm++
		case i < 0 || i >= int64(n):
			b.Fatalf("record %d: not one of the %d produced", i, n)
		case seen[i]:
			b.Fatalf("record %d written twice", i)
		default:
			seen[i] = true
		}
	}
	if len(got)-warm != n || warm > 1 {
		b.Fatalf("read back %d records (%d warm-up), want %d", len(got)-warm, warm, n)
	}
}
