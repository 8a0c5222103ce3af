package esm

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/esm/eventfilter"
	"github.com/twmb/franz-go/pkg/kgo"
)

// filterCases are filter rules with record values that match them and
// values that do not, run through a mapping in TestFilters.
var filterCases = []struct {
	name, pattern string
	match, miss   []string
}{
	{"equals", `{"value": {"Name": ["Alice"]}}`, []string{`{"Name":"Alice"}`}, []string{`{"Name":"alice"}`, `{}`}},
	{"null", `{"value": {"UserID": [null]}}`, []string{`{"UserID":null}`}, []string{`{"UserID":"u1"}`, `{}`}},
	{"empty", `{"value": {"LastName": [""]}}`, []string{`{"LastName":""}`}, []string{`{"LastName":"Doe"}`}},
	{"equals-ignore-case", `{"value": {"Name": [{"equals-ignore-case": "alice"}]}}`, []string{`{"Name":"ALICE"}`, `{"Name":"alice"}`}, []string{`{"Name":"bob"}`}},
	{"and", `{"value": {"Location": ["New York"], "Day": ["Monday"]}}`, []string{`{"Location":"New York","Day":"Monday"}`}, []string{`{"Location":"New York","Day":"Friday"}`}},
	{"or", `{"value": {"PaymentType": ["Credit", "Debit"]}}`, []string{`{"PaymentType":"Credit"}`, `{"PaymentType":"Debit"}`}, []string{`{"PaymentType":"Cash"}`}},
	{"$or", `{"value": {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}}`, []string{`{"Location":"New York"}`, `{"Day":"Monday"}`}, []string{`{"Location":"Paris","Day":"Friday"}`}},
	{"anything-but", `{"value": {"Weather": [{"anything-but": ["Raining"]}]}}`, []string{`{"Weather":"Sunny"}`}, []string{`{"Weather":"Raining"}`, `{}`}},
	{"numeric equals", `{"value": {"Price": [{"numeric": ["=", 100]}]}}`, []string{`{"Price":100}`}, []string{`{"Price":99}`, `{"Price":"100"}`}},
	{"numeric range", `{"value": {"Price": [{"numeric": [">", 10, "<=", 20]}]}}`, []string{`{"Price":20}`, `{"Price":11}`}, []string{`{"Price":10}`, `{"Price":21}`}},
	{"exists", `{"value": {"ProductName": [{"exists": true}]}}`, []string{`{"ProductName":"x"}`}, []string{`{"Other":"x"}`}},
	{"does not exist", `{"value": {"ProductName": [{"exists": false}]}}`, []string{`{"Other":"x"}`}, []string{`{"ProductName":"x"}`}},
	{"prefix", `{"value": {"device_ID": [{"prefix": "AB"}]}}`, []string{`{"device_ID":"AB1234"}`}, []string{`{"device_ID":"XY1234"}`}},
	{"prefix ignore case", `{"value": {"device_ID": [{"prefix": {"equals-ignore-case": "ab"}}]}}`, []string{`{"device_ID":"Ab1"}`}, []string{`{"device_ID":"b1"}`}},
	{"suffix", `{"value": {"FileName": [{"suffix": ".png"}]}}`, []string{`{"FileName":"a.png"}`}, []string{`{"FileName":"a.jpg"}`}},
	{"suffix ignore case", `{"value": {"FileName": [{"suffix": {"equals-ignore-case": ".PNG"}}]}}`, []string{`{"FileName":"a.png"}`}, []string{`{"FileName":"a.png.txt"}`}},
	{"array", `{"value": {"tags": ["red"]}}`, []string{`{"tags":["blue","red"]}`}, []string{`{"tags":["blue"]}`}},
	{"nested", `{"value": {"session": {"duration": [{"numeric": [">", 100]}]}}}`, []string{`{"session":{"duration":162}}`}, []string{`{"session":{"duration":50}}`}},
	{"plain string", `{"value": [{"anything-but": ["error"]}]}`, []string{"all good", "Error"}, []string{"error"}},
	{"plain prefix", `{"value": [{"prefix": "Result: "}]}`, []string{"Result: 42"}, []string{"result: 42"}},
	// A format mismatch leaves "metadata filters only": delivered.
	{"JSON pattern, plain value", `{"value": {"a": ["x"]}}`, []string{`{"a":"x"}`, "not JSON", "\xff\xfe"}, []string{`{"a":"y"}`}},
}

// TestFilters runs each filter rule through a mapping: the matching
// records are delivered once, the others never, and the group commits
// past all of them, the filtered ones last in the partition included.
func TestFilters(t *testing.T) {
	t.Parallel()
	topics := map[string]int32{}
	for i := range filterCases {
		topics[fmt.Sprintf("f%d", i)] = 1
	}
	c := startEmulator(t, topics)
	for i, tc := range filterCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := iamConfig(c, fmt.Sprintf("f%d", i))
			fc, err := eventfilter.Compile(tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			// Interleave: miss, match, miss, match, ..., the rest; the
			// last record is filtered out.
			var vals []string
			for j := range max(len(tc.match), len(tc.miss)) {
				if j < len(tc.match) {
					vals = append(vals, tc.match[j])
				}
				if j < len(tc.miss) {
					vals = append(vals, tc.miss[j])
				}
			}
			var recs []*kgo.Record
			var wantFiltered []int64
			for j, v := range vals {
				recs = append(recs, &kgo.Record{Value: []byte(v)})
				if slices.Contains(tc.miss, v) {
					wantFiltered = append(wantFiltered, int64(j))
				}
			}
			produceTo(t, cfg, recs...)
			var mu sync.Mutex
			var filtered []int64
			f := newFnServer(t, nil)
			r := startESM(t, cfg, WithFunction(f.function(t)), WithFilters(fc), WithBatchingWindow(50*time.Millisecond),
				WithOnFilter(func(x Filtered) {
					mu.Lock()
					filtered = append(filtered, x.Offset)
					mu.Unlock()
				}))
			waitFor(t, 60*time.Second, "every offset committed", func() bool {
				return committed(t, cfg, r.m.GroupID())[0] == int64(len(vals))
			})
			got := f.deliveries()
			want := map[string]int{}
			for _, v := range tc.match {
				want[v] = 1
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("delivered %v; want %v", got, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if !reflect.DeepEqual(filtered, wantFiltered) {
				t.Errorf("filtered offsets %v; want %v", filtered, wantFiltered)
			}
			if s := r.m.Stats(); s.Filtered != int64(len(tc.miss)) || s.Delivered != int64(len(tc.match)) {
				t.Errorf("stats %+v; want %d filtered, %d delivered", s, len(tc.miss), len(tc.match))
			}
		})
	}
}

