package esm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// withMaxPayload lowers the 6 MB limit, so a test can make a record too
// large for an event without producing megabytes.
func withMaxPayload(n int) Opt { return func(c *config) { c.maxPayload = n } }

func fail(msg string) reply {
	b, _ := json.Marshal(map[string]string{"errorMessage": msg, "errorType": "TestError"})
	return reply{body: string(b)}
}

func partial(ids ...ItemIdentifier) reply {
	var resp BatchResponse
	for _, id := range ids {
		resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: id})
	}
	b, _ := json.Marshal(resp)
	return reply{body: string(b)}
}

// onFailureMessages reads n messages of the on-failure topic.
func onFailureMessages(t *testing.T, cfg kafkaconn.Config, topic string, n int) ([]*kgo.Record, []failureRecord) {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	recs := testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics(topic)), n, 60*time.Second, 300*time.Millisecond)
	var out []failureRecord
	for _, r := range recs {
		var fr failureRecord
		if err := json.Unmarshal(r.Value, &fr); err != nil {
			t.Fatalf("on-failure message is not JSON: %v\n%s", err, r.Value)
		}
		out = append(out, fr)
	}
	if len(recs) != n {
		t.Fatalf("%d messages in the on-failure topic, want %d", len(recs), n)
	}
	return recs, out
}

// TestDelivery runs records through the mapping to a function that accepts
// everything: every record delivered once in events of the documented
// shape, at most the batch size each, each partition in offset order, and
// the group committed to the end.
func TestDelivery(t *testing.T) {
	t.Parallel()
	for _, msk := range []bool{true, false} {
		t.Run(fmt.Sprintf("msk=%v", msk), func(t *testing.T) {
			t.Parallel()
			c := startEmulator(t, map[string]int32{"orders": 3})
			cfg := iamConfig(c, "orders")
			var recs []*kgo.Record
			for i := range 250 {
				recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "v-%03d", i),
					Headers: []kgo.RecordHeader{{Key: "i", Value: fmt.Append(nil, i)}}})
			}
			produceTo(t, cfg, recs...)
			f := newFnServer(t, nil)
			opts := []Opt{WithFunction(f.function(t)), WithBatchSize(100), WithBatchingWindow(200 * time.Millisecond)}
			if msk {
				opts = append(opts, WithEventSourceARN(c.ClusterARN()))
			}
			r := startESM(t, cfg, opts...)
			waitFor(t, 60*time.Second, "250 records delivered", func() bool { return len(f.deliveries()) == 250 })
			waitFor(t, 30*time.Second, "offsets committed to the end", func() bool {
				got := committed(t, cfg, r.m.GroupID())
				return reflect.DeepEqual(got, map[int32]int64{0: 84, 1: 83, 2: 83})
			})
			next := map[string]int64{}
			for i, ev := range f.got() {
				if n := len(ev.list()); n == 0 || n > 100 {
					t.Errorf("event %d holds %d records", i, n)
				}
				wantSource, wantARN := SourceSelfManaged, (*string)(nil)
				if msk {
					arn := c.ClusterARN()
					wantSource, wantARN = SourceMSK, &arn
				}
				if ev.EventSource != wantSource || !reflect.DeepEqual(ev.EventSourceARN, wantARN) ||
					ev.BootstrapServers != strings.Join(cfg.Brokers, ",") {
					t.Errorf("event %d: eventSource %q, eventSourceArn %v, bootstrapServers %q", i, ev.EventSource, ev.EventSourceARN, ev.BootstrapServers)
				}
				for key, rs := range ev.Records {
					for _, rec := range rs {
						if key != fmt.Sprintf("%s-%d", rec.Topic, rec.Partition) {
							t.Errorf("record %s under %q", rec.id(), key)
						}
						if rec.Offset < next[key] {
							t.Errorf("%s delivered out of order (expected offset >= %d)", rec.id(), next[key])
						}
						next[key] = rec.Offset + 1
						if rec.TimestampType != "CREATE_TIME" || rec.Timestamp == 0 || rec.Key != nil || len(rec.Headers) != 1 {
							t.Errorf("record %s: %+v", rec.id(), rec)
						}
					}
				}
			}
			for v, n := range f.deliveries() {
				if n != 1 {
					t.Errorf("%s delivered %d times", v, n)
				}
			}
			s := r.m.Stats()
			if s.Delivered != 250 || s.GivenUp != 0 || s.FailedInvocations != 0 {
				t.Errorf("stats %+v", s)
			}
			waitFor(t, 10*time.Second, "no lag", func() bool { return r.m.Stats().Lag == 0 })
		})
	}
}

