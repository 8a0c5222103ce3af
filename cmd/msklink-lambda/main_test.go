package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestNoKfakeLinked checks that the bootstrap does not link the Kafka
// emulator (kfake, package emulator), test-only code, aws-lambda-go's
// runtime loop (internal/lambdaruntime serves it) or, built with
// testutil.LambdaTags, the AWS SDK's config loader and the SSO clients it
// brings.
func TestNoKfakeLinked(t *testing.T) {
	deps := testutil.Deps(t, ".", testutil.LambdaTags)
	if len(deps) < 50 {
		t.Fatalf("suspiciously few deps: %v", deps)
	}
	for _, d := range deps {
		if strings.Contains(d, "kfake") || d == "github.com/msklink/msklink/emulator" || d == "testing" ||
			d == "github.com/aws/aws-lambda-go/lambda" || d == "github.com/aws/aws-sdk-go-v2/config" || strings.HasPrefix(d, "github.com/aws/aws-sdk-go-v2/service/sso") {
			t.Errorf("the bootstrap links %s", d)
		}
	}
}

// TestBuildArchitectures builds the bootstrap as Lambda runs it, for both
// architectures.
func TestBuildArchitectures(t *testing.T) {
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			buildBootstrap(t, arch)
		})
	}
}

// buildBootstrap builds the bootstrap as Lambda runs it (the shared
// harness: testutil.BuildLambda) and returns its path.
func buildBootstrap(t *testing.T, arch string) string { return testutil.BuildLambda(t, ".", arch) }

func rieBinary(t *testing.T) string { return testutil.RIEBinary(t) }

type syncBuf = testutil.SyncBuffer

const topic = "events"

func startEmulator(t *testing.T, opts ...emulator.Opt) (*emulator.Cluster, *syncBuf) {
	t.Helper()
	logs := &syncBuf{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{
		emulator.Ephemeral(), emulator.WithTopic(topic, 3),
		emulator.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

func iamConfig(c *emulator.Cluster) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers: c.BootstrapAddrs(emulator.IAM), Auth: kafkaconn.AuthIAM, Region: c.Region(),
		TLSCAFile:   c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

// startRIE runs the bootstrap under aws-lambda-rie (the shared harness,
// testutil.StartRIE) against the emulator's IAM listener. timeoutSec is
// AWS_LAMBDA_FUNCTION_TIMEOUT; extra adds environment.
func startRIE(t *testing.T, c *emulator.Cluster, bootstrap string, timeoutSec int, extra ...string) *testutil.RIE {
	t.Helper()
	return testutil.StartRIE(t, bootstrap, timeoutSec, append([]string{
		"MSK_BOOTSTRAP_SERVERS=" + c.Bootstrap(emulator.IAM),
		"MSK_TLS_CA_FILE=" + c.CAFile(),
		"MSK_REGION=" + c.Region(),
		"MSK_TOPIC=" + topic,
		"AWS_ACCESS_KEY_ID=" + emulator.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + emulator.DefaultSecretAccessKey,
	}, extra...)...)
}

// consume reads n records of topic back from the emulator.
func consume(t *testing.T, c *emulator.Cluster, n int) []*kgo.Record {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), iamConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	// Anything more than n is a duplicate or a stray: look briefly.
	return testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics(topic)), n, 15*time.Second, 300*time.Millisecond)
}

func directPayload(values ...string) []byte {
	type rec struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	var p struct {
		Records []rec `json:"records"`
	}
	for _, v := range values {
		p.Records = append(p.Records, rec{Key: "k-" + v, Value: v})
	}
	b, _ := json.Marshal(p)
	return b
}

func decodeDirect(t *testing.T, b []byte) lambdafn.DirectResponse {
	t.Helper()
	var d lambdafn.DirectResponse
	if err := json.Unmarshal(b, &d); err != nil || d.Results == nil {
		t.Fatalf("not a direct response: %s (%v)", b, err)
	}
	return d
}

