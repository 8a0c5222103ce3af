package esm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// sampleRecord is the record of AWS's sample events (testdata/), as a
// franz-go record.
func sampleRecord(t *testing.T) *kgo.Record {
	t.Helper()
	// The samples' key is not canonical base64 (its last character carries
	// bits that a canonical encoding zeroes): compare it decoded.
	key, err := base64.StdEncoding.DecodeString("abcDEFghiJKLmnoPQRstuVWXyz1234==")
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{
		Topic: "mytopic", Partition: 0, Offset: 15, Timestamp: time.UnixMilli(1545084650987),
		Key: key, Value: []byte("Hello, this is a test."),
		Headers: []kgo.RecordHeader{{Key: "headerKey", Value: []byte("headerValue")}},
	}
}

// TestEventMatchesAWSSamples builds the event of AWS's sample record and
// compares it with the sample AWS documents, field for field: the same
// fields at every level, the same JSON types, the same values (key and
// value compared decoded).
func TestEventMatchesAWSSamples(t *testing.T) {
	for _, tc := range []struct {
		file, source, arn string
	}{
		{"testdata/with-msk-event.json", SourceMSK, "arn:aws:kafka:sa-east-1:123456789012:cluster/vpc-2priv-2pub/751d2973-a626-431c-9d4e-d7975eb44dd7-2"},
		{"testdata/with-kafka-event.json", SourceSelfManaged, ""},
	} {
		t.Run(tc.source, func(t *testing.T) {
			sample, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			enc := newEventEncoder(tc.source, tc.arn, "b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092,b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092")
			got := enc.encode([]*record{newRecord(sampleRecord(t))})
			var want, have map[string]any
			if err := json.Unmarshal(sample, &want); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(got, &have); err != nil {
				t.Fatalf("the event is not JSON: %v\n%s", err, got)
			}
			for _, m := range []map[string]any{want, have} {
				r := m["records"].(map[string]any)["mytopic-0"].([]any)[0].(map[string]any)
				for _, f := range []string{"key", "value"} {
					b, err := base64.StdEncoding.DecodeString(r[f].(string))
					if err != nil {
						t.Fatalf("%s: %v", f, err)
					}
					r[f] = "decoded:" + string(b)
				}
			}
			if diff := jsonDiff("", want, have, true); diff != "" {
				t.Errorf("the event differs from AWS's sample %s:\n%s\nevent: %s", tc.file, diff, got)
			}
		})
	}
}

// jsonDiff lists the differences between two decoded JSON values: the
// fields at every level and their JSON types, and with values the values.
func jsonDiff(path string, want, have any, values bool) string {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return fmt.Sprintf("%s: want an object, have %T\n", path, have)
		}
		var out strings.Builder
		keys := map[string]bool{}
		for k := range w {
			keys[k] = true
		}
		for k := range h {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			wv, wok := w[k]
			hv, hok := h[k]
			switch {
			case !hok:
				fmt.Fprintf(&out, "%s.%s: missing\n", path, k)
			case !wok:
				fmt.Fprintf(&out, "%s.%s: not in the sample\n", path, k)
			default:
				out.WriteString(jsonDiff(path+"."+k, wv, hv, values))
			}
		}
		return out.String()
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return fmt.Sprintf("%s: want %v, have %v\n", path, want, have)
		}
		var out strings.Builder
		for i := range w {
			out.WriteString(jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], h[i], values))
		}
		return out.String()
	}
	if reflect.TypeOf(want) != reflect.TypeOf(have) || values && !reflect.DeepEqual(want, have) {
		return fmt.Sprintf("%s: want %v (%T), have %v (%T)\n", path, want, want, have, have)
	}
	return ""
}

// TestEventEncoding checks the edge cases of records: null and empty keys
// and values, bytes above 0x7f in headers (Java's signed bytes), no
// headers, a timestamp type, escaping in topic names.
func TestEventEncoding(t *testing.T) {
	r := &kgo.Record{Topic: `odd"topic`, Partition: 7, Offset: 1 << 40, Timestamp: time.UnixMilli(1),
		Key: []byte{}, Value: nil, Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0x76, 0xdc, 0, 0x7f, 0x80}}, {Key: "empty"}}}
	r.Attrs = kgo.RecordAttrs{}
	got := string(encodeRecord(r))
	want := `{"topic":"odd\"topic","partition":7,"offset":1099511627776,"timestamp":1,"timestampType":"CREATE_TIME","key":"","headers":[{"h":[118,-36,0,127,-128]},{"empty":[]}]}`
	if got != want {
		t.Errorf("record\n got %s\nwant %s", got, want)
	}
	enc := newEventEncoder(SourceSelfManaged, "", "b:9092")
	ev := enc.encode([]*record{newRecord(r)})
	if !json.Valid(ev) || !bytes.Contains(ev, []byte(`"odd\"topic-7":[`)) {
		t.Errorf("event %s", ev)
	}
	if empty := enc.encode(nil); string(empty) != `{"eventSource":"SelfManagedKafka","bootstrapServers":"b:9092","records":{}}` || len(empty) != enc.emptySize() {
		t.Errorf("empty event %s (size %d)", empty, enc.emptySize())
	}
}

// TestEventSize checks that the size tracked while a batch is built is the
// encoded event's size exactly, over random records and partitions.
func TestEventSize(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	enc := newEventEncoder(SourceMSK, "arn:aws:kafka:us-east-1:000000000000:cluster/local/x", "127.0.0.1:1,127.0.0.1:2")
	for round := range 200 {
		s := newSizer(enc)
		var recs []*record
		offsets := map[int32]int64{}
		for range rng.IntN(50) {
			p := int32(rng.IntN(4))
			kr := &kgo.Record{Topic: "t\u00e9", Partition: p, Offset: offsets[p], Timestamp: time.UnixMilli(rng.Int64N(1 << 41)),
				Value: make([]byte, rng.IntN(300))}
			offsets[p]++
			if rng.IntN(2) == 0 {
				kr.Key = []byte(fmt.Sprint(rng.Int()))
			}
			rec := newRecord(kr)
			s.add(rec)
			recs = append(recs, rec)
		}
		// The encoder groups by partition; the sizer counts in any order.
		ev := enc.encode(recs)
		if len(ev) != s.size {
			t.Fatalf("round %d: encoded %d bytes, sizer says %d", round, len(ev), s.size)
		}
		if !json.Valid(ev) {
			t.Fatalf("round %d: invalid JSON %s", round, ev)
		}
	}
}

func TestOffsetRanges(t *testing.T) {
	rec := func(p int32, o int64) *record {
		return &record{r: &kgo.Record{Topic: "orders", Partition: p, Offset: o}, tp: tp{"orders", p}}
	}
	for _, tc := range []struct {
		recs []*record
		want string
	}{
		{nil, ""},
		{[]*record{rec(0, 7)}, "orders-0 offset 7"},
		{[]*record{rec(0, 5), rec(1, 3), rec(0, 6), rec(0, 7), rec(0, 9), rec(1, 4)}, "orders-0 offsets 5-7 9, orders-1 offsets 3-4"},
	} {
		if got := offsetRanges(tc.recs); got != tc.want {
			t.Errorf("offsetRanges = %q, want %q", got, tc.want)
		}
	}
}
