package esm

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// seenLine is a line of the test function's $SEEN_FILE.
type seenLine struct {
	requestID, id, value string
	ok                   bool
}

func readSeen(t *testing.T, path string) []seenLine {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []seenLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Fields(sc.Text())
		if len(parts) != 4 {
			continue // a line being written
		}
		out = append(out, seenLine{parts[0], parts[1], parts[2], parts[3] == "ok"})
	}
	return out
}

// buildConsumerFn builds testdata/consumerfn, a Go function on the
// kafkaesm handler (cached by the go build cache after the first test).
func buildConsumerFn(t *testing.T) string {
	t.Helper()
	testutil.RIEBinary(t)
	return testutil.BuildLambda(t, "./testdata/consumerfn", runtime.GOARCH)
}

// TestRIEPoisonRecord runs the whole path: the emulator over IAM, the
// mapping, AWS's Runtime Interface Emulator running a Go function on the
// kafkaesm handler. The poison record, last of its partition, is reported
// in a partial batch response, retried alone, and after the maximum
// retries written to the on-failure topic; the group is committed exactly
// past what succeeded at every step.
func TestRIEPoisonRecord(t *testing.T) {
	bootstrap := buildConsumerFn(t)
	c := startEmulator(t, map[string]int32{"orders": 3, "orders-dlt": 1})
	cfg := iamConfig(c, "orders")
	var recs []*kgo.Record
	for i := range 30 {
		recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "order-%02d", i)})
	}
	recs = append(recs, &kgo.Record{Partition: 1, Key: []byte("bad"), Value: []byte("poison-1")}) // orders-1 offset 10
	produceTo(t, cfg, recs...)
	seen := filepath.Join(t.TempDir(), "seen")
	rie := testutil.StartRIE(t, bootstrap, 30, "SEEN_FILE="+seen, "MSK_REPORT_BATCH_ITEM_FAILURES=true")

	const group = "c0ffee00-8154-4b1c-9af7-85d5f4a6bc81"
	var mu sync.Mutex
	var steps []map[int32]int64 // the committed offsets after each invocation
	fn, err := NewHTTPFunction(rie.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startESM(t, cfg, WithFunction(fn), WithEventSourceARN(c.ClusterARN()), WithReportBatchItemFailures(true),
		// The batch size cuts the first batch at all 31 records (the
		// steps below count on it), however long the fetches take.
		WithMaximumRetryAttempts(2), WithOnFailureTopic("orders-dlt"), WithBatchSize(len(recs)), WithBatchingWindow(time.Minute), WithGroupID(group),
		WithOnInvoke(func(Invocation) {
			got := committed(t, cfg, group)
			mu.Lock()
			steps = append(steps, got)
			mu.Unlock()
		}))
	dlt, frs := onFailureMessages(t, iamConfig(c, "orders-dlt"), "orders-dlt", 1)
	waitFor(t, 30*time.Second, "committed to the end", func() bool {
		return reflect.DeepEqual(committed(t, cfg, r.m.GroupID()), map[int32]int64{0: 10, 1: 11, 2: 10})
	})
	r.stop(t)

	// The function saw every good record once (ok), and the poison record
	// 3 times (the first invocation and 2 retries), alone in the retries.
	lines := readSeen(t, seen)
	byReq := map[string][]seenLine{}
	okCount := map[string]int{}
	poison := 0
	for _, l := range lines {
		byReq[l.requestID] = append(byReq[l.requestID], l)
		if l.ok {
			okCount[l.value]++
		}
		if l.value == "poison-1" {
			poison++
			if l.ok || l.id != "orders-1@10" {
				t.Errorf("poison line %+v", l)
			}
		}
	}
	for i := range 30 {
		if v := fmt.Sprintf("order-%02d", i); okCount[v] != 1 {
			t.Errorf("%s processed %d times, want once", v, okCount[v])
		}
	}
	if poison != 3 {
		t.Errorf("the poison record was handed to the function %d times, want 3", poison)
	}
	retries := 0
	for _, ls := range byReq {
		if len(ls) == 1 && ls[0].value == "poison-1" {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("%d invocations held the poison record alone, want 2 (its retries):\n%v", retries, byReq)
	}
	mu.Lock()
	for i, s := range steps {
		// After the first invocation orders-0 and orders-2 are committed to
		// their end and orders-1 stops at the poison record, until it is
		// given up.
		want := map[int32]int64{0: 10, 1: 10, 2: 10}
		if i == len(steps)-1 {
			want[1] = 11
		}
		if !reflect.DeepEqual(s, want) {
			t.Errorf("committed after invocation %d: %v, want %v", i+1, s, want)
		}
	}
	if len(steps) != 3 {
		t.Errorf("%d invocations, want 3", len(steps))
	}
	mu.Unlock()
	fr := frs[0]
	if string(dlt[0].Key) != "bad" || fr.RequestContext.Condition != ConditionRetriesExhausted || fr.RequestContext.ApproximateInvokeCount != 3 ||
		fr.KafkaBatchInfo.RecordInfo.Offset != "10" || !strings.Contains(string(fr.Payload), base64.StdEncoding.EncodeToString([]byte("poison-1"))) ||
		fr.KafkaBatchInfo.EventSourceARN != c.ClusterARN() {
		t.Errorf("on-failure record: %s", dlt[0].Value)
	}
	if t.Failed() {
		t.Logf("RIE output:\n%s", rie.Output.String())
	}
}

// TestRIERandomFailures: 10,000 records through the function under RIE,
// which fails 2% of the records it is handed at random (seeded): with
// partial batch responses and infinite retries every record is processed,
// none is skipped, and the group ends committed at the end of each
// partition.
func TestRIERandomFailures(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 records")
	}
	bootstrap := buildConsumerFn(t)
	const n = 10000
	c := startEmulator(t, map[string]int32{"orders": 3})
	cfg := iamConfig(c, "orders")
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Partition: int32(i % 3), Value: fmt.Appendf(nil, "r-%05d", i)})
	}
	produceTo(t, cfg, recs...)
	seen := filepath.Join(t.TempDir(), "seen")
	rie := testutil.StartRIE(t, bootstrap, 30, "SEEN_FILE="+seen, "MSK_REPORT_BATCH_ITEM_FAILURES=true", "FAIL_RATE=0.02", "SEED=7")
	fn, err := NewHTTPFunction(rie.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := startESM(t, cfg, WithFunction(fn), WithReportBatchItemFailures(true), WithBatchSize(500), WithBatchingWindow(100*time.Millisecond))
	waitFor(t, 150*time.Second, "committed to the end", func() bool {
		got := committed(t, cfg, r.m.GroupID())
		return got[0]+got[1]+got[2] == n
	})
	r.stop(t)
	ok := map[string]int{}
	failed := 0
	for _, l := range readSeen(t, seen) {
		if l.ok {
			ok[l.value]++
		} else {
			failed++
		}
	}
	for i := range n {
		if v := fmt.Sprintf("r-%05d", i); ok[v] == 0 {
			t.Errorf("%s never processed", v)
		}
	}
	if got := committed(t, cfg, r.m.GroupID()); !reflect.DeepEqual(got, map[int32]int64{0: 3334, 1: 3333, 2: 3333}) {
		t.Errorf("committed %v", got)
	}
	s := r.m.Stats()
	if failed == 0 || s.GivenUp != 0 || s.Delivered != n {
		t.Errorf("%d failures; stats %+v", failed, s)
	}
	t.Logf("%d records, %d failures, %d invocations (%d failed), %d records sent again", n, failed, s.Invocations, s.FailedInvocations, s.Redelivered)
	if t.Failed() {
		t.Logf("RIE output:\n%s", rie.Output.String())
	}
}