// TestBatchingWindowAndSize: records arriving within the window share an
// event; the batch size cuts a batch at once; after that, the window
// governs the rest.
func TestBatchingWindowAndSize(t *testing.T) {
	t.Parallel()
	t.Run("window", func(t *testing.T) {
		t.Parallel()
		c := startEmulator(t, map[string]int32{"orders": 1})
		cfg := iamConfig(c, "orders")
		f := newFnServer(t, nil)
		startESM(t, cfg, WithFunction(f.function(t)), WithBatchingWindow(5*time.Second))
		// One client for both writes: a new connection (TLS, IAM) for the
		// second could take much of the window on a loaded machine.
		withClient(t, cfg, time.Minute, func(ctx context.Context, cl *kgo.Client) {
			for i, vs := range [][]string{{"a", "b", "c"}, {"d", "e", "f"}} {
				if i > 0 {
					time.Sleep(300 * time.Millisecond)
				}
				if err := cl.ProduceSync(ctx, values(0, vs...)...).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}, kgo.RecordPartitioner(kgo.ManualPartitioner()))
		waitFor(t, 60*time.Second, "6 records delivered", func() bool { return len(f.deliveries()) == 6 })
		if evs := f.got(); len(evs) != 1 {
			t.Errorf("%d events, want the 6 records in one: %v", len(evs), evs)
		}
	})
	t.Run("size", func(t *testing.T) {
		t.Parallel()
		c := startEmulator(t, map[string]int32{"orders": 1})
		cfg := iamConfig(c, "orders")
		produceTo(t, cfg, values(0, "a", "b", "c", "d", "e", "f")...)
		f := newFnServer(t, nil)
		const window = 8 * time.Second
		startESM(t, cfg, WithFunction(f.function(t)), WithBatchSize(4), WithBatchingWindow(window))
		waitFor(t, 60*time.Second, "6 records delivered", func() bool { return len(f.deliveries()) == 6 })
		evs := f.got()
		if len(evs) != 2 || len(evs[0].list()) != 4 || len(evs[1].list()) != 2 {
			t.Fatalf("events %v, want 4 records then 2", evs)
		}
		// The first batch was cut by its size, the second waited for
		// the window.
		if gap := evs[1].at.Sub(evs[0].at); gap < window-time.Second {
			t.Errorf("the second event came %v after the first: it did not wait for the %v window", gap, window)
		}
	})
}

// TestPayloadLimit: the 6 MB limit is on the encoded event. Ten records of
// 700 kB are 933 kB each in base64: six fit in 6291456 bytes, where eight
// would by their raw size.
func TestPayloadLimit(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"big": 1})
	cfg := iamConfig(c, "big")
	var recs []*kgo.Record
	for i := range 10 {
		v := make([]byte, 700_000)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs = append(recs, &kgo.Record{Value: v})
	}
	produce(t, cfg, recs...)
	f := newFnServer(t, nil)
	startESM(t, cfg, WithFunction(f.function(t)), WithBatchingWindow(3*time.Second))
	waitFor(t, 120*time.Second, "10 records delivered", func() bool {
		n := 0
		for _, ev := range f.got() {
			n += len(ev.list())
		}
		return n == 10
	})
	evs := f.got()
	for i, ev := range evs {
		if len(ev.raw) > MaxPayloadBytes {
			t.Errorf("event %d is %d bytes, over Lambda's %d", i, len(ev.raw), MaxPayloadBytes)
		}
	}
	if len(evs) != 2 || len(evs[0].list()) != 6 || len(evs[1].list()) != 4 {
		var sizes []string
		for _, ev := range evs {
			sizes = append(sizes, fmt.Sprintf("%d records/%d bytes", len(ev.list()), len(ev.raw)))
		}
		t.Errorf("events %v, want 6 records then 4", sizes)
	}
}

// TestOversizedRecord: a record whose event alone passes the limit is
// given up (MaximumPayloadSizeExceeded), the others delivered.
func TestOversizedRecord(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	produce(t, cfg, &kgo.Record{Value: []byte("small-1")}, &kgo.Record{Key: []byte("k"), Value: make([]byte, 5000)}, &kgo.Record{Value: []byte("small-2")})
	f := newFnServer(t, nil)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithOnFailureTopic("dlt"), withMaxPayload(4000))
	dlt, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
	if fr := frs[0]; fr.RequestContext.Condition != ConditionPayloadSizeExceeded || fr.ResponseContext != nil ||
		fr.RequestContext.ApproximateInvokeCount != 0 || fr.KafkaBatchInfo.RecordInfo.Offset != "1" || string(dlt[0].Key) != "k" {
		t.Errorf("on-failure record %s", dlt[0].Value)
	}
	waitFor(t, 30*time.Second, "small records delivered and all committed", func() bool {
		d := f.deliveries()
		return d["small-1"] == 1 && d["small-2"] == 1 && committed(t, cfg, r.m.GroupID())[0] == 3
	})
}

// TestOnFailureRecordTooLarge: a record of 800 kB fits the brokers' default
// message.max.bytes (1048588), its on-failure message (the record's event
// in base64, and the metadata) does not. It is written without its payload,
// the metadata naming the record in the source topic, and the mapping goes
// on; it used to stop with an error at every start, stuck on that record.
func TestOnFailureRecordTooLarge(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	big := make([]byte, 800_000)
	for i := range big {
		big[i] = byte(i * 7)
	}
	produceTo(t, cfg, &kgo.Record{Key: []byte("big"), Value: big}, &kgo.Record{Value: []byte("small")})
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if ev.has(string(big)) {
			return fail("cannot process it")
		}
		return reply{body: "null"}
	})
	r := startESM(t, cfg, WithFunction(f.function(t)), WithMaximumRetryAttempts(0), WithOnFailureTopic("dlt"), WithBatchSize(1))
	dlt, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
	if fr := frs[0]; string(dlt[0].Key) != "big" || fr.RequestContext.Condition != ConditionRetriesExhausted ||
		fr.KafkaBatchInfo.RecordInfo.Offset != "0" || fr.KafkaBatchInfo.PayloadSize <= len(big) || string(fr.Payload) != "null" {
		t.Errorf("on-failure record %.300s", dlt[0].Value)
	}
	waitFor(t, 30*time.Second, "small delivered and all committed", func() bool {
		return f.deliveries()["small"] == 1 && committed(t, cfg, r.m.GroupID())[0] == 2
	})
}