// TestRIEEventSources invokes the real bootstrap under the Runtime
// Interface Emulator once per event source and consumes every record back.
func TestRIEEventSources(t *testing.T) {
	rieBinary(t)
	c, _ := startEmulator(t)
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 30)

	// direct
	out, el := r.Invoke(t, directPayload("d1", "d2"), 30*time.Second)
	d := decodeDirect(t, out)
	if d.Acked != 2 {
		t.Fatalf("direct: %s", out)
	}
	t.Logf("first invocation (Init included): %v", el.Round(time.Millisecond))

	// SQS
	sqs := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: "s1", EventSource: "aws:sqs"},
		{MessageId: "m2", Body: "s2", EventSource: "aws:sqs"},
	}}
	out, el = r.Invoke(t, sqs, 30*time.Second)
	var sr events.SQSEventResponse
	if err := json.Unmarshal(out, &sr); err != nil || len(sr.BatchItemFailures) != 0 {
		t.Fatalf("sqs: %s", out)
	}
	t.Logf("warm SQS invocation: %v", el.Round(time.Millisecond))

	// API Gateway HTTP API / function URL
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /topics/{topic}", RawPath: "/topics/" + topic,
		Headers:         map[string]string{"content-type": lambdafn.ContentTypeKafkaBinary},
		Body:            base64.StdEncoding.EncodeToString([]byte(`{"records":[{"key":"` + base64.StdEncoding.EncodeToString([]byte("ka")) + `","value":"` + base64.StdEncoding.EncodeToString([]byte("a1")) + `"}]}`)),
		IsBase64Encoded: true,
	}
	req.RequestContext.HTTP.Method = "POST"
	out, _ = r.Invoke(t, req, 30*time.Second)
	var ar events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &ar); err != nil || ar.StatusCode != 200 || !strings.Contains(ar.Body, `"offsets":[{"partition":`) {
		t.Fatalf("apigw: %s", out)
	}

	// EventBridge
	eb := events.EventBridgeEvent{Version: "0", ID: "eb-1", DetailType: "Thing Happened", Source: "e2e", Detail: json.RawMessage(`{"e": 1}`)}
	out, _ = r.Invoke(t, eb, 30*time.Second)
	var er lambdafn.EventBridgeResponse
	if err := json.Unmarshal(out, &er); err != nil || er.Topic != topic {
		t.Fatalf("eventbridge: %s", out)
	}

	// Invalid input: an error naming the field, with its errorType.
	out, _ = r.Invoke(t, []byte(`{"records": [{"value": {"base64": "%%"}}]}`), 30*time.Second)
	var lerr struct{ ErrorType, ErrorMessage string }
	if err := json.Unmarshal(out, &lerr); err != nil || lerr.ErrorType != "InputError" || !strings.Contains(lerr.ErrorMessage, "records[0].value.base64") {
		t.Fatalf("invalid input: %s", out)
	}

	got := consume(t, c, 6)
	want := map[string]string{"k-d1": "d1", "k-d2": "d2", "": "", "ka": "a1", "eb-1": `{"e":1}`}
	var seen []string
	for _, rec := range got {
		k, v := string(rec.Key), string(rec.Value)
		seen = append(seen, k+"="+v)
		if k == "" {
			if v != "s1" && v != "s2" {
				t.Errorf("unexpected record %q=%q", k, v)
			}
			continue
		}
		if want[k] != v {
			t.Errorf("record %q=%q, want %q", k, v, want[k])
		}
	}
	if len(got) != 6 {
		t.Errorf("consumed %d records, want 6: %v", len(got), seen)
	}
	// One EMF line per invocation, ColdStart on the first only.
	outText := r.Output.String()
	if n := strings.Count(outText, `"ColdStart":1`); n != 1 {
		t.Errorf("%d ColdStart metrics", n)
	}
	if !strings.Contains(outText, `"ConnectionSetup":`) || !strings.Contains(outText, `"requestId":"`) {
		t.Errorf("no ConnectionSetup metric or request id in the output:\n%s", outText)
	}
}

