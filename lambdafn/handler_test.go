package lambdafn

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDirectRoundTrip(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	payload := `{"topic": "events", "records": [
		{"key": "k1", "value": "plain text"},
		{"value": {"order": 42, "items": [1, 2]}, "headers": {"h1": "v1", "h2": {"base64": "AAEC"}}},
		{"key": {"base64": "/wA="}, "value": {"base64": "aGVsbG8="}, "partition": 2},
		{"value": 12.50},
		{"key": null, "value": null}
	]}`
	out, err := th.invoke(t, 10*time.Second, payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp DirectResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Acked != 5 || resp.Failed != 0 || resp.Unconfirmed != 0 || len(resp.Results) != 5 {
		t.Fatalf("response %s", out)
	}
	if *resp.Results[2].Partition != 2 {
		t.Errorf("pinned record went to partition %d", *resp.Results[2].Partition)
	}
	want := []struct {
		key, value string
		headers    map[string]string
	}{
		{"k1", "plain text", nil},
		{"", `{"order":42,"items":[1,2]}`, map[string]string{"h1": "v1", "h2": "\x00\x01\x02"}},
		{"\xff\x00", "hello", nil},
		{"", "12.50", nil},
		{"", "", nil},
	}
	got := consume(t, c, testTopic, 5)
	at := map[string]*kgo.Record{}
	for _, r := range got {
		at[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = r
	}
	for i, res := range resp.Results {
		r := at[fmt.Sprintf("%d/%d", *res.Partition, *res.Offset)]
		if r == nil {
			t.Fatalf("record %d (%d/%d) not consumed", i, *res.Partition, *res.Offset)
		}
		if string(r.Key) != want[i].key || string(r.Value) != want[i].value {
			t.Errorf("record %d: key %q value %q, want %q %q", i, r.Key, r.Value, want[i].key, want[i].value)
		}
		if len(r.Headers) != len(want[i].headers) {
			t.Errorf("record %d: headers %v", i, r.Headers)
		}
		for _, hd := range r.Headers {
			if want[i].headers[hd.Key] != string(hd.Value) {
				t.Errorf("record %d: header %s=%q", i, hd.Key, hd.Value)
			}
		}
	}
	if !strings.Contains(th.logs.String(), `"requestId":"req-TestDirectRoundTrip"`) {
		t.Errorf("no request id in logs:\n%s", th.logs.String())
	}
}

// TestInvalidBatches checks that an invalid batch names the field and
// writes nothing, not even its valid records.
func TestInvalidBatches(t *testing.T) {
	c, _ := startEmulator(t, emulator.WithTopic("small", 1))
	setMaxMessageBytes(t, c, "small", 2000)
	th := newHandler(t, c)
	th2 := newHandler(t, c, WithConfig(iamConfig(c, ""))) // no MSK_TOPIC
	big := strings.Repeat("x", 3000)
	tests := []struct {
		name, payload, field string
		h                    *testHandler
	}{
		{"not json", `{"topic": "events", "records": [`, "", th},
		{"not an object", `[1,2]`, "", th},
		{"unknown shape", `{"hello": "world"}`, "", th},
		{"missing topic", `{"records": [{"value": "a"}]}`, "topic", th2},
		{"records not array", `{"topic": "events", "records": {"value": "a"}}`, "records", th},
		{"empty records", `{"topic": "events", "records": []}`, "records", th},
		{"unknown field", `{"topic": "events", "records": [{"value": "a"}, {"valeu": "b"}]}`, "records[1].valeu", th},
		{"bad base64", `{"topic": "events", "records": [{"value": "a"}, {"value": "b"}, {"value": {"base64": "!!"}}]}`, "records[2].value.base64", th},
		{"negative partition", `{"topic": "events", "records": [{"value": "a", "partition": -1}]}`, "records[0].partition", th},
		{"partition out of range", `{"topic": "events", "records": [{"value": "a"}, {"value": "a", "partition": 3}]}`, "records[1].partition", th},
		{"bad header", `{"topic": "events", "records": [{"value": "a", "headers": ["x"]}]}`, "records[0].headers", th},
		{"unknown topic", `{"topic": "nope", "records": [{"value": "a"}]}`, "topic", th},
		{"oversize", `{"topic": "small", "records": [{"value": "ok"}, {"value": "ok"}, {"value": "ok"}, {"value": "` + big + `"}]}`, "records[3].value", th},
		{"bad doctor command", `{"msklink": "fix-it"}`, "msklink", th},
		{"doctor not wired", `{"msklink": "doctor"}`, "msklink", th},
		{"unsupported Records", `{"Records": [{"eventSource": "aws:s3"}]}`, "Records[0].eventSource", th},
		{"rest api v1", `{"requestContext": {}, "httpMethod": "POST"}`, "httpMethod", th},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tc.h.invoke(t, 10*time.Second, tc.payload)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("got %s, %v; want an *InputError", out, err)
			}
			if ie.Field != tc.field {
				t.Errorf("field %q, want %q (%v)", ie.Field, tc.field, err)
			}
			t.Logf("%v", err)
		})
	}
	for _, topic := range []string{"events", "small"} {
		if n := endOffsets(t, c, topic); n != 0 {
			t.Errorf("%d records written to %s by invalid batches", n, topic)
		}
	}
	// The limit is read once per topic: a valid record under it goes.
	out, err := th.invoke(t, 10*time.Second, `{"topic": "small", "records": [{"value": "`+strings.Repeat("y", 1500)+`"}]}`)
	if err != nil || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("%s %v", out, err)
	}
}