// TestPartialBatchResponse: a reported record is its partition's
// checkpoint: it and the records after it are sent again, the other
// partitions are committed; the group's offset stays at the record until
// it succeeds.
func TestPartialBatchResponse(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 2})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, append(values(0, "a0", "a1", "a2", "a3", "a4", "a5"), values(1, "b0", "b1", "b2", "b3")...)...)
	release := make(chan struct{})
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		switch n {
		case 1:
			return partial(ItemIdentifier{"orders-0", 2})
		case 2:
			<-release // the test reads the committed offsets meanwhile
			return partial(ItemIdentifier{"orders-0", 2}, ItemIdentifier{"orders-0", 4})
		}
		return reply{body: `{"batchItemFailures":[]}`}
	})
	// The batch size, not the window, cuts the first batch at all ten
	// records, however long the partitions' fetches take.
	r := startESM(t, cfg, WithFunction(f.function(t)), WithReportBatchItemFailures(true), WithBatchSize(10), WithBatchingWindow(time.Minute))
	waitFor(t, 60*time.Second, "the retry", func() bool { return len(f.got()) == 2 })
	if got := committed(t, cfg, r.m.GroupID()); !reflect.DeepEqual(got, map[int32]int64{0: 2, 1: 4}) {
		t.Errorf("committed %v while a2 is retried, want orders-0 at 2 and orders-1 at 4", got)
	}
	close(release)
	waitFor(t, 30*time.Second, "all committed", func() bool {
		return reflect.DeepEqual(committed(t, cfg, r.m.GroupID()), map[int32]int64{0: 6, 1: 4})
	})
	evs := f.got()
	want := [][]string{{"a0", "a1", "a2", "a3", "a4", "a5", "b0", "b1", "b2", "b3"}, {"a2", "a3", "a4", "a5"}, {"a2", "a3", "a4", "a5"}}
	var got [][]string
	for _, ev := range evs {
		got = append(got, ev.values())
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
	if s := r.m.Stats(); s.Delivered != 10 || s.FailedInvocations != 2 || s.GivenUp != 0 {
		t.Errorf("stats %+v", s)
	}
}

// TestPartialResponseGiveUpResends: a function that stops a partition at
// its first failure (kafkaesm does, as the checkpoint rule allows) reports
// only that record; when it is given up, the records after it were never
// processed, so they are sent again, not taken as done.
func TestPartialResponseGiveUpResends(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "r0", "r1", "poison", "r3", "r4")...)
	var (
		mu        sync.Mutex
		processed = map[string]int{}
	)
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		mu.Lock()
		defer mu.Unlock()
		for _, rec := range ev.list() {
			if rec.value() == "poison" {
				return partial(ItemIdentifier{fmt.Sprintf("%s-%d", rec.Topic, rec.Partition), rec.Offset})
			}
			processed[rec.value()]++
		}
		return reply{body: "null"}
	})
	r := startESM(t, cfg, WithFunction(f.function(t)), WithReportBatchItemFailures(true), WithMaximumRetryAttempts(1),
		WithOnFailureTopic("dlt"), WithBatchingWindow(time.Second))
	dlt, _ := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 5 })
	if len(dlt) != 1 || string(dlt[0].Key) != "poison" {
		t.Errorf("on-failure messages %v, want the poison record alone", dlt)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, v := range []string{"r0", "r1", "r3", "r4"} {
		if processed[v] == 0 {
			t.Errorf("%s was committed but never processed (processed: %v)", v, processed)
		}
	}
	var got [][]string
	for _, ev := range f.got() {
		got = append(got, ev.values())
	}
	want := [][]string{{"r0", "r1", "poison", "r3", "r4"}, {"poison", "r3", "r4"}, {"r3", "r4"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}
}

// TestPartialResponseRules: without ReportBatchItemFailures a response is
// not read; with it, an identifier not in the event fails the whole batch.
func TestPartialResponseRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		rbif   bool
		events int
	}{
		{"ignored without ReportBatchItemFailures", false, 1},
		{"invalid identifier retries the whole batch", true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startEmulator(t, map[string]int32{"orders": 1})
			cfg := iamConfig(c, "orders")
			produceTo(t, cfg, values(0, "x0", "x1", "x2")...)
			f := newFnServer(t, func(ev *testEvent, n int) reply {
				if n == 1 {
					return partial(ItemIdentifier{"orders-0", 999})
				}
				return reply{body: "null"}
			})
			r := startESM(t, cfg, WithFunction(f.function(t)), WithReportBatchItemFailures(tc.rbif), WithBatchingWindow(time.Second))
			waitFor(t, 60*time.Second, "all committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 3 })
			evs := f.got()
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d", len(evs), tc.events)
			}
			for _, ev := range evs {
				if len(ev.list()) != 3 {
					t.Errorf("event %v, want all 3 records", ev.values())
				}
			}
		})
	}
}

