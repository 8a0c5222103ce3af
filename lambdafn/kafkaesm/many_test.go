package kafkaesm

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHandlerManyRecords: 10,000 records over 10 partitions, processed 4
// partitions at a time, with a function that fails about one record in
// 500: each partition is handed exactly its records before its first
// failure, in order, plus the failed one; the response names exactly each
// failed partition's first failure; the metrics add up.
func TestHandlerManyRecords(t *testing.T) {
	const parts, per = 10, 1000
	var keys []string
	for p := range parts {
		keys = append(keys, fmt.Sprintf("big-%d", p))
	}
	payload := event(t, time.Now(), per, keys...)
	rng := rand.New(rand.NewPCG(1, 2))
	fail := map[ItemIdentifier]bool{}
	for range per * parts / 500 {
		fail[ItemIdentifier{Partition: keys[rng.IntN(parts)], Offset: int64(100 + rng.IntN(per))}] = true
	}
	var mu sync.Mutex
	handed := map[string][]int64{}
	th := newHarness()
	h, err := New(func(ctx context.Context, r Record) error {
		mu.Lock()
		handed[r.ID().Partition] = append(handed[r.ID().Partition], r.Offset)
		mu.Unlock()
		if fail[r.ID()] {
			return errors.New("random failure")
		}
		return nil
	}, th.opts(WithReportBatchItemFailures(true), WithPartitionConcurrency(4))...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, payload, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, id := range decodeResponse(t, out) {
		got[id.Partition] = id.Offset
	}
	processed, failed := 0, 0
	for _, k := range keys {
		first := int64(-1)
		for off := int64(100); off < 100+per; off++ {
			if fail[ItemIdentifier{Partition: k, Offset: off}] {
				first = off
				break
			}
		}
		want := int64(100 + per)
		if first >= 0 {
			want = first + 1
			failed++
			if got[k] != first {
				t.Errorf("%s: reported offset %d, want %d", k, got[k], first)
			}
		} else if _, ok := got[k]; ok {
			t.Errorf("%s reported, but nothing failed in it", k)
		}
		h := handed[k]
		if int64(len(h)) != want-100 {
			t.Errorf("%s: handed %d records, want %d", k, len(h), want-100)
		}
		for i, off := range h {
			if off != int64(100+i) {
				t.Fatalf("%s: record %d is offset %d: out of order or repeated", k, i, off)
			}
		}
		processed += len(h)
	}
	processed -= failed
	if want := fmt.Sprintf(`"RecordsProcessed":%d`, processed); !strings.Contains(th.metrics.String(), want) {
		t.Errorf("metrics lack %s: %s", want, th.metrics.String())
	}
	if want := fmt.Sprintf(`"RecordsDeferred":%d`, parts*per-processed-failed); !strings.Contains(th.metrics.String(), want) {
		t.Errorf("metrics lack %s: %s", want, th.metrics.String())
	}
	t.Logf("%d partitions failed; %d processed", failed, processed)
}

// BenchmarkInvoke measures the handler's own cost on a batch as large as
// an event source mapping sends (10,000 records of 100 bytes over 10
// partitions, 1.4 MB of JSON): decoding, dispatch, the answer, logs and
// metrics, with a function that does nothing.
func BenchmarkInvoke(b *testing.B) {
	var keys []string
	for p := range 10 {
		keys = append(keys, fmt.Sprintf("bench-%d", p))
	}
	payload := eventSized(b, 1000, 100, keys...)
	h, err := New(func(context.Context, Record) error { return nil }, newHarness().opts(WithMetricsWriter(nil))...)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Invoke(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/record")
}
