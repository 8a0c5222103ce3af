package eventfilter

import (
	"fmt"
	"testing"
)

// BenchmarkMatch measures Match on a batch of 10,000 record values (the
// most an MSK mapping's batch holds), about 120 bytes each, half of them
// matching; ns/record is the filter's cost per record.
//
// Run with: go test -run '^$' -bench Match -benchmem ./esm/eventfilter/
func BenchmarkMatch(b *testing.B) {
	const batch = 10000
	jsonValues := make([][]byte, batch)
	plainValues := make([][]byte, batch)
	for i := range batch {
		kind := "order"
		if i%2 == 1 {
			kind = "ping"
		}
		jsonValues[i] = fmt.Appendf(nil, `{"type":%q,"id":%d,"device_ID":"AB%06d","total":%d.5,"ip":"10.0.%d.%d","tags":["a","b"]}`,
			kind, i, i, i%300, i%256/2, i%256)
		plainValues[i] = fmt.Appendf(nil, "%s %06d: a plain text record of about one hundred and twenty bytes, as a log line would be....", kind, i)
	}
	for _, tc := range []struct {
		name     string
		values   [][]byte
		patterns []string
	}{
		{"json/1-filter", jsonValues, []string{`{"value": {"type": ["order"]}}`}},
		{"json/1-filter-4-rules", jsonValues, []string{`{"value": {"type": ["order"], "device_ID": [{"prefix": "AB"}], "total": [{"numeric": [">=", 0, "<", 1000]}], "ip": [{"anything-but": ["192.168.0.1"]}]}}`}},
		{"json/5-filters", jsonValues, []string{
			`{"value": {"type": ["refund"]}}`, `{"value": {"type": ["cancel"]}}`, `{"value": {"tags": ["z"]}}`,
			`{"value": {"total": [{"numeric": ["<", 0]}]}}`, `{"value": {"type": ["order"]}}`}},
		{"plain/1-filter", plainValues, []string{`{"value": [{"prefix": "order "}]}`}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c, err := Compile(tc.patterns...)
			if err != nil {
				b.Fatal(err)
			}
			matched := 0
			b.ReportAllocs()
			for b.Loop() {
				matched = 0
				for _, v := range tc.values {
					if c.Match(v) {
						matched++
					}
				}
			}
			if matched != batch/2 {
				b.Fatalf("%d of %d matched; want half", matched, batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/batch, "ns/record")
		})
	}
}