// TestRetriesThenOnFailure: a function error retries the whole batch; after
// the maximum retries every record of it is given up to the on-failure
// topic, in the documented format, and committed.
func TestRetriesThenOnFailure(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "orders-dlt": 1})
	cfg := iamConfig(c, "orders")
	produce(t, cfg, &kgo.Record{Key: []byte("k0"), Value: []byte("ok-0")}, &kgo.Record{Key: []byte("k1"), Value: []byte("poison"),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xff}}}}, &kgo.Record{Value: []byte("ok-2")})
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if ev.has("poison") {
			return fail("cannot process poison")
		}
		return reply{body: "null"}
	})
	var (
		mu     sync.Mutex
		gaveUp []GiveUp
	)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithMaximumRetryAttempts(2), WithOnFailureTopic("orders-dlt"),
		WithEventSourceARN(c.ClusterARN()), WithFunctionARN("arn:aws:lambda:us-east-1:000000000000:function:orders"),
		WithBatchingWindow(time.Second), WithOnGiveUp(func(g GiveUp) {
			mu.Lock()
			gaveUp = append(gaveUp, g)
			mu.Unlock()
		}))
	dlt, frs := onFailureMessages(t, iamConfig(c, "orders-dlt"), "orders-dlt", 3)
	waitFor(t, 30*time.Second, "committed past the given-up records", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 3 })
	if evs := f.got(); len(evs) != 3 {
		t.Errorf("%d invocations, want 3 (the first and 2 retries)", len(evs))
	}
	for i, fr := range frs {
		if fr.RequestContext.Condition != ConditionRetriesExhausted || fr.RequestContext.ApproximateInvokeCount != 3 ||
			fr.RequestContext.FunctionARN != "arn:aws:lambda:us-east-1:000000000000:function:orders" ||
			fr.ResponseContext == nil || fr.ResponseContext.FunctionError != "Unhandled" || fr.ResponseContext.StatusCode != 200 ||
			fr.KafkaBatchInfo.BatchSize != 1 || fr.KafkaBatchInfo.EventSourceARN != c.ClusterARN() ||
			fr.KafkaBatchInfo.RecordInfo.Offset != fmt.Sprint(i) ||
			fr.KafkaBatchInfo.PayloadSize != len(fr.Payload) {
			t.Errorf("on-failure record %d: %s", i, dlt[i].Value)
		}
		var payload testEvent
		if err := json.Unmarshal(fr.Payload, &payload); err != nil || len(payload.list()) != 1 || payload.list()[0].Offset != int64(i) {
			t.Errorf("payload %d: %s (%v)", i, fr.Payload, err)
		}
	}
	if string(dlt[0].Key) != "k0" || string(dlt[1].Key) != "k1" || dlt[2].Key != nil {
		t.Errorf("on-failure keys %q %q %q, want the records' keys", dlt[0].Key, dlt[1].Key, dlt[2].Key)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gaveUp) != 3 || gaveUp[1].Offset != 1 || gaveUp[1].Destination != "orders-dlt" || !strings.Contains(gaveUp[1].Error, "cannot process poison") {
		t.Errorf("OnGiveUp calls %+v", gaveUp)
	}

	// The message has the fields of AWS's sample, at every level.
	sample, err := os.ReadFile("testdata/kafka-on-failure-destination-record.json")
	if err != nil {
		t.Fatal(err)
	}
	var want, have map[string]any
	json.Unmarshal(sample, &want)
	json.Unmarshal(dlt[1].Value, &have)
	// The payload's records are keyed by topic-partition, and the sample's
	// record has no header where ours has one: compare them under the
	// sample's key, headers aside.
	for _, m := range []map[string]any{want, have} {
		recs := m["payload"].(map[string]any)["records"].(map[string]any)
		for k, v := range recs {
			delete(recs, k)
			v.([]any)[0].(map[string]any)["headers"] = nil
			recs["topic-partition"] = v
		}
	}
	if diff := jsonDiff("", want, have, false); diff != "" {
		t.Errorf("the on-failure record differs from AWS's sample in shape:\n%s\n%s", diff, dlt[1].Value)
	}
}

