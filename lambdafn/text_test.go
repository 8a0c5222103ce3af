package lambdafn

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestInvalidTextRefused: a string of an event that is not UTF-8, or
// holds a lone surrogate escape, is refused naming the field, from every
// event source, instead of being published with U+FFFD in its place; a
// valid escape still publishes its exact bytes.
func TestInvalidTextRefused(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	direct := func(records string) string { return `{"topic": "events", "records": [` + records + `]}` }
	eventBridge := func(id, detail string) string {
		return `{"version": "0", "id": "` + id + `", "detail-type": "t", "source": "s", "detail": ` + detail + `}`
	}
	apigw := func(body string) string {
		return `{"version": "2.0", "routeKey": "POST /topics/{topic}", "rawPath": "/topics/events", "headers": {"content-type": "application/vnd.kafka.json.v2+json"}, "requestContext": {"http": {"method": "POST", "path": "/topics/events"}}, "body": "` + body + `"}`
	}
	tests := []struct {
		name, payload, field string
	}{
		{"direct value not UTF-8", direct(`{"value": "a` + "\xff" + `b"}`), "records[0].value"},
		{"direct value truncated UTF-8", direct(`{"value": "caf` + "\xc3" + `"}`), "records[0].value"},
		{"direct key lone high surrogate", direct(`{"key": "\ud800", "value": "v"}`), "records[0].key"},
		{"direct lone low surrogate after a pair", direct(`{"value": "\ud83d\ude00\udc00"}`), "records[0].value"},
		{"direct high surrogate then non-surrogate", direct(`{"value": "\ud83d\u0041"}`), "records[0].value"},
		{"direct header value", direct(`{"value": "v", "headers": {"h": "\udfff"}}`), "records[0].headers.h"},
		{"direct header name", direct(`{"value": "v", "headers": {"` + "\xfe" + `": "v"}}`), "records[0].headers"},
		{"direct JSON value", direct(`{"value": {"a": ["\ud83d"]}}`), "records[0].value.a[0]"},
		{"direct second record", direct(`{"value": "ok"}, {"value": "` + "\x80" + `"}`), "records[1].value"},
		{"EventBridge detail", eventBridge("1", `{"x": "`+"\xc3\x28"+`"}`), "detail.x"},
		{"EventBridge id", eventBridge(`\udc00`, `{}`), "id"},
		{"API Gateway body", apigw(`{\"records\": [{\"value\": \"` + "\xff" + `\"}]}`), "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := th.invoke(t, 10*time.Second, tt.payload)
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tt.field {
				t.Fatalf("answer %s, error %v: want an *InputError at %s", out, err, tt.field)
			}
			if !strings.Contains(err.Error(), "base64") {
				t.Errorf("the error gives no fix: %v", err)
			}
			t.Log(err)
		})
	}
	if n := endOffsets(t, c, testTopic); n != 0 {
		t.Fatalf("%d records written by refused events", n)
	}

	// In an API Gateway body (a JSON string of the event), an escaped
	// lone surrogate is refused with 422.
	out, err := th.invoke(t, 10*time.Second, apigw(`{\"records\": [{\"value\": \"ok\"}, {\"value\": {\"a\": \"\\udbff\"}}]}`))
	var resp events.APIGatewayV2HTTPResponse
	if err != nil || json.Unmarshal(out, &resp) != nil || resp.StatusCode != 422 || !strings.Contains(resp.Body, "records[1].value.a") {
		t.Fatalf("API Gateway: %s %v", out, err)
	}

	// SQS: the message is its own unit, a batch item failure; the others
	// are published.
	sqs := `{"Records": [` +
		`{"messageId": "good", "body": "fine", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q"},` +
		`{"messageId": "body", "body": "` + "\xe2\x82" + `", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q"},` +
		`{"messageId": "key", "body": "b", "messageAttributes": {"key": {"stringValue": "\ud800", "dataType": "String"}}, "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q"}]}`
	out, err = th.invoke(t, 10*time.Second, sqs)
	var sresp events.SQSEventResponse
	if err != nil || json.Unmarshal(out, &sresp) != nil {
		t.Fatalf("SQS: %s %v", out, err)
	}
	var failed []string
	for _, f := range sresp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if strings.Join(failed, ",") != "body,key" {
		t.Errorf("SQS batch item failures %v, want body,key", failed)
	}
	if !strings.Contains(th.logs.String(), "Records[1].body") || !strings.Contains(th.logs.String(), "Records[2].messageAttributes.key.stringValue") {
		t.Errorf("the log does not name the fields:\n%s", th.logs.String())
	}

	// Valid escapes and UTF-8 publish their exact bytes.
	out, err = th.invoke(t, 10*time.Second, direct(`{"key": "caf\u00e9", "value": "é\ud83d\ude00", "headers": {"h\u00e9": "\uFFFD"}}`))
	if err != nil || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("valid text: %s %v", out, err)
	}
	recs := consume(t, c, testTopic, 2)
	var found bool
	for _, r := range recs {
		if string(r.Key) == "café" {
			found = true
			if string(r.Value) != "é😀" || len(r.Headers) != 1 || r.Headers[0].Key != "hé" || string(r.Headers[0].Value) != "\uFFFD" {
				t.Errorf("published %q=%q %v", r.Key, r.Value, r.Headers)
			}
		}
	}
	if !found {
		t.Errorf("the valid record was not published: %v", recs)
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		in, field string // field "-" for no error
	}{
		{`{"a": "plain"}`, "-"},
		{`{"a": "caf\u00e9 é \ud83d\ude00 \\ud800"}`, "-"}, // \\ud800 is a backslash and text
		{`{"a": "\ud800"}`, "a"},
		{`{"a": "\uDBFF\uDFFF"}`, "-"},
		{`{"a": "\uDBFF\uDBFF"}`, "a"},
		{`{"a": "\uDBFF"}`, "a"},
		{`{"a": {"b": [1, "x", "` + "\xff" + `"]}}`, "a.b[2]"},
		{`["` + "\xc0\xaf" + `"]`, "[0]"},     // overlong
		{`{"` + "\xed\xa0\x80" + `": 1}`, ""}, // a surrogate in UTF-8 form, in a name
		{`{"a": "` + "\xff", "-"},             // not JSON: its parser says so
		{`"` + "\xff" + `"`, ""},
	}
	for _, tt := range tests {
		err := checkText([]byte(tt.in), "")
		var ie *InputError
		switch {
		case tt.field == "-" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.field != "-" && (!errors.As(err, &ie) || ie.Field != tt.field):
			t.Errorf("%q: %v, want an *InputError at %q", tt.in, err, tt.field)
		}
	}
}

// FuzzCheckText: checkText refuses exactly the valid JSON that
// encoding/json would not decode back to the same text, and never panics.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{`{"a":"\ud800"}`, `["\ud83d\ude00"]`, `"` + "\xff" + `"`, `{"a":{"b":"é"}}`, `[1,"\\u"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkText(data, "")
		if !json.Valid(data) {
			return
		}
		// Re-encoding what encoding/json decodes gives back the same
		// strings exactly when none was replaced.
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		if err == nil && !sameStrings(t, data, v) {
			t.Errorf("%q: accepted, but decoding alters it", data)
		}
	})
}

// sameStrings reports whether the strings of the decoded v are those of
// data, by comparing the number of U+FFFD each has.
func sameStrings(t *testing.T, data []byte, v any) bool {
	t.Helper()
	b, _ := json.Marshal(v)
	var back any
	json.Unmarshal(b, &back)
	return countFFFD(string(data)) == countFFFD(string(b))
}

func countFFFD(s string) int {
	return strings.Count(s, "\uFFFD") + strings.Count(strings.ToLower(s), `\ufffd`)
}