func sqsEvent(msgs ...events.SQSMessage) events.SQSEvent {
	for i := range msgs {
		msgs[i].EventSource = "aws:sqs"
		msgs[i].EventSourceARN = "arn:aws:sqs:us-east-1:000000000000:q"
	}
	return events.SQSEvent{Records: msgs}
}

func strAttr(v string) events.SQSMessageAttribute {
	return events.SQSMessageAttribute{StringValue: &v, DataType: "String"}
}

func TestSQS(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	ev := sqsEvent(
		events.SQSMessage{MessageId: "m1", Body: `{"a":1}`, MessageAttributes: map[string]events.SQSMessageAttribute{"key": strAttr("k1")}},
		events.SQSMessage{MessageId: "m2", Body: "to other", MessageAttributes: map[string]events.SQSMessageAttribute{"topic": strAttr("other")}},
		events.SQSMessage{MessageId: "m3", Body: "no such topic", MessageAttributes: map[string]events.SQSMessageAttribute{"topic": strAttr("nope")}},
		events.SQSMessage{MessageId: "m4", Body: "plain"},
	)
	out, err := th.invoke(t, 10*time.Second, ev)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "m3" {
		t.Fatalf("response %s", out)
	}
	got := consume(t, c, testTopic, 2)
	ids := map[string]string{}
	for _, r := range got {
		ids[string(r.Headers[0].Value)] = string(r.Key) + "=" + string(r.Value)
	}
	if ids["m1"] != `k1={"a":1}` || ids["m4"] != "=plain" {
		t.Errorf("consumed %v", ids)
	}
	if o := consume(t, c, "other", 1); string(o[0].Value) != "to other" {
		t.Errorf("other: %q", o[0].Value)
	}
}

// TestSQSUnconfirmedAreRetried checks that records without an answer
// before the deadline come back as batch item failures.
func TestSQSUnconfirmedAreRetried(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	setLatency(c, 3*time.Second)
	ev := sqsEvent(events.SQSMessage{MessageId: "a", Body: "1"}, events.SQSMessage{MessageId: "b", Body: "2"})
	start := time.Now()
	out, err := th.invoke(t, 1500*time.Millisecond, ev)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("answered after %v, past the deadline", el)
	}
	var resp events.SQSEventResponse
	json.Unmarshal(out, &resp)
	if len(resp.BatchItemFailures) != 2 {
		t.Fatalf("response %s", out)
	}
}

func setLatency(c *emulator.Cluster, d time.Duration) {
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: d})
	}
}

func apigwRequest(method, path, ctype, body string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST /topics/{topic}", RawPath: path,
		Headers: map[string]string{}, Body: body,
	}
	if ctype != "" {
		req.Headers["content-type"] = ctype
	}
	req.RequestContext.HTTP.Method = method
	req.RequestContext.HTTP.Path = path
	return req
}