// TestBisect: with bisect on error, a failing batch is halved until the
// poison record is alone; it alone is retried and given up, the others are
// accepted.
func TestBisect(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "r0", "r1", "r2", "r3", "r4", "poison", "r6", "r7")...)
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if ev.has("poison") {
			return reply{status: 502, body: `{"errorMessage":"exit status 2","errorType":"Runtime.ExitError"}`}
		}
		return reply{body: "null"}
	})
	r := startESM(t, cfg, WithFunction(f.function(t)), WithBisectBatchOnFunctionError(true), WithMaximumRetryAttempts(1),
		WithOnFailureTopic("dlt"), WithBatchSize(8), WithBatchingWindow(time.Second))
	dlt, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
	waitFor(t, 30*time.Second, "all committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 8 })
	if string(dlt[0].Key) != "poison" || frs[0].RequestContext.ApproximateInvokeCount != 5 || frs[0].ResponseContext.StatusCode != 502 {
		t.Errorf("on-failure record %s: want the poison record after 5 invocations (8, 4, 2, 1, its retry)", dlt[0].Value)
	}
	var got [][]string
	for _, ev := range f.got() {
		got = append(got, ev.values())
	}
	want := [][]string{
		{"r0", "r1", "r2", "r3", "r4", "poison", "r6", "r7"},
		{"r0", "r1", "r2", "r3"}, {"r4", "poison", "r6", "r7"},
		{"r4", "poison"}, {"r4"}, {"poison"}, {"poison"},
		{"r6", "r7"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n %v\nwant\n %v", got, want)
	}
}

// TestMaximumRecordAge: records older than the maximum age are given up
// (RecordAgeExceeded) without reaching the function, on the first try and
// on a retry.
func TestMaximumRecordAge(t *testing.T) {
	t.Parallel()
	t.Run("before the first invocation", func(t *testing.T) {
		t.Parallel()
		c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
		cfg := iamConfig(c, "orders")
		old := time.Now().Add(-2 * time.Minute)
		produce(t, cfg, &kgo.Record{Value: []byte("old-1"), Timestamp: old}, &kgo.Record{Value: []byte("old-2"), Timestamp: old},
			&kgo.Record{Value: []byte("new-1")})
		f := newFnServer(t, nil)
		r := startESM(t, cfg, WithFunction(f.function(t)), WithMaximumRecordAge(time.Minute), WithOnFailureTopic("dlt"))
		_, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 2)
		for _, fr := range frs {
			if fr.RequestContext.Condition != ConditionRecordAgeExceeded || fr.ResponseContext != nil || fr.RequestContext.ApproximateInvokeCount != 0 {
				t.Errorf("on-failure record %+v", fr)
			}
		}
		waitFor(t, 30*time.Second, "new-1 delivered and all committed", func() bool {
			return f.deliveries()["new-1"] == 1 && committed(t, cfg, r.m.GroupID())[0] == 3
		})
		if d := f.deliveries(); d["old-1"]+d["old-2"] != 0 {
			t.Errorf("old records reached the function: %v", d)
		}
	})
	t.Run("while retrying", func(t *testing.T) {
		t.Parallel()
		c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
		cfg := iamConfig(c, "orders")
		produceTo(t, cfg, values(0, "x")...)
		var skew atomic.Bool // set once the first failure is seen
		f := newFnServer(t, func(ev *testEvent, n int) reply {
			skew.Store(true)
			return fail("always")
		})
		clock := func() time.Time {
			if skew.Load() {
				return time.Now().Add(2 * time.Minute)
			}
			return time.Now()
		}
		startESM(t, cfg, WithFunction(f.function(t)), WithMaximumRecordAge(time.Minute), WithOnFailureTopic("dlt"), WithClock(clock))
		_, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
		if fr := frs[0]; fr.RequestContext.Condition != ConditionRecordAgeExceeded || fr.ResponseContext == nil ||
			fr.ResponseContext.FunctionError != "Unhandled" || fr.RequestContext.ApproximateInvokeCount != 1 {
			t.Errorf("on-failure record %+v", fr)
		}
	})
}

// TestInfiniteRetriesWithOnFailure: infinite retries and an on-failure
// topic mean 10 retries, as Lambda applies.
func TestInfiniteRetriesWithOnFailure(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1, "dlt": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "poison")...)
	f := newFnServer(t, func(*testEvent, int) reply { return fail("no") })
	startESM(t, cfg, WithFunction(f.function(t)), WithOnFailureTopic("dlt"))
	_, frs := onFailureMessages(t, iamConfig(c, "dlt"), "dlt", 1)
	if n := frs[0].RequestContext.ApproximateInvokeCount; n != 1+RetriesWithOnFailure {
		t.Errorf("given up after %d invocations, want %d", n, 1+RetriesWithOnFailure)
	}
}

// TestNotDeliveredIsNoAttempt: while the function's URL refuses
// connections the event is sent again, without spending retries; once the
// function listens, it gets the records.
func TestNotDeliveredIsNoAttempt(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "a", "b")...)
	f := newFnServer(t, nil)
	// Point the mapping at a URL nothing listens on, then at f.
	target := &switchable{}
	var notDelivered atomic.Int32
	r := startESM(t, cfg, WithFunction(target), WithMaximumRetryAttempts(0), WithOnInvoke(func(inv Invocation) {
		if inv.Result == ResultNotDelivered {
			notDelivered.Add(1)
		}
	}))
	waitFor(t, 60*time.Second, "3 undelivered attempts", func() bool { return notDelivered.Load() >= 3 })
	target.set(f.function(t))
	waitFor(t, 60*time.Second, "records delivered", func() bool {
		d := f.deliveries()
		return d["a"] == 1 && d["b"] == 1 && committed(t, cfg, r.m.GroupID())[0] == 2
	})
	if s := r.m.Stats(); s.GivenUp != 0 {
		t.Errorf("records given up while the function was unreachable: %+v", s)
	}
}

// switchable refuses delivery until set.
type switchable struct{ fn atomic.Pointer[Function] }

func (s *switchable) set(f Function) { s.fn.Store(&f) }

func (s *switchable) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f := s.fn.Load()
	if f == nil {
		return nil, &DeliveryError{Err: errors.New("dial tcp 127.0.0.1:9: connect: connection refused")}
	}
	return (*f).Invoke(ctx, payload)
}

// TestFunctionTimeout: no answer within the function timeout is a function
// error; the batch is retried.
func TestFunctionTimeout(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "slow")...)
	// The first invocation never answers; the timeout is long enough for
	// the second to answer on a loaded machine.
	hang := make(chan struct{})
	defer close(hang)
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if n == 1 {
			<-hang
		}
		return reply{body: "null"}
	})
	var results []string // appended by Run's goroutine, read after stop
	r := startESM(t, cfg, WithFunction(f.function(t)), WithFunctionTimeout(3*time.Second),
		WithOnInvoke(func(inv Invocation) { results = append(results, inv.Result+" "+inv.Error) }))
	waitFor(t, 60*time.Second, "committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 1 })
	r.stop(t)
	if len(results) != 2 || !strings.Contains(results[0], "Timeout") || results[1] != "ok " {
		t.Errorf("invocations %q, want a timeout then ok", results)
	}
}

