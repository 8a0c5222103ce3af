package esm

import (
	"fmt"
	"testing"

	"github.com/msklink/msklink/esm/eventfilter"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkESMFilter measures a backlog of b.N JSON records (about 100
// bytes, half of them matching) through the mapping at batch size 10,000,
// without filters and with one, to the function over the Invoke API:
// records/s over every record settled (delivered or filtered out), from
// the first invocation.
//
// Run with: go test -run '^$' -bench ESMFilter -benchtime 100000x ./esm/
func BenchmarkESMFilter(b *testing.B) {
	c := startEmulator(b, map[string]int32{"bench": 3})
	cfg := iamConfig(c, "bench")
	for _, tc := range []struct{ name, pattern string }{
		{"none", ""},
		{"half-filtered", `{"value": {"type": ["order"], "total": [{"numeric": [">=", 0]}]}}`},
	} {
		b.Run(fmt.Sprintf("batch=10000/filter=%s", tc.name), func(b *testing.B) {
			topic := fmt.Sprintf("filter-%d", benchTopics.Add(1))
			createTopic(b, cfg, topic)
			tcfg := cfg
			tcfg.Topic = topic
			recs := make([]*kgo.Record, b.N)
			for i := range recs {
				kind := "order"
				if i%2 == 1 {
					kind = "ping"
				}
				recs[i] = &kgo.Record{Value: fmt.Appendf(nil, `{"type":%q,"id":%d,"device_ID":"AB%06d","total":%d.5,"note":"%040d"}`, kind, i, i, i%300, i)}
			}
			produce(b, tcfg, recs...)
			f := newBenchFunction(b)
			fn, _ := NewHTTPFunction(f.srv.URL, nil)
			opts := []Opt{WithFunction(fn), WithStartingPosition(TrimHorizon), WithBatchSize(10000)}
			want := int64(b.N)
			if tc.pattern != "" {
				fc, err := eventfilter.Compile(tc.pattern)
				if err != nil {
					b.Fatal(err)
				}
				opts = append(opts, WithFilters(fc))
				want = int64(b.N+1) / 2
			}
			m, err := New(tcfg, opts...)
			if err != nil {
				b.Fatal(err)
			}
			el, s := f.timeRun(b, m, func() bool {
				return f.records.Load() >= want && m.Stats().Delivered+m.Stats().Filtered >= int64(b.N)
			})
			b.ReportMetric(float64(b.N)/el.Seconds(), "records/s")
			b.ReportMetric(float64(s.Filtered), "filtered")
			b.ReportMetric(float64(s.Invocations), "invocations")
		})
	}
}
