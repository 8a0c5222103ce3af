package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchFunction is a function served over Lambda's Invoke API on loopback
// (as aws-lambda-rie serves one) that counts records and, for each, the
// time from its produce timestamp to the function.
type benchFunction struct {
	srv       *httptest.Server
	records   atomic.Int64
	first     atomic.Int64 // unix nanoseconds of the first invocation
	mu        sync.Mutex
	latencies []time.Duration
}

func newBenchFunction(b *testing.B) *benchFunction {
	f := &benchFunction{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		f.first.CompareAndSwap(0, now.UnixNano())
		var ev struct {
			Records map[string][]struct {
				Timestamp int64 `json:"timestamp"`
			} `json:"records"`
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			b.Error(err)
		}
		var lat []time.Duration
		n := 0
		for _, rs := range ev.Records {
			for _, rec := range rs {
				lat = append(lat, now.Sub(time.UnixMilli(rec.Timestamp)))
				n++
			}
		}
		f.mu.Lock()
		f.latencies = append(f.latencies, lat...)
		f.mu.Unlock()
		f.records.Add(int64(n))
		io.WriteString(w, `{"batchItemFailures":[]}`)
	}))
	b.Cleanup(f.srv.Close)
	return f
}

// timeRun runs m (with the benchmark's timer) until done, and returns the
// time from f's first invocation (the group's join is not delivery) and
// m's stats.
func (f *benchFunction) timeRun(b *testing.B, m *ESM, done func() bool) (time.Duration, Stats) {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	b.ResetTimer()
	go func() { errc <- m.Run(ctx) }()
	for !done() {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(time.Unix(0, f.first.Load()))
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	return el, m.Stats()
}

func (f *benchFunction) percentile(p float64) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.latencies) == 0 {
		return 0
	}
	s := slices.Clone(f.latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

// BenchmarkESM measures delivery from the emulator (IAM over TLS, 3
// partitions) through the mapping to a function over the Invoke API:
//
//   - backlog: b.N records already in the topic, delivered as fast as the
//     mapping goes (records/s, from the first invocation to the last
//     record);
//   - steady: a producer writes 2,000 or 100 records/s (at most 20 s of
//     them) while the mapping runs; p50/p99 are from each record's produce
//     timestamp to the function (millisecond timestamps). At 100 records/s
//     a batch of 100 never fills: the batching window sets the latency.
//
// Run with: go test -run '^$' -bench ESM -benchtime 20000x ./esm/
func BenchmarkESM(b *testing.B) {
	c := startEmulator(b, map[string]int32{"bench": 3})
	cfg := iamConfig(c, "bench")
	for _, size := range []int{100, 1000, 10000} {
		b.Run(fmt.Sprintf("backlog/batch=%d", size), func(b *testing.B) {
			topic := fmt.Sprintf("backlog-%d-%d", size, benchTopics.Add(1))
			createTopic(b, cfg, topic)
			tcfg := cfg
			tcfg.Topic = topic
			recs := make([]*kgo.Record, b.N)
			for i := range recs {
				recs[i] = &kgo.Record{Value: fmt.Appendf(make([]byte, 0, 100), "%0100d", i)}
			}
			produce(b, tcfg, recs...)
			f := newBenchFunction(b)
			fn, _ := NewHTTPFunction(f.srv.URL, nil)
			m, err := New(tcfg, WithFunction(fn), WithStartingPosition(TrimHorizon), WithBatchSize(size))
			if err != nil {
				b.Fatal(err)
			}
			el, s := f.timeRun(b, m, func() bool { return f.records.Load() >= int64(b.N) })
			b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			b.ReportMetric(float64(s.Invocations), "invocations")
		})
	}
	for _, tc := range []struct {
		rate   int // records/s
		window time.Duration
	}{{2000, DefaultBatchingWindow}, {2000, 0}, {100, DefaultBatchingWindow}, {100, 0}} {
		window := tc.window
		b.Run(fmt.Sprintf("steady/rate=%d/window=%v", tc.rate, window), func(b *testing.B) {
			// At most 20 s of records: b.N at 100 records/s could be hours.
			n := min(b.N, 20*tc.rate)
			topic := fmt.Sprintf("steady-%d", benchTopics.Add(1))
			createTopic(b, cfg, topic)
			tcfg := cfg
			tcfg.Topic = topic
			f := newBenchFunction(b)
			fn, _ := NewHTTPFunction(f.srv.URL, nil)
			m, err := New(tcfg, WithFunction(fn), WithStartingPosition(TrimHorizon), WithBatchingWindow(window))
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			cl, err := kafkaconn.NewClient(ctx, tcfg)
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			// Warm up: the group has joined once a first record arrived.
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
				b.Fatal(err)
			}
			for f.records.Load() < 1 {
				time.Sleep(time.Millisecond)
			}
			f.records.Store(0)
			f.mu.Lock()
			f.latencies = nil
			f.mu.Unlock()
			// Bursts every 10 ms (every 100 ms below 100 records/s).
			every, burst := 10*time.Millisecond, tc.rate/100
			if burst == 0 {
				every, burst = 100*time.Millisecond, tc.rate/10
			}
			b.ResetTimer()
			tick := time.NewTicker(every)
			for sent := 0; sent < n; {
				<-tick.C
				for range min(burst, n-sent) {
					cl.Produce(ctx, &kgo.Record{Value: []byte("steady")}, nil)
					sent++
				}
			}
			tick.Stop()
			if err := cl.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			for f.records.Load() < int64(n) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(f.percentile(0.5).Milliseconds()), "p50-ms")
			b.ReportMetric(float64(f.percentile(0.99).Milliseconds()), "p99-ms")
			b.ReportMetric(float64(m.Stats().Invocations), "invocations")
		})
	}
}

var benchTopics atomic.Int64

// createTopic creates topic with 3 partitions.
func createTopic(b *testing.B, cfg kafkaconn.Config, topic string) {
	b.Helper()
	withClient(b, cfg, 30*time.Second, func(ctx context.Context, cl *kgo.Client) {
		resp, err := kadm.NewClient(cl).CreateTopics(ctx, 3, -1, nil, topic)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			b.Fatal(err)
		}
	})
}