func TestAPIGateway(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		code   int // REST Proxy error_code of an error answer
	}{
		{"json", apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"records": [{"key": "k", "value": {"x": 1}}, {"value": "s", "partition": 1}]}`), 200, 0},
		{"binary", apigwRequest("POST", "/prod/topics/events", ContentTypeKafkaBinary+"; charset=utf-8", `{"records": [{"key": "`+b64([]byte("kb"))+`", "value": "`+b64([]byte{0, 1})+`"}]}`), 200, 0},
		{"no such path", apigwRequest("POST", "/things/events", ContentTypeKafkaJSON, `{}`), 404, 404},
		{"GET", apigwRequest("GET", "/topics/events", ContentTypeKafkaJSON, ``), 405, 405},
		{"avro", apigwRequest("POST", "/topics/events", "application/vnd.kafka.avro.v2+json", `{}`), 415, 415},
		{"no content type", apigwRequest("POST", "/topics/events", "", `{}`), 415, 415},
		{"malformed", apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"records": [`), 400, 400},
		{"invalid record", apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"records": [{"value": 1}, {"value": 2, "partition": 7}]}`), 422, 42200},
		{"binary not base64", apigwRequest("POST", "/topics/events", ContentTypeKafkaBinary, `{"records": [{"value": {"x": 1}}]}`), 422, 42200},
		{"schema", apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"value_schema_id": 1, "records": [{"value": 1}]}`), 422, 42200},
		{"unknown topic", apigwRequest("POST", "/topics/nope", ContentTypeKafkaJSON, `{"records": [{"value": 1}]}`), 404, 40401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := th.invoke(t, 10*time.Second, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}
			if tc.status == http.StatusMethodNotAllowed && resp.Headers["Allow"] != "POST" {
				t.Errorf("405 without Allow: %v", resp.Headers)
			}
			if tc.code != 0 {
				var e RESTError
				if err := json.Unmarshal([]byte(resp.Body), &e); err != nil || e.ErrorCode != tc.code || e.Message == "" {
					t.Errorf("error body %s, want error_code %d", resp.Body, tc.code)
				}
				return
			}
			var pr RESTProduceResponse
			if err := json.Unmarshal([]byte(resp.Body), &pr); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(resp.Body, `"key_schema_id":null`) {
				t.Errorf("body %s", resp.Body)
			}
			for i, o := range pr.Offsets {
				if o.Partition == nil || o.Offset == nil || o.ErrorCode != nil {
					t.Errorf("offset %d: %s", i, resp.Body)
				}
			}
		})
	}
	got := consume(t, c, testTopic, 3)
	vals := map[string]string{}
	for _, r := range got {
		vals[string(r.Key)] = string(r.Value)
	}
	// REST Proxy's JSON format writes keys and values as JSON text.
	if vals[`"k"`] != `{"x":1}` || vals[""] != `"s"` || vals["kb"] != "\x00\x01" {
		t.Errorf("consumed %q", vals)
	}
}