// TestRIEFreezeThaw stops the bootstrap (as Lambda freezes an idle
// environment) past the emulator's idle-connection close, resumes it and
// invokes again: the records go through, none lost or duplicated.
func TestRIEFreezeThaw(t *testing.T) {
	rieBinary(t)
	const idle = 1500 * time.Millisecond
	c, _ := startEmulator(t, emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(idle)}))
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 30, "AWS_LAMBDA_LOG_LEVEL="+os.Getenv("MSKLINK_E2E_LOG_LEVEL"))
	out, _ := r.Invoke(t, directPayload("before"), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("before: %s", out)
	}
	pids := r.BootstrapPIDs()
	if len(pids) != 1 {
		t.Fatalf("bootstrap processes: %v", pids)
	}
	conns := func() int {
		n := 0
		for id := int32(0); c.Broker(id) != nil; id++ {
			n += c.Listener(id, emulator.IAM).Conns()
		}
		return n
	}
	before := conns()
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*idle + 500*time.Millisecond)
	after := conns()
	if err := syscall.Kill(pids[0], syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("IAM connections: %d before the freeze, %d after %v frozen", before, after, 2*idle+500*time.Millisecond)
	if after != 0 {
		t.Errorf("the emulator kept %d connections past its idle close", after)
	}
	var els []time.Duration
	for i := range 3 {
		out, el := r.Invoke(t, directPayload(fmt.Sprintf("after-%d", i)), 30*time.Second)
		if d := decodeDirect(t, out); d.Acked != 1 {
			t.Fatalf("after thaw, invocation %d: %s", i, out)
		}
		els = append(els, el.Round(time.Millisecond))
	}
	t.Logf("invocations after the thaw: %v", els)
	got := consume(t, c, 4)
	if len(got) != 4 {
		t.Errorf("consumed %d records, want 4", len(got))
	}
}

// TestRIEImpossibleDeadline injects a latency longer than the function's
// timeout: the function answers before Lambda's deadline, with unconfirmed
// outcomes, and RIE never reports a timeout.
func TestRIEImpossibleDeadline(t *testing.T) {
	rieBinary(t)
	c, _ := startEmulator(t)
	const timeoutSec = 3
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), timeoutSec)
	out, _ := r.Invoke(t, directPayload("warm"), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("warm-up: %s", out)
	}
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 10 * time.Second})
	}
	out, el := r.Invoke(t, directPayload("a", "b", "c"), 20*time.Second)
	if strings.Contains(string(out), "timed out") {
		t.Fatalf("Lambda timeout after %v: %s", el, out)
	}
	d := decodeDirect(t, out)
	if d.Acked != 0 || d.Unconfirmed+d.Failed != 3 || d.Unconfirmed == 0 {
		t.Fatalf("response %s", out)
	}
	if el >= timeoutSec*time.Second {
		t.Errorf("answered after %v, past the %ds timeout", el, timeoutSec)
	}
	t.Logf("answered in %v of %ds: %d unconfirmed, %d failed", el.Round(time.Millisecond), timeoutSec, d.Unconfirmed, d.Failed)
	// SQS: the same records come back as batch item failures.
	sqs := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: "x", EventSource: "aws:sqs"}}}
	out, el = r.Invoke(t, sqs, 20*time.Second)
	var sr events.SQSEventResponse
	if err := json.Unmarshal(out, &sr); err != nil || len(sr.BatchItemFailures) != 1 || el >= timeoutSec*time.Second {
		t.Fatalf("sqs after %v: %s", el, out)
	}
}