// TestStopRedelivers: stopping the mapping during an invocation commits
// nothing of it; a mapping with the same group id delivers it again.
func TestStopRedelivers(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "a", "b", "c")...)
	block := make(chan struct{})
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if n == 1 {
			<-block
		}
		return reply{body: "null"}
	})
	defer close(block)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithBatchingWindow(time.Second))
	waitFor(t, 60*time.Second, "the first invocation", func() bool { return len(f.got()) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	// The first start commits the starting position (offset 0), nothing
	// past it.
	if got := committed(t, cfg, r.m.GroupID()); got[0] != 0 {
		t.Fatalf("committed %v for a batch the function did not answer", got)
	}
	r2 := startESM(t, cfg, WithFunction(f.function(t)), WithGroupID(r.m.GroupID()))
	waitFor(t, 60*time.Second, "redelivery", func() bool { return committed(t, cfg, r2.m.GroupID())[0] == 3 })
	if evs := f.got(); len(evs) != 2 || !reflect.DeepEqual(evs[1].values(), []string{"a", "b", "c"}) {
		t.Errorf("events %v", evs)
	}
}

// TestStopRedeliversLatest: with LATEST (the default) a new group starts at
// the end of each partition as it is when the partitions are assigned. A
// mapping stopped during its first invocation, before any commit, must not
// lose that position: run again with the same group id it delivers the
// batch again instead of starting at the end as it is then, past it.
func TestStopRedeliversLatest(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	block := make(chan struct{})
	f := newFnServer(t, func(ev *testEvent, n int) reply {
		if n == 1 {
			<-block
		}
		return reply{body: "null"}
	})
	defer close(block)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithStartingPosition(Latest), WithBatchingWindow(0))
	// Records written before the group took its LATEST position are not
	// the mapping's to deliver: write one at a time until one arrives.
	withClient(t, cfg, 90*time.Second, func(ctx context.Context, cl *kgo.Client) {
		for i := 0; len(f.got()) == 0; i++ {
			if ctx.Err() != nil {
				t.Fatal("no record reached the function")
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			sleep(ctx, 100*time.Millisecond)
		}
	})
	first := f.got()[0].list()[0]
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, cfg, r.m.GroupID()); len(got) > 0 && got[0] > first.Offset {
		t.Fatalf("committed %v past %s, which the function did not answer", got, first.id())
	}
	r2 := startESM(t, cfg, WithFunction(f.function(t)), WithGroupID(r.m.GroupID()), WithStartingPosition(Latest))
	waitFor(t, 60*time.Second, first.value()+" delivered again", func() bool { return f.deliveries()[first.value()] == 2 })
	waitFor(t, 30*time.Second, "committed past it", func() bool { return committed(t, cfg, r2.m.GroupID())[0] > first.Offset })
}

