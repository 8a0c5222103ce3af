package kafkaesm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/msklink/msklink/internal/testutil"
)

// testRecord is a record for event().
type testRecord struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"timestampType"`
	Key       string `json:"key,omitempty"`
	Value     string `json:"value,omitempty"`
}

// event builds an MSK event with n records per partition key ("t-0":
// topic t, partition 0), offsets from 100, values "v<offset>", and
// timestamps from ts0 one second apart.
func event(t testing.TB, ts0 time.Time, n int, keys ...string) []byte {
	t.Helper()
	return eventAt(t, ts0, n, 0, keys...)
}

// eventSized is event with values of size bytes.
func eventSized(t testing.TB, n, size int, keys ...string) []byte {
	t.Helper()
	return eventAt(t, time.Now(), n, size, keys...)
}

func eventAt(t testing.TB, ts0 time.Time, n, size int, keys ...string) []byte {
	t.Helper()
	recs := map[string][]testRecord{}
	for _, k := range keys {
		i := strings.LastIndexByte(k, '-')
		var p int32
		fmt.Sscan(k[i+1:], &p)
		for j := range n {
			off := int64(100 + j)
			recs[k] = append(recs[k], testRecord{Topic: k[:i], Partition: p, Offset: off, Timestamp: ts0.Add(time.Duration(j) * time.Second).UnixMilli(),
				Type: "CREATE_TIME", Value: base64.StdEncoding.EncodeToString(value(off, size))})
		}
	}
	b, err := json.Marshal(map[string]any{"eventSource": SourceMSK, "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/c/u-1", "records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func value(off int64, size int) []byte {
	v := fmt.Appendf(nil, "v%d", off)
	for len(v) < size {
		v = append(v, 'x')
	}
	return v
}

type harness struct {
	logs, metrics *testutil.SyncBuffer
}

func newHarness() *harness {
	return &harness{logs: &testutil.SyncBuffer{}, metrics: &testutil.SyncBuffer{}}
}

func (th *harness) opts(extra ...Opt) []Opt {
	return append([]Opt{
		WithLogger(slog.New(slog.NewJSONHandler(th.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithMetricsWriter(th.metrics), WithFunctionName("consumer"), WithGetenv(func(string) string { return "" }),
	}, extra...)
}

// invoke runs h on payload with a Lambda context and the given time left.
func invoke(t testing.TB, h *Handler, payload []byte, left time.Duration) ([]byte, error) {
	t.Helper()
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	if left > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, left)
		defer cancel()
	}
	return h.Invoke(ctx, payload)
}

func decodeResponse(t testing.TB, b []byte) []ItemIdentifier {
	t.Helper()
	var r Response
	if err := json.Unmarshal(b, &r); err != nil || r.BatchItemFailures == nil {
		t.Fatalf("not a partial batch response: %s (%v)", b, err)
	}
	var ids []ItemIdentifier
	for _, f := range r.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

// seen records what the function was handed, per partition.
type seen struct {
	mu   sync.Mutex
	recs map[string][]int64
}

func (s *seen) add(r Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recs == nil {
		s.recs = map[string][]int64{}
	}
	s.recs[r.ID().Partition] = append(s.recs[r.ID().Partition], r.Offset)
}

func (s *seen) get(k string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs[k])
}

func TestHandlerAllSucceed(t *testing.T) {
	th := newHarness()
	var s seen
	h, err := New(func(ctx context.Context, r Record) error {
		if want := fmt.Sprintf("v%d", r.Offset); string(r.Value) != want {
			return fmt.Errorf("value %q, want %q", r.Value, want)
		}
		if lc, _ := lambdacontext.FromContext(ctx); lc == nil || lc.AwsRequestID != "req-1" {
			return errors.New("no Lambda context")
		}
		s.add(r)
		return nil
	}, th.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, event(t, time.Now(), 5, "orders-0", "orders-1"), 30*time.Second)
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Fatalf("%s %v", out, err)
	}
	for _, k := range []string{"orders-0", "orders-1"} {
		if got := s.get(k); !slices.Equal(got, []int64{100, 101, 102, 103, 104}) {
			t.Errorf("%s: processed %v", k, got)
		}
	}
	if !strings.Contains(th.logs.String(), `"msg":"batch processed"`) || !strings.Contains(th.logs.String(), `"processed":10`) {
		t.Errorf("logs:\n%s", th.logs.String())
	}
}

// TestHandlerPartialBatchResponse: with ReportBatchItemFailures, the first
// failed record of each failed partition is answered in the documented
// shape; the function is not handed the records after it; the other
// partitions are processed whole.
func TestHandlerPartialBatchResponse(t *testing.T) {
	th := newHarness()
	var s seen
	h, err := New(func(ctx context.Context, r Record) error {
		s.add(r)
		if r.Topic == "orders" && r.Partition == 0 && r.Offset == 102 {
			return errors.New("payment service said no")
		}
		return nil
	}, th.opts(WithReportBatchItemFailures(true))...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, event(t, time.Now(), 5, "orders-0", "orders-1", "audit-2"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The exact bytes Lambda reads: itemIdentifier is an object, the
	// event's "topic-partition" key and the offset.
	if want := `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":102}}]}`; string(out) != want {
		t.Fatalf("response\n%s\nwant\n%s", out, want)
	}
	if got := s.get("orders-0"); !slices.Equal(got, []int64{100, 101, 102}) {
		t.Errorf("orders-0 handed %v: nothing after the failure", got)
	}
	if got := s.get("orders-1"); len(got) != 5 {
		t.Errorf("orders-1 handed %v", got)
	}
	if got := s.get("audit-2"); len(got) != 5 {
		t.Errorf("audit-2 handed %v", got)
	}
	logs := th.logs.String()
	for _, want := range []string{`"msg":"record failed"`, `"offset":102`, `"retried":3`, "payment service said no", `"failed":1`, `"deferred":2`, `"processed":12`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestHandlerFailsInvocationWithoutPartialResponses: without the setting
// a failed record fails the invocation with a *BatchError, and no further
// record is handed out.
func TestHandlerFailsInvocationWithoutPartialResponses(t *testing.T) {
	th := newHarness()
	var s seen
	h, err := New(func(ctx context.Context, r Record) error {
		s.add(r)
		if r.Partition == 0 && r.Offset == 101 {
			return errors.New("boom")
		}
		return nil
	}, th.opts()...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, event(t, time.Now(), 3, "t-0", "t-1"), 30*time.Second)
	var be *BatchError
	if out != nil || !errors.As(err, &be) {
		t.Fatalf("%s %v, want a *BatchError", out, err)
	}
	if reflect.TypeOf(be).Elem().Name() != "BatchError" {
		t.Errorf("errorType %s", reflect.TypeOf(be).Elem().Name())
	}
	// t-0 failed at 101; t-1 (processed after it) was not started.
	if be.Records != 6 || len(be.Failed) != 2 || be.Failed[0].ID != (ItemIdentifier{"t-0", 101}) || be.Failed[1].ID != (ItemIdentifier{"t-1", 100}) ||
		!errors.Is(be.Failed[1], ErrBatchStopped) {
		t.Errorf("BatchError %+v", be)
	}
	if got := s.get("t-1"); len(got) != 0 {
		t.Errorf("t-1 handed %v after t-0 failed", got)
	}
	msg := err.Error()
	for _, want := range []string{"kafkaesm: t-0 offset 101: boom (and 1 more partition(s) not processed)", "retries the batch of 6 records", "MSK_REPORT_BATCH_ITEM_FAILURES"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestHandlerPanic(t *testing.T) {
	th := newHarness()
	h, err := New(func(ctx context.Context, r Record) error {
		if r.Offset == 100 {
			var m map[string]int
			m["x"]++ // a nil map: panics
		}
		return nil
	}, th.opts(WithReportBatchItemFailures(true))...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, event(t, time.Now(), 2, "t-0"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ids := decodeResponse(t, out); len(ids) != 1 || ids[0] != (ItemIdentifier{"t-0", 100}) {
		t.Fatalf("failures %v", ids)
	}
	logs := th.logs.String()
	if !strings.Contains(logs, "the function panicked: assignment to entry in nil map") || !strings.Contains(logs, `"stack":"goroutine`) {
		t.Errorf("logs:\n%s", logs)
	}
	// Without partial responses: the panic is the invocation's error.
	h2, _ := New(func(ctx context.Context, r Record) error { panic("bad record") }, th.opts()...)
	_, err = invoke(t, h2, event(t, time.Now(), 1, "t-0"), 30*time.Second)
	var pe *PanicError
	if !errors.As(err, &pe) || pe.Value != "bad record" {
		t.Errorf("%v", err)
	}
}

// TestHandlerMalformedRecord: a record that cannot be decoded fails alone
// (with the rest of its partition), named by its field.
func TestHandlerMalformedRecord(t *testing.T) {
	th := newHarness()
	var s seen
	h, _ := New(func(ctx context.Context, r Record) error { s.add(r); return nil }, th.opts(WithReportBatchItemFailures(true))...)
	payload := `{"eventSource":"SelfManagedKafka","records":{
		"orders-0":[{"topic":"orders","partition":0,"offset":5,"value":"eA=="},{"topic":"orders","partition":0,"offset":6,"value":"%%%"},{"offset":7}],
		"orders-1":[{"offset":9,"value":"eQ=="}]}}`
	out, err := invoke(t, h, []byte(payload), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if ids := decodeResponse(t, out); len(ids) != 1 || ids[0] != (ItemIdentifier{"orders-0", 6}) {
		t.Fatalf("failures %v", ids)
	}
	if !slices.Equal(s.get("orders-0"), []int64{5}) || !slices.Equal(s.get("orders-1"), []int64{9}) {
		t.Errorf("handed %v", s.recs)
	}
	if logs := th.logs.String(); !strings.Contains(logs, `"msg":"malformed record"`) || !strings.Contains(logs, `records[\"orders-0\"][1].value`) || !strings.Contains(logs, "illegal base64") {
		t.Errorf("logs:\n%s", logs)
	}
	// A record without an offset cannot be reported: the invocation fails.
	_, err = invoke(t, h, []byte(`{"eventSource":"aws:kafka","records":{"orders-0":[{"value":"eA=="}]}}`), 30*time.Second)
	var ee *EventError
	if !errors.As(err, &ee) || ee.Field != `records["orders-0"][0].offset` {
		t.Errorf("%v", err)
	}
}

// TestHandlerDeadline: a record the function is still busy with when the
// deadline minus the margin comes is reported failed, with everything
// after it, and the answer comes before the deadline.
func TestHandlerDeadline(t *testing.T) {
	for _, report := range []bool{true, false} {
		t.Run(fmt.Sprint("report=", report), func(t *testing.T) {
			th := newHarness()
			release := make(chan struct{})
			defer close(release)
			var s seen
			var fnDeadline atomic.Int64
			h, err := New(func(ctx context.Context, r Record) error {
				s.add(r)
				if dl, ok := ctx.Deadline(); ok {
					fnDeadline.Store(dl.UnixNano())
				}
				if r.Partition == 0 && r.Offset == 102 {
					<-release // stuck, ignoring ctx
				}
				return nil
			}, th.opts(WithReportBatchItemFailures(report), WithDeadlineMargin(time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			const left = 2 * time.Second
			start := time.Now()
			out, err := invoke(t, h, event(t, time.Now(), 5, "t-0", "t-1"), left)
			el := time.Since(start)
			if el >= left {
				t.Errorf("answered after %s, past the %s deadline", el, left)
			}
			if d := time.Unix(0, fnDeadline.Load()).Sub(start); d > left-time.Second+100*time.Millisecond {
				t.Errorf("the function's deadline is %s after the start, want about %s", d, left-time.Second)
			}
			if report {
				ids := decodeResponse(t, out)
				if len(ids) != 2 || ids[0] != (ItemIdentifier{"t-0", 102}) || ids[1] != (ItemIdentifier{"t-1", 100}) {
					t.Fatalf("failures %v (%s)", ids, out)
				}
			} else {
				var be *BatchError
				if !errors.As(err, &be) || !errors.Is(be.Failed[0], ErrDeadline) || be.Failed[0].ID != (ItemIdentifier{"t-0", 102}) {
					t.Fatalf("%v", err)
				}
			}
			if got := s.get("t-1"); len(got) != 0 {
				t.Errorf("t-1 handed %v: concurrency 1 keeps it behind t-0", got)
			}
			if logs := th.logs.String(); !strings.Contains(logs, `"deadlineReached":true`) || !strings.Contains(logs, "not processed before the invocation's deadline") {
				t.Errorf("logs:\n%s", logs)
			}
		})
	}
}

// TestHandlerDeadlineAlreadyPassed: with less time left than the margin,
// nothing is handed out and everything is retried.
func TestHandlerDeadlineAlreadyPassed(t *testing.T) {
	th := newHarness()
	called := false
	h, _ := New(func(ctx context.Context, r Record) error { called = true; return nil }, th.opts(WithReportBatchItemFailures(true))...)
	out, err := invoke(t, h, event(t, time.Now(), 3, "t-0", "t-1"), 300*time.Millisecond)
	if err != nil || called {
		t.Fatalf("%v called=%v", err, called)
	}
	if ids := decodeResponse(t, out); len(ids) != 2 || ids[0].Offset != 100 || ids[1].Offset != 100 {
		t.Fatalf("failures %v", ids)
	}
}

// TestHandlerPartitionConcurrency: with n, partitions run at once (each
// in order); by default one at a time.
func TestHandlerPartitionConcurrency(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			th := newHarness()
			var inFlight, peak atomic.Int32
			var s seen
			h, _ := New(func(ctx context.Context, r Record) error {
				cur := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					p := peak.Load()
					if cur <= p || peak.CompareAndSwap(p, cur) {
						break
					}
				}
				s.add(r)
				if n > 1 {
					// Wait until every partition has a record in flight,
					// which only concurrent partitions allow.
					deadline := time.Now().Add(10 * time.Second)
					for peak.Load() < int32(n) && time.Now().Before(deadline) {
						time.Sleep(time.Millisecond)
					}
				}
				return nil
			}, th.opts(WithPartitionConcurrency(n))...)
			if _, err := invoke(t, h, event(t, time.Now(), 20, "a-0", "a-1", "a-2"), 60*time.Second); err != nil {
				t.Fatal(err)
			}
			if int(peak.Load()) != n {
				t.Errorf("peak %d partitions in flight, want %d", peak.Load(), n)
			}
			for _, k := range []string{"a-0", "a-1", "a-2"} {
				got := s.get(k)
				if len(got) != 20 || !slices.IsSorted(got) {
					t.Errorf("%s handed %v, want 20 in offset order", k, got)
				}
			}
		})
	}
}

func TestBatchHandler(t *testing.T) {
	th := newHarness()
	var got []string
	h, err := NewBatch(func(ctx context.Context, recs []Record) []error {
		errs := make([]error, len(recs))
		for i, r := range recs {
			got = append(got, r.ID().Partition+fmt.Sprintf("@%d", r.Offset))
			if r.Partition == 1 && r.Offset >= 101 {
				errs[i] = errors.New("db rejected it")
			}
		}
		return errs
	}, th.opts(WithReportBatchItemFailures(true))...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := invoke(t, h, event(t, time.Now(), 3, "t-1", "t-0"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "t-0@100 t-0@101 t-0@102 t-1@100 t-1@101 t-1@102"; strings.Join(got, " ") != want {
		t.Errorf("batch %q, want %q", strings.Join(got, " "), want)
	}
	if ids := decodeResponse(t, out); len(ids) != 1 || ids[0] != (ItemIdentifier{"t-1", 101}) {
		t.Fatalf("failures %v", ids)
	}

	// nil means all succeeded; a wrong length or a panic fails every
	// partition at its first record.
	for name, fn := range map[string]BatchFunc{
		"nil":          func(context.Context, []Record) []error { return nil },
		"wrong length": func(context.Context, []Record) []error { return []error{nil} },
		"panic":        func(context.Context, []Record) []error { panic("oops") },
	} {
		h, _ := NewBatch(fn, th.opts(WithReportBatchItemFailures(true))...)
		out, err := invoke(t, h, event(t, time.Now(), 2, "t-0", "t-1"), 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		ids := decodeResponse(t, out)
		if name == "nil" && len(ids) != 0 || name != "nil" && (len(ids) != 2 || ids[0].Offset != 100 || ids[1].Offset != 100) {
			t.Errorf("%s: failures %v", name, ids)
		}
	}
	if !strings.Contains(th.logs.String(), "the BatchFunc returned 1 errors for 4 records") {
		t.Errorf("logs:\n%s", th.logs.String())
	}
}

// TestHandlerMetrics: one EMF line per invocation, namespace msklink,
// with the counts, the batch age and ColdStart on the first.
func TestHandlerMetrics(t *testing.T) {
	th := newHarness()
	now := time.Date(2026, 11, 3, 12, 0, 0, 0, time.UTC)
	h, _ := New(func(ctx context.Context, r Record) error {
		if r.Offset == 101 {
			return errors.New("no")
		}
		return nil
	}, th.opts(WithReportBatchItemFailures(true), WithClock(func() time.Time { return now }))...)
	for range 2 {
		if _, err := invoke(t, h, event(t, now.Add(-90*time.Second), 3, "t-0"), 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(th.metrics.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d metric lines:\n%s", len(lines), th.metrics.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		aws := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)
		if aws["Namespace"] != "msklink" || m["FunctionName"] != "consumer" || m["EventSource"] != "aws:kafka" ||
			m["RecordsProcessed"] != 1.0 || m["RecordsFailed"] != 1.0 || m["RecordsDeferred"] != 1.0 || m["BatchAge"] != 90000.0 {
			t.Errorf("line %d: %s", i, l)
		}
		if _, cold := m["ColdStart"]; cold != (i == 0) {
			t.Errorf("line %d: ColdStart %v", i, cold)
		}
		for _, mt := range aws["Metrics"].([]any) {
			if _, ok := m[mt.(map[string]any)["Name"].(string)]; !ok {
				t.Errorf("line %d: metric %v without a value", i, mt)
			}
		}
	}
}

// TestHandlerRequestIDInDefaultLogs: the default logger is the JSON
// handler with the request id, as lambdafn's.
func TestHandlerEnvironment(t *testing.T) {
	env := map[string]string{EnvReportBatchItemFailures: "true", EnvDeadlineMargin: "2s", EnvPartitionConcurrency: "4", "AWS_LAMBDA_FUNCTION_NAME": "fn"}
	h, err := New(func(context.Context, Record) error { return nil }, WithGetenv(func(k string) string { return env[k] }), WithMetricsWriter(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !h.ReportsBatchItemFailures() || h.margin != 2*time.Second || h.concurrency != 4 || h.funcName != "fn" {
		t.Errorf("%+v", h)
	}
	// Options win over the environment.
	h, _ = New(func(context.Context, Record) error { return nil }, WithGetenv(func(k string) string { return env[k] }), WithReportBatchItemFailures(false))
	if h.ReportsBatchItemFailures() {
		t.Error("the option did not win")
	}
	for k, v := range map[string]string{EnvReportBatchItemFailures: "yes please", EnvDeadlineMargin: "5", EnvPartitionConcurrency: "0"} {
		_, err := New(func(context.Context, Record) error { return nil }, WithGetenv(func(key string) string {
			if key == k {
				return v
			}
			return ""
		}))
		if err == nil || !strings.Contains(err.Error(), k) && !strings.Contains(err.Error(), "concurrency") {
			t.Errorf("%s=%s: %v", k, v, err)
		}
	}
	if _, err := New(nil); err == nil {
		t.Error("nil RecordFunc accepted")
	}
	if _, err := New(func(context.Context, Record) error { return nil }, WithDeadlineMargin(-time.Second)); err == nil {
		t.Error("negative margin accepted")
	}
}

func TestHandleParsedEvent(t *testing.T) {
	th := newHarness()
	ev, err := ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{"t-0":[{"offset":1,"value":"eA=="},{"offset":2,"value":"!"},{"offset":3}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var s seen
	h, _ := New(func(ctx context.Context, r Record) error { s.add(r); return nil }, th.opts(WithReportBatchItemFailures(true))...)
	resp, err := h.Handle(context.Background(), ev)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != (ItemIdentifier{"t-0", 2}) {
		t.Fatalf("%+v %v", resp, err)
	}
	if !slices.Equal(s.get("t-0"), []int64{1}) {
		t.Errorf("handed %v", s.get("t-0"))
	}
}