// TestFilteredNotRedelivered: records filtered out are committed even
// when no record is delivered after them (a partition of filtered records
// only), and a mapping started again with the same group id delivers
// none of them, only what came since.
func TestFilteredNotRedelivered(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 2})
	cfg := iamConfig(c, "orders")
	fc, err := eventfilter.Compile(`{"value": {"type": ["order"]}}`)
	if err != nil {
		t.Fatal(err)
	}
	produceTo(t, cfg, values(0, `{"type":"order","n":1}`, `{"type":"ping"}`, `{"type":"order","n":2}`, `{"type":"ping","n":3}`)...)
	produceTo(t, cfg, values(1, `{"type":"ping","n":4}`, `{"type":"ping","n":5}`)...)
	f := newFnServer(t, nil)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithFilters(fc), WithBatchingWindow(0))
	waitFor(t, 60*time.Second, "both partitions committed to the end", func() bool {
		return reflect.DeepEqual(committed(t, cfg, r.m.GroupID()), map[int32]int64{0: 4, 1: 2})
	})
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if s := r.m.Stats(); s.Filtered != 4 || s.Delivered != 2 || s.Batches < 1 {
		t.Errorf("stats %+v", s)
	}

	produceTo(t, cfg, values(1, `{"type":"ping","n":6}`, `{"type":"order","n":7}`)...)
	r2 := startESM(t, cfg, WithFunction(f.function(t)), WithFilters(fc), WithGroupID(r.m.GroupID()), WithBatchingWindow(0))
	waitFor(t, 60*time.Second, "the new records committed", func() bool { return committed(t, cfg, r2.m.GroupID())[1] == 4 })
	want := map[string]int{`{"type":"order","n":1}`: 1, `{"type":"order","n":2}`: 1, `{"type":"order","n":7}`: 1}
	if got := f.deliveries(); !reflect.DeepEqual(got, want) {
		t.Errorf("delivered %v; want %v", got, want)
	}
	if s := r2.m.Stats(); s.Filtered != 1 || s.Delivered != 1 {
		t.Errorf("second run's stats %+v; want 1 filtered, 1 delivered", s)
	}
}

// TestFilterBeforeBatching: filtered records take no place in a batch;
// while a record keeps failing, the filtered records before it are
// committed and those after it are not (its partition's commit stops at
// it); a record given up goes to the on-failure topic, a filtered one
// never.
func TestFilterBeforeBatching(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	fc, err := eventfilter.Compile(`{"value": [{"prefix": "keep"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	// Offsets:          0         1         2         3         4         5            6         7
	produceTo(t, cfg, values(0, "keep-1", "drop-1", "drop-2", "keep-2", "drop-3", "keep-fail", "drop-4", "keep-last")...)
	var failing atomic.Bool
	failing.Store(true)
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if ev.has("keep-fail") && failing.Load() {
			return fail("keep-fail fails")
		}
		return reply{body: "null"}
	})
	var gave []GiveUp
	var mu sync.Mutex
	r := startESM(t, cfg, WithFunction(f.function(t)), WithFilters(fc), WithBatchSize(2), WithBatchingWindow(time.Second),
		WithOnFailureTopic("dlt"), WithMaximumRetryAttempts(1000),
		WithOnGiveUp(func(g GiveUp) { mu.Lock(); gave = append(gave, g); mu.Unlock() }))
	waitFor(t, 60*time.Second, "keep-fail retried", func() bool { return f.deliveries()["keep-fail"] >= 3 })
	if got := committed(t, cfg, r.m.GroupID())[0]; got != 5 {
		t.Errorf("committed %d while keep-fail (offset 5) fails; want 5: drop-3 before it committed, drop-4 after it not", got)
	}
	evs := f.got()
	if !reflect.DeepEqual(evs[0].values(), []string{"keep-1", "keep-2"}) {
		t.Errorf("first event %v; want the batch size filled by matching records only", evs[0].values())
	}
	failing.Store(false)
	waitFor(t, 60*time.Second, "every offset committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 8 })
	// keep-last shares keep-fail's event (batch size 2): retried with it.
	for v, n := range f.deliveries() {
		if strings.HasPrefix(v, "drop") || ((v == "keep-1" || v == "keep-2") && n != 1) {
			t.Errorf("%s delivered %d times", v, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gave) != 0 {
		t.Errorf("given up %+v; want none", gave)
	}
	if s := r.m.Stats(); s.Filtered != 4 || s.Delivered != 4 {
		t.Errorf("stats %+v; want 4 filtered, 4 delivered", s)
	}
}
