package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msklink/msklink/esm"
)

// TestESMUsageErrors: bad flags are usage errors (exit 2) that say the
// valid range.
func TestESMUsageErrors(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("MSK_BOOTSTRAP_SERVERS", "127.0.0.1:9098")
	t.Setenv("MSK_REGION", "us-east-1")
	fn := []string{"--topic", "orders", "--function", "http://127.0.0.1:9000"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(fn, "--starting-position", "AT_TIMESTAMP"), `--starting-position "AT_TIMESTAMP": use TRIM_HORIZON or LATEST`},
		{append(fn, "--batch-size", "0"), "--batch-size 0: Lambda's range for Kafka is 1-10000"},
		{append(fn, "--batch-size", "10001"), "--batch-size 10001: Lambda's range for Kafka is 1-10000"},
		{append(fn, "--batching-window", "301s"), "--batching-window 5m1s: Lambda's range is 0-300s"},
		{append(fn, "--batching-window", "-1s"), "Lambda's range is 0-300s"},
		{append(fn, "--max-retries", "-2"), "--max-retries -2: Lambda's range is 0-10000, or -1 for infinite"},
		{append(fn, "--max-retries", "10001"), "Lambda's range is 0-10000, or -1 for infinite"},
		{append(fn, "--max-record-age", "30s"), "--max-record-age 30s: Lambda's range is 60s-604800s (7 days), or -1 for infinite"},
		{append(fn, "--max-record-age", "soon"), "give -1 (infinite) or a duration"},
		{append(fn, "--on-failure-topic", "orders"), "--on-failure-topic orders: must differ from the source topic"},
		{append(fn, "--group-id", "a b"), "--group-id a b: use 1-200 characters"},
		{append(fn, "--event-source-arn", "arn:aws:sqs:us-east-1:1:q"), "--event-source-arn arn:aws:sqs:us-east-1:1:q: give the MSK cluster ARN"},
		{[]string{"--topic", "orders"}, "exactly one of --function URL"},
		{append(fn, "--handler-cmd", "cat"), "exactly one of --function URL"},
		{[]string{"--function", "http://127.0.0.1:9000"}, "no topic: pass --topic"},
		{[]string{"--topic", "orders", "--function", "127.0.0.1:9000"}, "give the function's URL, e.g. http://127.0.0.1:9000"},
	} {
		_, errOut, code := runCLI(t, "", append([]string{"esm"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("esm %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// invokeAPI serves a function over Lambda's Invoke API that records the
// values it gets and answers with handle.
type invokeAPI struct {
	url    string
	mu     sync.Mutex
	values []string
}

func newInvokeAPI(t *testing.T, handle func(ev map[string]any) string) *invokeAPI {
	t.Helper()
	f := &invokeAPI{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != esm.InvokePath {
			http.Error(w, "not the Invoke API", 404)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev map[string]any
		json.Unmarshal(body, &ev)
		records, _ := ev["records"].(map[string]any)
		f.mu.Lock()
		for _, rs := range records {
			for _, rec := range rs.([]any) {
				v, _ := base64.StdEncoding.DecodeString(rec.(map[string]any)["value"].(string))
				f.values = append(f.values, string(v))
			}
		}
		f.mu.Unlock()
		io.WriteString(w, handle(ev))
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *invokeAPI) got() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.values...)
}

// runInBackground runs the command line until the returned stop is
// called, and returns its output and exit code then.
func runInBackground(t *testing.T, args ...string) (stop func() (stdout, stderr string, code int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var o, e syncBuf
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, strings.NewReader(""), &o, &e) }()
	var once sync.Once
	var err error
	stop = func() (string, string, int) {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%v did not stop 30s after Ctrl-C", args)
			}
		})
		return o.String(), e.String(), ExitCode(err)
	}
	t.Cleanup(func() { stop() })
	return stop
}

// TestESMCommand runs `msklink esm` against the emulator (over IAM, from
// the MSK_* environment) and a function served over the Invoke API: every
// record arrives, --json prints one line per invocation, stderr names the
// group, no status line is drawn outside a terminal, and Ctrl-C exits 0.
func TestESMCommand(t *testing.T) {
	c := useEmulator(t, "orders")
	in := ""
	for i := range 30 {
		in += fmt.Sprintf("v%d\n", i)
	}
	if _, errOut, code := runCLI(t, in, "produce", "--topic", "orders"); code != 0 {
		t.Fatalf("produce: exit %d: %s", code, errOut)
	}
	var events []map[string]any
	var mu sync.Mutex
	f := newInvokeAPI(t, func(ev map[string]any) string {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
		return "null"
	})
	stop := runInBackground(t, "esm", "--topic", "orders", "--function", f.url, "--starting-position", "TRIM_HORIZON",
		"--batching-window", "100ms", "--event-source-arn", c.ClusterARN(), "--json")
	deadline := time.Now().Add(60 * time.Second)
	for len(f.got()) < 30 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code := stop()
	if len(f.got()) != 30 || code != 0 {
		t.Fatalf("function got %d of 30 records; exit %d\nstderr:\n%s", len(f.got()), code, errOut)
	}
	if !strings.Contains(errOut, "msklink esm: group ") || !strings.Contains(errOut, "30 records delivered") || strings.Contains(errOut, "\r") {
		t.Errorf("stderr:\n%q", errOut)
	}
	mu.Lock()
	if src := events[0]["eventSource"]; src != "aws:kafka" || events[0]["eventSourceArn"] != c.ClusterARN() {
		t.Errorf("event source %v / %v", src, events[0]["eventSourceArn"])
	}
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	records := 0
	for _, l := range lines {
		var inv struct{ Records int }
		if err := json.Unmarshal([]byte(l), &inv); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		records += inv.Records
	}
	if records != 30 || !strings.Contains(out, `"type":"invocation"`) || !strings.Contains(out, `"result":"ok"`) {
		t.Errorf("stdout:\n%s", out)
	}
}

// TestESMHandlerCmd runs the function as a command (--handler-cmd): it
// reports the poison record in a partial batch response, which is retried,
// then written to the on-failure topic; the rest is delivered.
func TestESMHandlerCmd(t *testing.T) {
	useEmulator(t, "orders", "orders-dlt")
	if _, errOut, code := runCLI(t, "ok-1\npoison\nok-2\n", "produce", "--topic", "orders", "--partition", "1"); code != 0 {
		t.Fatalf("produce: exit %d: %s", code, errOut)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "fn.sh")
	// The poison record's value is cG9pc29u in base64: report it (orders-1
	// offset 1) as AWS's partial batch response format says.
	os.WriteFile(script, []byte(`#!/bin/sh
ev=$(cat)
echo "$ev" >> "$(dirname "$0")/events"
case "$ev" in
*cG9pc29u*) echo '{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-1","offset":1}}]}' ;;
*) echo '{"batchItemFailures":[]}' ;;
esac
`), 0o755)
	stop := runInBackground(t, "esm", "--topic", "orders", "--handler-cmd", script, "--starting-position", "TRIM_HORIZON",
		"--report-batch-item-failures", "--max-retries", "1", "--on-failure-topic", "orders-dlt", "--batching-window", "500ms", "--json")
	out, errOut, code := runCLI(t, "", "consume", "--topic", "orders-dlt", "--from-beginning", "--max", "1", "--timeout", "60s")
	_, esmErr, esmCode := stop()
	if code != 0 || esmCode != 0 {
		t.Fatalf("consume exit %d (%s); esm exit %d:\n%s", code, errOut, esmCode, esmErr)
	}
	var fr struct {
		RequestContext struct{ Condition string }
		KafkaBatchInfo struct {
			RecordInfo struct{ Offset string }
		}
	}
	if err := json.Unmarshal([]byte(out), &fr); err != nil || fr.RequestContext.Condition != "RetriesExhausted" || fr.KafkaBatchInfo.RecordInfo.Offset != "1" {
		t.Fatalf("on-failure record %q (%v)", out, err)
	}
	// The retry warnings say what failed and where, not error="".
	if !strings.Contains(esmErr, `msg="esm: invocation failed"`) || strings.Contains(esmErr, `error=""`) ||
		!strings.Contains(esmErr, `error="the function reported 1 of 3 records failed (batchItemFailures): orders-1 offset 1"`) ||
		!strings.Contains(esmErr, `offsets="orders-1 offsets 0-2"`) {
		t.Errorf("esm stderr:\n%s\nwant the retry warning to name the failure and the offsets", esmErr)
	}
	events, _ := os.ReadFile(filepath.Join(dir, "events"))
	// The first event holds the three records; the retry (--max-retries 1)
	// starts at the poison record, the checkpoint: poison and ok-2.
	lines := strings.Split(strings.TrimSpace(string(events)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "cG9pc29u") || !strings.Contains(lines[1], "b2stMg==") || strings.Contains(lines[1], "b2stMQ==") {
		t.Errorf("events, want 2, the second with poison and ok-2 only:\n%s", events)
	}
}

// TestESMResume: a mapping started with --starting-position TRIM_HORIZON,
// stopped, and run again with the same --group-id without repeating it
// delivers every record produced while it was stopped, also into
// partitions that had none before (so no commit of a delivered record):
// the first start committed every partition at TRIM_HORIZON. Each run says
// where each partition starts, on stderr and with --json; a resume that
// names another starting position is told that it has no effect.
func TestESMResume(t *testing.T) {
	useEmulator(t, "orders") // 3 partitions
	produceTo := func(partition, value string) {
		t.Helper()
		if _, errOut, code := runCLI(t, value+"\n", "produce", "--topic", "orders", "--partition", partition); code != 0 {
			t.Fatalf("produce: exit %d: %s", code, errOut)
		}
	}
	has := func(f *invokeAPI, vs ...string) bool {
		got := strings.Join(f.got(), " ") + " "
		for _, v := range vs {
			if !strings.Contains(got, v+" ") {
				return false
			}
		}
		return true
	}
	waitGot := func(f *invokeAPI, vs ...string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !has(f, vs...) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	const group = "5f8b1a7e-2c1d-4e3f-9a0b-1c2d3e4f5a6b"
	f := newInvokeAPI(t, func(map[string]any) string { return "null" })
	esmArgs := []string{"esm", "--topic", "orders", "--function", f.url, "--group-id", group, "--batching-window", "0s", "--json"}

	produceTo("0", "a0")
	stop := runInBackground(t, append(esmArgs, "--starting-position", "TRIM_HORIZON")...)
	waitGot(f, "a0")
	_, errOut, code := stop()
	if !has(f, "a0") || code != 0 || !strings.Contains(errOut, "partitions assigned: orders-0 at offset 0 (TRIM_HORIZON); orders-1 at offset 0 (TRIM_HORIZON); orders-2 at offset 0 (TRIM_HORIZON)") {
		t.Fatalf("first run: function got %v, exit %d, stderr:\n%s", f.got(), code, errOut)
	}

	produceTo("1", "b1")
	produceTo("2", "b2")
	stop = runInBackground(t, esmArgs...)
	waitGot(f, "b1", "b2")
	out, errOut, code := stop()
	if !has(f, "b1", "b2") || code != 0 {
		t.Fatalf("resumed without --starting-position: function got %v, want b1 and b2; exit %d, stderr:\n%s", f.got(), code, errOut)
	}
	if !strings.Contains(errOut, "orders-0 at committed offset 1; orders-1 at committed offset 0; orders-2 at committed offset 0") ||
		!strings.Contains(out, `{"type":"assigned"`) || !strings.Contains(out, `"partition":1,"offset":0,"from":"committed"`) || strings.Contains(errOut, "no effect") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}

	produceTo("0", "c0")
	stop = runInBackground(t, append(esmArgs, "--starting-position", "LATEST")...)
	waitGot(f, "c0")
	_, errOut, _ = stop()
	if !has(f, "c0") || !strings.Contains(errOut, "the starting position LATEST has no effect") || !strings.Contains(errOut, "the group started at TRIM_HORIZON") {
		t.Errorf("resumed with LATEST: function got %v, stderr:\n%s", f.got(), errOut)
	}
	if n := len(f.got()); n != 4 {
		t.Errorf("function got %v: want a0, b1, b2, c0 once each", f.got())
	}
}