// TestRIENoSecretsInLogs collects every log line of a run (RIE and the
// bootstrap at debug level, the emulator, and an in-process handler) and
// looks for credentials and tokens.
func TestRIENoSecretsInLogs(t *testing.T) {
	rieBinary(t)
	c, emuLogs := startEmulator(t)
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 5, "AWS_LAMBDA_LOG_LEVEL=DEBUG")
	r.Invoke(t, directPayload("x"), 30*time.Second)
	r.Invoke(t, []byte(`{"hello": 1}`), 30*time.Second)
	sqs := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: "x", EventSource: "aws:sqs"}}}
	r.Invoke(t, sqs, 30*time.Second)

	inproc := &syncBuf{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cfg := iamConfig(c)
	cfg.Topic = topic
	h, err := lambdafn.New(ctx, lambdafn.WithConfig(cfg), lambdafn.WithGetenv(func(string) string { return "" }),
		lambdafn.WithLogger(slog.New(lambdafn.RequestIDHandler(slog.NewJSONHandler(inproc, &slog.HandlerOptions{Level: slog.LevelDebug})))),
		lambdafn.WithMetricsWriter(inproc))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.Invoke(ctx, directPayload("y")); err != nil {
		t.Fatal(err)
	}
	// A failed authentication is logged too: sign with a wrong secret.
	bad := iamConfig(c)
	bad.Credentials = credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, "wrong-secret-do-not-log-0123456789", "session-token-do-not-log")
	bad.Topic = topic
	h2, err := lambdafn.New(ctx, lambdafn.WithConfig(bad), lambdafn.WithGetenv(func(string) string { return "" }),
		lambdafn.WithLogger(slog.New(slog.NewJSONHandler(inproc, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		lambdafn.WithMetricsWriter(inproc), lambdafn.WithWarmTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	h2.Close()

	all := r.Output.String() + emuLogs.String() + inproc.String()
	for _, want := range []string{`"requestId"`, "authn", "ConnectionSetup"} {
		if !strings.Contains(all, want) {
			t.Errorf("the collected logs lack %s: the test would prove nothing", want)
		}
	}
	secrets := []string{emulator.DefaultSecretAccessKey, emulator.DefaultSCRAMPassword,
		"wrong-secret-do-not-log", "session-token-do-not-log",
		"X-Amz-Signature=", "x-amz-signature", "auth=Bearer", "aHR0cHM6Ly9rYWZrYS"}
	for _, s := range secrets {
		if i := strings.Index(all, s); i >= 0 {
			t.Errorf("%q found in the logs: ...%s...", s[:6], all[max(0, i-200):min(len(all), i+50)])
		}
	}
	t.Logf("scanned %d log lines", strings.Count(all, "\n"))
}

// TestRIESIGTERM checks the shutdown: RIE sends SIGTERM to the bootstrap
// (enabled by lambdaruntime.Options.OnSIGTERM), which closes its Kafka client and
// exits instead of being killed.
func TestRIESIGTERM(t *testing.T) {
	rieBinary(t)
	c, _ := startEmulator(t)
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 30)
	out, _ := r.Invoke(t, directPayload("x"), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("%s", out)
	}
	pids := r.BootstrapPIDs()
	if len(pids) != 1 {
		t.Fatalf("bootstrap processes: %v", pids)
	}
	r.Stop(t)
	text := r.Output.String()
	if !strings.Contains(text, `"message":"kafka client closed"`) {
		t.Errorf("the bootstrap did not close its client on SIGTERM:\n%s", text)
	}
	if strings.Contains(text, "did not exit after deadline") {
		t.Errorf("the bootstrap was killed instead of exiting:\n%s", text)
	}
	if err := syscall.Kill(pids[0], 0); err == nil {
		t.Errorf("bootstrap process %d still alive", pids[0])
	}
}

// TestRIEPeakRSS publishes 10,000 records in one direct invocation and
// reports the bootstrap's peak RSS (VmHWM) and RIE's Init duration.
func TestRIEPeakRSS(t *testing.T) {
	rieBinary(t)
	if testing.Short() {
		t.Skip("10,000 records")
	}
	c, _ := startEmulator(t)
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 60)
	out, el0 := r.Invoke(t, directPayload("first"), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("%s", out)
	}
	pids := r.BootstrapPIDs()
	if len(pids) != 1 {
		t.Fatalf("bootstrap processes: %v", pids)
	}
	hwm := func() string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pids[0]))
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "VmHWM:") {
				return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
			}
		}
		return "?"
	}
	afterInit := hwm()
	const n = 10000
	values := make([]string, n)
	for i := range values {
		values[i] = fmt.Sprintf("record-%05d-%s", i, strings.Repeat("x", 80))
	}
	payload := directPayload(values...)
	out, el := r.Invoke(t, payload, 60*time.Second)
	d := decodeDirect(t, out)
	if d.Acked != n {
		t.Fatalf("%d acked, %d failed, %d unconfirmed", d.Acked, d.Failed, d.Unconfirmed)
	}
	initMs := "?"
	if i := strings.Index(r.Output.String(), "INIT REPORT(durationMs: "); i >= 0 {
		rest := r.Output.String()[i+len("INIT REPORT(durationMs: "):]
		initMs = rest[:strings.IndexByte(rest, ')')]
	}
	t.Logf("Init %s ms (RIE), first invocation %v; %d records (%.1f MB payload) in %v; peak RSS %s after Init, %s after 10,000 records",
		initMs, el0.Round(time.Millisecond), n, float64(len(payload))/1e6, el.Round(time.Millisecond), afterInit, hwm())
	if got := consume(t, c, n+1); len(got) != n+1 {
		t.Errorf("consumed %d records, want %d", len(got), n+1)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want int64 // 0: none
	}{
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 108 << 20},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 896 << 20},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "GOMEMLIMIT": "100MiB"}, 0}, // the user's wins
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0},
		{map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "16"}, 0},
		{map[string]string{}, 0},
	} {
		got, ok := memoryLimit(func(k string) string { return tc.env[k] })
		if !ok {
			got = 0
		}
		if got != tc.want {
			t.Errorf("%v: limit %d, want %d", tc.env, got, tc.want)
		}
	}
}