// TestRebalanceWithCarriedRecords: a second mapping with the same group id
// joins while the first holds records polled but not yet sent (the payload
// limit lets one record in each event). The first must hand a partition
// over only with nothing of it in hand: it never invokes the function with
// a record of a partition the group took from it (its revocation, in its
// logs, comes after every such invocation), and nothing is delivered
// twice.
func TestRebalanceWithCarriedRecords(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 2})
	cfg := iamConfig(c, "orders")
	const perPartition = 20
	var recs []*kgo.Record
	for i := range perPartition {
		recs = append(recs, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "a%02d", i)}, &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, "b%02d", i)})
	}
	produceTo(t, cfg, recs...)
	var (
		first     atomic.Pointer[running]
		mu        sync.Mutex
		afterLoss []string
	)
	// revoked reports whether the first mapping's logs show partition p
	// revoked (franz-go logs the callback with the partitions).
	revoked := func(p int32) bool {
		r := first.Load()
		if r == nil {
			return false
		}
		for _, line := range strings.Split(r.logs.String(), "\n") {
			if strings.Contains(line, "entering OnPartitionsRevoked") && strings.Contains(line, fmt.Sprintf(`"orders":[%d]`, p)) ||
				strings.Contains(line, "entering OnPartitionsRevoked") && strings.Contains(line, `"orders":[0,1]`) {
				return true
			}
		}
		return false
	}
	f1 := newFnServer(t, func(ev *testEvent, n int) reply {
		time.Sleep(100 * time.Millisecond) // the second member joins while records are in hand
		for _, rec := range ev.list() {
			if revoked(rec.Partition) {
				mu.Lock()
				afterLoss = append(afterLoss, rec.id())
				mu.Unlock()
			}
		}
		return reply{body: "null"}
	})
	f2 := newFnServer(t, nil)
	// An event of one of these records is about 200 bytes.
	opts := []Opt{withMaxPayload(300), WithBatchingWindow(0)}
	r1 := startESM(t, cfg, append(opts, WithFunction(f1.function(t)))...)
	first.Store(r1)
	waitFor(t, 60*time.Second, "the first invocations", func() bool { return len(f1.got()) >= 3 })
	startESM(t, cfg, append(opts, WithFunction(f2.function(t)), WithGroupID(r1.m.GroupID()))...)
	deliveries := func() map[string]int {
		d := f1.deliveries()
		for v, n := range f2.deliveries() {
			d[v] += n
		}
		return d
	}
	// Once the group took a partition from the first mapping, more
	// records: the second mapping delivers those of its partition.
	waitFor(t, 120*time.Second, "a partition revoked from the first mapping", func() bool { return revoked(0) || revoked(1) })
	var more []*kgo.Record
	for i := perPartition; i < 2*perPartition; i++ {
		more = append(more, &kgo.Record{Partition: 0, Value: fmt.Appendf(nil, "a%02d", i)}, &kgo.Record{Partition: 1, Value: fmt.Appendf(nil, "b%02d", i)})
	}
	produceTo(t, cfg, more...)
	waitFor(t, 120*time.Second, "every record delivered and committed", func() bool {
		return len(deliveries()) == 4*perPartition &&
			reflect.DeepEqual(committed(t, cfg, r1.m.GroupID()), map[int32]int64{0: 2 * perPartition, 1: 2 * perPartition})
	})
	if len(f2.got()) == 0 {
		t.Fatal("the second mapping delivered nothing")
	}
	for v, n := range deliveries() {
		if n != 1 {
			t.Errorf("%s delivered %d times", v, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(afterLoss) > 0 {
		t.Errorf("the first mapping invoked the function with %v while or after the partition was revoked from it", afterLoss)
	}
	for _, ev := range append(f1.got(), f2.got()...) {
		if len(ev.list()) != 1 {
			t.Fatalf("an event of %d records: the payload limit did not cut the batches to one record", len(ev.list()))
		}
	}
}

// TestGroupSessionLost: when the group coordinator answers a heartbeat
// with UNKNOWN_MEMBER_ID (the member's session expired: heartbeats did not
// get through for the session timeout), franz-go joins the group again as a
// new member. The mapping goes on with it; it used to stop with "unable to
// join group session: UNKNOWN_MEMBER_ID".
func TestGroupSessionLost(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "a", "b")...)
	f := newFnServer(t, nil)
	r := startESM(t, cfg, WithFunction(f.function(t)))
	waitFor(t, 60*time.Second, "a and b committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 2 })
	var expired atomic.Bool
	c.Kfake().ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		expired.Store(true)
		return resp, nil, true // once: the control is dropped after it answers
	})
	waitFor(t, 60*time.Second, "a heartbeat answered UNKNOWN_MEMBER_ID", expired.Load)
	produceTo(t, cfg, values(0, "c", "d")...)
	waitFor(t, 60*time.Second, "c and d delivered and committed", func() bool {
		d := f.deliveries()
		return d["c"] > 0 && d["d"] > 0 && committed(t, cfg, r.m.GroupID())[0] == 4
	})
	select {
	case err := <-r.done:
		r.done <- err
		t.Fatalf("Run returned: %v", err)
	default:
	}
}

// TestOptions checks each option's range, with errors that name it.
func TestOptions(t *testing.T) {
	cfg := kafkaconn.Config{Brokers: []string{"127.0.0.1:9098"}, Topic: "orders", Region: "us-east-1"}
	fn := NewCommandFunction("true", nil)
	for _, tc := range []struct {
		opts []Opt
		want string
	}{
		{[]Opt{}, "give the function to invoke"},
		{[]Opt{WithFunction(fn), WithBatchSize(0)}, "batch size 0: Lambda's range for Kafka is 1-10000"},
		{[]Opt{WithFunction(fn), WithBatchSize(10001)}, "1-10000"},
		{[]Opt{WithFunction(fn), WithBatchingWindow(301 * time.Second)}, "batching window 5m1s: Lambda's range is 0-300s"},
		{[]Opt{WithFunction(fn), WithBatchingWindow(-time.Second)}, "0-300s"},
		{[]Opt{WithFunction(fn), WithStartingPosition("AT_TIMESTAMP")}, "TRIM_HORIZON or LATEST"},
		{[]Opt{WithFunction(fn), WithMaximumRetryAttempts(-2)}, "0-10000, or -1 for infinite"},
		{[]Opt{WithFunction(fn), WithMaximumRetryAttempts(10001)}, "0-10000"},
		{[]Opt{WithFunction(fn), WithMaximumRecordAge(59 * time.Second)}, "60s-604800s"},
		{[]Opt{WithFunction(fn), WithMaximumRecordAge(604801 * time.Second)}, "60s-604800s"},
		{[]Opt{WithFunction(fn), WithOnFailureTopic("orders")}, "must differ from the source topic"},
		{[]Opt{WithFunction(fn), WithGroupID("bad group")}, "group id bad group"},
		{[]Opt{WithFunction(fn), WithEventSourceARN("arn:aws:kafka:us-east-1:1:topic/x")}, "cluster/NAME/UUID"},
	} {
		_, err := New(cfg, tc.opts...)
		var oe *OptionError
		if !errors.As(err, &oe) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want an OptionError with %q", err, tc.want)
		}
	}
	if _, err := New(kafkaconn.Config{Brokers: cfg.Brokers, Region: "us-east-1"}, WithFunction(fn)); err == nil || !strings.Contains(err.Error(), "topic") {
		t.Errorf("no topic: %v", err)
	}
	m, err := New(cfg, WithFunction(fn), WithMaximumRecordAge(-1), WithBatchingWindow(0), WithMaximumRetryAttempts(-1))
	if err != nil {
		t.Fatal(err)
	}
	if id := m.GroupID(); len(id) != 36 || id[14] != '4' {
		t.Errorf("default group id %q is not a random UUID", id)
	}
	if p, err := ParseStartingPosition("trim_horizon"); p != TrimHorizon || err != nil {
		t.Errorf("ParseStartingPosition: %v %v", p, err)
	}
}