func TestAPIGatewayBrokerTrouble(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	setLatency(c, 3*time.Second)
	out, err := th.invoke(t, 1500*time.Millisecond, apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"records": [{"value": 1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	json.Unmarshal(out, &resp)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(resp.Body, `"error_code":50003`) {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
}

func ebEvent(id string, detail string) events.EventBridgeEvent {
	return events.EventBridgeEvent{
		Version: "0", ID: id, DetailType: "Order Placed", Source: "shop.orders",
		AccountID: "000000000000", Time: time.Now().UTC(), Region: "us-east-1",
		Detail: json.RawMessage(detail),
	}
}

func TestEventBridge(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	out, err := th.invoke(t, 10*time.Second, ebEvent("ev-1", `{"order": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	var resp EventBridgeResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.Topic != testTopic {
		t.Fatalf("%s %v", out, err)
	}
	got := consume(t, c, testTopic, 1)[0]
	if string(got.Key) != "ev-1" || string(got.Value) != `{"order":7}` || got.Partition != resp.Partition || got.Offset != resp.Offset {
		t.Errorf("consumed %q=%q at %d/%d, response %s", got.Key, got.Value, got.Partition, got.Offset, out)
	}
	// Not acked: a *PublishError, so Lambda retries the async invoke.
	setLatency(c, 3*time.Second)
	_, err = th.invoke(t, 1500*time.Millisecond, ebEvent("ev-2", `{}`))
	var pe *PublishError
	if !errors.As(err, &pe) || !pe.Retriable || pe.Unconfirmed+pe.Failed != 1 {
		t.Fatalf("got %v, want a retriable *PublishError", err)
	}
}

// TestDeadlineImpossible injects a latency that makes the deadline
// impossible: the handler answers before the deadline with unconfirmed
// outcomes.
func TestDeadlineImpossible(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	setLatency(c, 5*time.Second)
	const timeout = 2 * time.Second
	start := time.Now()
	out, err := th.invoke(t, timeout, `{"records": [{"value": "a"}, {"value": "b"}, {"value": "c"}]}`)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if el >= timeout {
		t.Fatalf("answered after %v, deadline %v", el, timeout)
	}
	var resp DirectResponse
	json.Unmarshal(out, &resp)
	if resp.Acked != 0 || resp.Unconfirmed+resp.Failed != 3 {
		t.Fatalf("response %s", out)
	}
	for _, r := range resp.Results {
		if !r.Retriable || r.Error == "" {
			t.Errorf("result %+v", r)
		}
	}
	t.Logf("answered in %v of %v: %s", el.Round(time.Millisecond), timeout, out)
}

// TestDirectErrors: with WithDirectErrors (for asynchronous invokes, whose
// answers Lambda discards) records not acked make the invocation fail, so
// Lambda retries the event; an all-acked invocation answers as usual.
func TestDirectErrors(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c, WithDirectErrors(true))
	if out, err := th.invoke(t, 5*time.Second, `{"records": [{"value": "ok"}]}`); err != nil {
		t.Fatalf("all acked: %s %v", out, err)
	}
	setLatency(c, 5*time.Second)
	out, err := th.invoke(t, 2*time.Second, `{"records": [{"value": "a"}, {"value": "b"}]}`)
	var pe *PublishError
	if !errors.As(err, &pe) || pe.Failed+pe.Unconfirmed != 2 || !pe.Retriable || pe.Topic != testTopic {
		t.Fatalf("not acked: %s %v (%+v)", out, err, pe)
	}
}

func TestDirectErrorsFromEnv(t *testing.T) {
	c, _ := startEmulator(t)
	env := map[string]string{"MSK_DIRECT_ERRORS": "maybe"}
	_, err := New(context.Background(), WithConfig(iamConfig(c, testTopic)), WithGetenv(func(k string) string { return env[k] }),
		WithWarmTimeout(0), WithMetricsWriter(nil))
	if err == nil || !strings.Contains(err.Error(), `MSK_DIRECT_ERRORS="maybe"`) {
		t.Errorf("bad MSK_DIRECT_ERRORS: %v", err)
	}
}

func TestDoctorHook(t *testing.T) {
	c, _ := startEmulator(t)
	var gotTopic string
	th := newHandler(t, c, WithDoctor(func(ctx context.Context, topic string) (json.RawMessage, error) {
		gotTopic = topic
		return json.RawMessage(`{"verdict":"ok"}`), nil
	}))
	out, err := th.invoke(t, 5*time.Second, `{"msklink": "doctor", "topic": "other"}`)
	if err != nil || string(out) != `{"verdict":"ok"}` || gotTopic != "other" {
		t.Fatalf("%s %v %q", out, err, gotTopic)
	}
	out, err = th.invoke(t, 5*time.Second, `{"msklink": "doctor"}`)
	if err != nil || gotTopic != testTopic {
		t.Fatalf("%s %v %q", out, err, gotTopic)
	}
}

// TestForcedSource checks WithEventSource and MSK_EVENT_SOURCE.
func TestForcedSource(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c, WithGetenv(func(k string) string {
		if k == "MSK_EVENT_SOURCE" {
			return "eventbridge"
		}
		return ""
	}))
	// A direct payload read as EventBridge lacks an id.
	_, err := th.invoke(t, 5*time.Second, `{"records": [{"value": "a"}]}`)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "id" {
		t.Fatalf("got %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := New(ctx, WithConfig(iamConfig(c, "")), WithWarmTimeout(0), WithMetricsWriter(nil),
		WithGetenv(func(k string) string { return map[string]string{"MSK_EVENT_SOURCE": "kinesis"}[k] })); err == nil || !strings.Contains(err.Error(), "MSK_EVENT_SOURCE") {
		t.Errorf("bad MSK_EVENT_SOURCE: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	if _, err := th.invoke(t, 10*time.Second, `{"records": [{"value": "a"}, {"value": "b"}]}`); err != nil {
		t.Fatal(err)
	}
	if _, err := th.invoke(t, 10*time.Second, sqsEvent(events.SQSMessage{MessageId: "x", Body: "y"})); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(th.metrics.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d metric lines:\n%s", len(lines), th.metrics.String())
	}
	type emf struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		FunctionName, EventSource                       string
		RecordsAcked, RecordsFailed, RecordsUnconfirmed *int
		PublishLatency, ConnectionSetup                 *float64
		ColdStart                                       *int
	}
	var ms [3]emf
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &ms[i]); err != nil {
			t.Fatal(err)
		}
		if ms[i].AWS.CloudWatchMetrics[0].Namespace != "msklink" || ms[i].FunctionName != "test-fn" || ms[i].AWS.Timestamp == 0 {
			t.Errorf("line %d: %s", i, l)
		}
		// Every metric named in the directive has a value.
		var doc map[string]any
		json.Unmarshal([]byte(l), &doc)
		for _, m := range ms[i].AWS.CloudWatchMetrics[0].Metrics {
			if _, ok := doc[m.Name]; !ok {
				t.Errorf("line %d: metric %s has no value", i, m.Name)
			}
		}
		for _, d := range ms[i].AWS.CloudWatchMetrics[0].Dimensions[0] {
			if _, ok := doc[d]; !ok {
				t.Errorf("line %d: dimension %s has no value", i, d)
			}
		}
	}
	if ms[0].ConnectionSetup == nil || *ms[0].ConnectionSetup <= 0 {
		t.Errorf("init line: %s", lines[0])
	}
	if ms[1].EventSource != "direct" || *ms[1].RecordsAcked != 2 || ms[1].ColdStart == nil || *ms[1].ColdStart != 1 || ms[1].PublishLatency == nil {
		t.Errorf("first invocation: %s", lines[1])
	}
	if ms[2].EventSource != "sqs" || *ms[2].RecordsAcked != 1 || ms[2].ColdStart != nil {
		t.Errorf("second invocation: %s", lines[2])
	}
	t.Logf("connection setup %.1f ms, first publish %.1f ms", *ms[0].ConnectionSetup, *ms[1].PublishLatency)
}

// TestNoSecretsInLogs runs every kind of invocation, failures included,
// with debug logs from the handler, the publisher, franz-go and the
// emulator, and looks for the credentials and tokens in them.
func TestNoSecretsInLogs(t *testing.T) {
	c, emuLogs := startEmulator(t)
	th := newHandler(t, c)
	th.invoke(t, 10*time.Second, `{"records": [{"value": "a"}]}`)
	th.invoke(t, 10*time.Second, sqsEvent(events.SQSMessage{MessageId: "x", Body: "y"}))
	th.invoke(t, 10*time.Second, apigwRequest("POST", "/topics/events", ContentTypeKafkaJSON, `{"records": [{"value": 1}]}`))
	th.invoke(t, 10*time.Second, ebEvent("e", `{}`))
	th.invoke(t, 10*time.Second, `{"records": [{"value": {"base64": "%%"}}]}`)
	setLatency(c, 2*time.Second)
	th.invoke(t, 1*time.Second, `{"records": [{"value": "late"}]}`)
	all := th.logs.String() + th.metrics.String() + emuLogs.String()
	if !strings.Contains(all, "requestId") {
		t.Fatalf("no logs captured:\n%s", all)
	}
	for _, secret := range secretsOf(t, c) {
		if strings.Contains(all, secret) {
			t.Errorf("secret %.6s... found in logs", secret)
		}
	}
}

// secretsOf lists what must never be logged: the emulator identities'
// secret keys and session tokens, SCRAM passwords, and the signatures and
// tokens a client presents.
func secretsOf(t *testing.T, c *emulator.Cluster) []string {
	t.Helper()
	var s []string
	for _, id := range c.Identities() {
		s = append(s, id.SecretAccessKey)
		if id.SessionToken != "" {
			s = append(s, id.SessionToken)
		}
	}
	for _, u := range c.SCRAMUsers() {
		s = append(s, u.Password)
	}
	// Marks of a presigned token or payload: the signature parameter, the
	// OAUTHBEARER client message, and the base64url of "https://kafka.".
	return append(s, "X-Amz-Signature=", "x-amz-signature", "auth=Bearer", "aHR0cHM6Ly9rYWZrYS")
}

// TestConcurrentInvocations runs invocations of every source at once on
// one Handler (Lambda managed instances may), under -race.
func TestConcurrentInvocations(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	const n = 8
	errc := make(chan error, 3*n)
	for i := range n {
		go func() {
			out, err := th.invoke(t, 10*time.Second, fmt.Sprintf(`{"records": [{"key": "d%d", "value": "v"}]}`, i))
			if err == nil && !strings.Contains(string(out), `"acked":1`) {
				err = fmt.Errorf("direct: %s", out)
			}
			errc <- err
		}()
		go func() {
			out, err := th.invoke(t, 10*time.Second, sqsEvent(events.SQSMessage{MessageId: fmt.Sprint(i), Body: "s"}))
			if err == nil && string(out) != `{"batchItemFailures":[]}` {
				err = fmt.Errorf("sqs: %s", out)
			}
			errc <- err
		}()
		go func() {
			_, err := th.invoke(t, 10*time.Second, ebEvent(fmt.Sprintf("e%d", i), `{}`))
			errc <- err
		}()
	}
	for range 3 * n {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if got := len(consume(t, c, testTopic, 3*n)); got != 3*n {
		t.Errorf("consumed %d records, want %d", got, 3*n)
	}
}

// TestWarmFailureIsNotFatal starts the handler while every answer is
// blackholed: New returns (Warm gives up after its timeout) and the first
// invocation after the cluster recovers succeeds.
func TestWarmFailureIsNotFatal(t *testing.T) {
	c, _ := startEmulator(t)
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{Blackhole: true})
	}
	start := time.Now()
	th := newHandler(t, c, WithWarmTimeout(time.Second))
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("New took %v with a 1s warm timeout", el)
	}
	if !strings.Contains(th.logs.String(), "warming the connection failed") {
		t.Errorf("the Warm failure was not logged:\n%s", th.logs.String())
	}
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{})
		c.Listener(id, emulator.IAM).ResetConnections()
	}
	start = time.Now()
	out, err := th.invoke(t, 15*time.Second, `{"records": [{"value": "after"}]}`)
	if err != nil || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("%s %v", out, err)
	}
	// franz-go waits MetadataMinAge (5s by default) before it retries the
	// metadata load that failed during Init.
	t.Logf("first invocation after the recovery: %v", time.Since(start).Round(time.Millisecond))
}

// TestConfigErrors checks that New reports configuration errors naming the
// variable.
func TestConfigErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env := func(m map[string]string) Opt {
		return WithGetenv(func(k string) string { return m[k] })
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "MSK_BOOTSTRAP_SERVERS"},
		{map[string]string{"MSK_BOOTSTRAP_SERVERS": "b-1.x.y.c3.kafka.us-east-1.amazonaws.com:9098", "MSK_LINGER": "soon"}, "MSK_LINGER"},
		{map[string]string{"MSK_BOOTSTRAP_SERVERS": "b-1.x.y.c3.kafka.us-east-1.amazonaws.com:9098", "MSK_EVENT_SOURCE": "s3"}, "MSK_EVENT_SOURCE"},
	} {
		_, err := New(ctx, env(tc.env), WithMetricsWriter(nil), WithLogger(slog.New(slog.DiscardHandler)))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.env, err, tc.want)
		}
	}
}

// TestWithPublisher shares a caller's Publisher: the handler publishes
// through it and Close leaves it open.
func TestWithPublisher(t *testing.T) {
	c, _ := startEmulator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := publish.New(ctx, iamConfig(c, testTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	th := newHandler(t, c, WithPublisher(p))
	if th.Publisher() != p {
		t.Fatal("not the given publisher")
	}
	if out, err := th.invoke(t, 10*time.Second, `{"records": [{"value": "a"}]}`); err != nil || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("%s %v", out, err)
	}
	th.Close()
	if o := p.Publish(ctx, []*kgo.Record{{Value: []byte("b")}}); o[0].Status != publish.Acked {
		t.Fatalf("publisher closed by the handler: %+v", o[0])
	}
}

// describeConfigsCounter counts the DescribeConfigs requests a client
// writes: the topic lookups of the handler's validation.
type describeConfigsCounter struct{ n atomic.Int32 }

func (d *describeConfigsCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	if key == int16(kmsg.DescribeConfigs) {
		d.n.Add(1)
	}
}

// TestSQSOneLookupPerTopic checks that an SQS batch looks each topic up
// once: a topic whose lookup is not cached (one that does not exist) must
// not cost a lookup per message, each taking a share of the time left.
func TestSQSOneLookupPerTopic(t *testing.T) {
	c, _ := startEmulator(t)
	var cnt describeConfigsCounter
	th := newHandler(t, c, WithPublishOpts(publish.WithClientOpts(kafkaconn.WithClientOpts(kgo.WithHooks(&cnt)))))
	var msgs []events.SQSMessage
	for i := range 40 {
		m := events.SQSMessage{MessageId: fmt.Sprintf("m%d", i), Body: "x"}
		if i%2 == 0 {
			m.MessageAttributes = map[string]events.SQSMessageAttribute{"topic": strAttr("nope")}
		}
		msgs = append(msgs, m)
	}
	before := cnt.n.Load()
	out, err := th.invoke(t, 10*time.Second, sqsEvent(msgs...))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 20 {
		t.Fatalf("%d failures, want the 20 messages for topic nope: %s", len(resp.BatchItemFailures), out)
	}
	for _, f := range resp.BatchItemFailures {
		var i int
		fmt.Sscanf(f.ItemIdentifier, "m%d", &i)
		if i%2 != 0 {
			t.Errorf("%s failed, but its topic exists", f.ItemIdentifier)
		}
	}
	if n := cnt.n.Load() - before; n > 1 {
		t.Errorf("%d topic lookups (DescribeConfigs) for one batch, want at most 1", n)
	}
}

// TestSQSFIFOStopsAtFirstFailure checks the FIFO rule of partial batch
// responses: after the first message that fails, no later message is
// published, and every later one is listed, so that SQS redelivers them in
// order instead of the later ones overtaking the failed one.
func TestSQSFIFOStopsAtFirstFailure(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	ev := sqsEvent(
		events.SQSMessage{MessageId: "f1", Body: "first"},
		events.SQSMessage{MessageId: "f2", Body: "bad topic", MessageAttributes: map[string]events.SQSMessageAttribute{"topic": strAttr("no such topic!")}},
		events.SQSMessage{MessageId: "f3", Body: "third"},
	)
	for i := range ev.Records {
		ev.Records[i].EventSourceARN = "arn:aws:sqs:us-east-1:000000000000:q.fifo"
		ev.Records[i].Attributes = map[string]string{"MessageGroupId": "g"}
	}
	out, err := th.invoke(t, 10*time.Second, ev)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if strings.Join(ids, ",") != "f2,f3" {
		t.Fatalf("batchItemFailures %v, want f2,f3: %s", ids, out)
	}
	if got := consume(t, c, testTopic, 1); len(got) != 1 || string(got[0].Value) != "first" {
		t.Fatalf("consumed %d records", len(got))
	}
	if n := endOffsets(t, c, testTopic); n != 1 {
		t.Errorf("%d records written, want only f1's: f3 overtook the failed f2", n)
	}
}
