package lambdafn

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestRefusedConnection: with a secret the cluster refuses, Init's Warm
// returns at once (not at its timeout), and an invocation fails its
// records at once with the cause (a direct invoke and an SQS batch: the
// Stream and the Publish paths), instead of waiting for the function's
// deadline to say "not written before the deadline".
func TestRefusedConnection(t *testing.T) {
	c, _ := startEmulator(t)
	cfg := iamConfig(c, testTopic)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, "not-the-secret", "")
	start := time.Now()
	th := newHandler(t, c, WithConfig(cfg), WithWarmTimeout(20*time.Second))
	if el := time.Since(start); el > 10*time.Second || !strings.Contains(th.logs.String(), "warming the connection failed") {
		t.Fatalf("New took %s; logs:\n%s", el, th.logs.String())
	}
	const deadline = 20 * time.Second
	for _, tc := range []struct {
		name  string
		event any
	}{
		{"direct", map[string]any{"records": []map[string]any{{"value": "a"}, {"value": "b"}}}},
		{"sqs", sqsEvent(events.SQSMessage{MessageId: "m1", Body: "a"}, events.SQSMessage{MessageId: "m2", Body: "b"})},
	} {
		start := time.Now()
		out, err := th.invoke(t, deadline, tc.event)
		el := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if el > deadline/2 {
			t.Errorf("%s: answered after %s of a %s deadline", tc.name, el, deadline)
		}
		switch tc.name {
		case "direct":
			var resp DirectResponse
			if err := json.Unmarshal(out, &resp); err != nil || resp.Failed != 2 || len(resp.Results) != 2 {
				t.Fatalf("direct: %s (%v)", out, err)
			}
			for _, r := range resp.Results {
				if !r.Retriable || !strings.Contains(r.Error, "the cluster refused the connection") || !strings.Contains(r.Error, "SASL_AUTHENTICATION_FAILED") {
					t.Errorf("direct result %+v, want failed, retriable, with the cause", r)
				}
			}
		case "sqs":
			var resp events.SQSEventResponse
			if err := json.Unmarshal(out, &resp); err != nil || len(resp.BatchItemFailures) != 2 {
				t.Fatalf("sqs: %s (%v)", out, err)
			}
			if logs := th.logs.String(); !strings.Contains(logs, `"firstError":"publish: not written: the cluster refused the connection`) {
				t.Errorf("sqs: the log line does not name the refusal:\n%s", logs)
			}
		}
	}
	if endOffsets(t, c, testTopic) != 0 {
		t.Error("records were written")
	}
}

// TestRefusalClears: a refusal noted earlier does not outlive the cause:
// once the cluster takes the connection, the invocation publishes.
func TestRefusalClears(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	th.noteRefused(kerr.SaslAuthenticationFailed) // as a failed Warm would
	out, err := th.invoke(t, 10*time.Second, map[string]any{"records": []map[string]any{{"value": "after the fix"}}})
	var resp DirectResponse
	if err != nil || json.Unmarshal(out, &resp) != nil || resp.Acked != 1 {
		t.Fatalf("%s (%v)", out, err)
	}
	if got := consume(t, c, testTopic, 1); string(got[0].Value) != "after the fix" {
		t.Errorf("topic holds %q", got[0].Value)
	}
}