// TestResumeNeverSkips: a mapping's starting position is fixed when it
// first starts, as Lambda fixes it when the mapping is created: a run
// resumed with the same group id and another starting position (LATEST,
// the default, where the first run said TRIM_HORIZON) delivers every
// record produced into the partitions while it was stopped, including
// partitions that had no record (so no commit of a delivered record)
// before the stop. It used to start those at their end and commit there,
// skipping the records for good.
func TestResumeNeverSkips(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 3})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "a0")...)
	f := newFnServer(t, nil)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithStartingPosition(TrimHorizon), WithBatchingWindow(0))
	waitFor(t, 60*time.Second, "a0 delivered and committed", func() bool { return committed(t, cfg, r.m.GroupID())[0] == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	produceTo(t, cfg, append(values(1, "b1"), values(2, "b2")...)...)
	r2 := startESM(t, cfg, WithFunction(f.function(t)), WithGroupID(r.m.GroupID()), WithStartingPosition(Latest), WithBatchingWindow(0))
	// Once a record written after the resume is delivered, the resumed
	// run's positions are fixed: b1 and b2 must have come before it.
	withClient(t, cfg, 90*time.Second, func(ctx context.Context, cl *kgo.Client) {
		for i := 0; f.deliveries()["m1"] == 0 || f.deliveries()["m2"] == 0; i++ {
			if ctx.Err() != nil {
				t.Fatalf("the markers were not delivered: %v", f.deliveries())
			}
			if err := cl.ProduceSync(ctx, append(values(1, "m1"), values(2, "m2")...)...).FirstErr(); err != nil {
				t.Fatal(err)
			}
			sleep(ctx, 200*time.Millisecond)
		}
	}, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if d := f.deliveries(); d["a0"] != 1 || d["b1"] != 1 || d["b2"] != 1 {
		t.Errorf("deliveries %v: want a0, b1 and b2 once each", d)
	}
	if logs := r2.logs.String(); !strings.Contains(logs, "the starting position LATEST has no effect") || !strings.Contains(logs, "TRIM_HORIZON") {
		t.Errorf("no warning that LATEST has no effect on a group started at TRIM_HORIZON; logs:\n%s", logs)
	}
}

// TestResumeNewPartition: partitions added to the topic after the mapping
// first started have no commit; the resumed mapping starts them at their
// oldest record (every record in them came after the mapping's start),
// whatever its starting position says, and reports where each partition
// starts (WithOnAssign): the first run every partition at its starting
// position, the second the commit or the new partition's oldest record.
func TestResumeNewPartition(t *testing.T) {
	t.Parallel()
	c := startEmulator(t, map[string]int32{"orders": 1})
	cfg := iamConfig(c, "orders")
	produceTo(t, cfg, values(0, "a0", "a1")...)
	var (
		mu     sync.Mutex
		starts [][]PartitionStart
	)
	onAssign := WithOnAssign(func(s []PartitionStart) {
		mu.Lock()
		starts = append(starts, s)
		mu.Unlock()
	})
	assigned := func() [][]PartitionStart {
		mu.Lock()
		defer mu.Unlock()
		return append([][]PartitionStart(nil), starts...)
	}
	f := newFnServer(t, nil)
	r := startESM(t, cfg, WithFunction(f.function(t)), WithStartingPosition(Latest), WithBatchingWindow(0), onAssign)
	waitFor(t, 60*time.Second, "the first assignment", func() bool { return len(assigned()) == 1 })
	if got, want := assigned()[0], []PartitionStart{{Topic: "orders", Partition: 0, Offset: 2, From: FromStartingPosition, Position: Latest}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("first run starts %v, want %v", got, want)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	withClient(t, cfg, 30*time.Second, func(ctx context.Context, cl *kgo.Client) {
		if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 2, "orders"); err != nil {
			t.Fatal(err)
		}
	})
	produceTo(t, cfg, append(values(0, "b0"), append(values(1, "b1"), values(2, "b2")...)...)...)
	startESM(t, cfg, WithFunction(f.function(t)), WithGroupID(r.m.GroupID()), WithStartingPosition(Latest), WithBatchingWindow(0), onAssign)
	waitFor(t, 60*time.Second, "b0, b1 and b2 delivered", func() bool {
		d := f.deliveries()
		return d["b0"] == 1 && d["b1"] == 1 && d["b2"] == 1
	})
	if d := f.deliveries(); d["a0"]+d["a1"] != 0 {
		t.Errorf("deliveries %v: a0 and a1 came before the LATEST start", d)
	}
	want := []PartitionStart{
		{Topic: "orders", Partition: 0, Offset: 2, From: FromCommitted},
		{Topic: "orders", Partition: 1, Offset: 0, From: FromNewPartition, Position: TrimHorizon},
		{Topic: "orders", Partition: 2, Offset: 0, From: FromNewPartition, Position: TrimHorizon},
	}
	if a := assigned(); len(a) != 2 || !reflect.DeepEqual(a[1], want) {
		t.Errorf("assignments %v, want the second %v", a, want)
	}
}
