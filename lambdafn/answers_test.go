package lambdafn

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/publish"
)

// TestAPIGatewayAnswerFits: the answer to an API Gateway request whose
// every record failed with a long error fits in Lambda's 6 MB response
// (the errors cut short), still one offset entry per record; a request
// with more records than surely fit is refused (422) before anything is
// sent.
func TestAPIGatewayAnswerFits(t *testing.T) {
	c, _ := startEmulator(t)
	cfg := iamConfig(c, testTopic)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, "not-the-secret", "")
	th := newHandler(t, c, WithConfig(cfg), WithWarmTimeout(20*time.Second))
	body := func(n int) string {
		return `{"records": [` + strings.Repeat(`{"value": 1},`, n-1) + `{"value": 1}]}`
	}

	const n = 40_000
	out, err := th.invoke(t, 60*time.Second, apigwRequest(http.MethodPost, "/topics/"+testTopic, ContentTypeKafkaJSON, body(n)))
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	var rest RESTProduceResponse
	if err := json.Unmarshal(out, &resp); err != nil || json.Unmarshal([]byte(resp.Body), &rest) != nil {
		t.Fatalf("%v: %.300s", err, out)
	}
	t.Logf("answer: %d bytes, status %d, first entry %+v", len(out), resp.StatusCode, rest.Offsets[0])
	if len(out) > MaxDirectResponse {
		t.Fatalf("answer of %d bytes, over Lambda's response limit", len(out))
	}
	if resp.StatusCode != http.StatusServiceUnavailable || len(rest.Offsets) != n {
		t.Fatalf("status %d, %d offsets", resp.StatusCode, len(rest.Offsets))
	}
	for i, o := range rest.Offsets {
		if o.Offset != nil || o.ErrorCode == nil || *o.ErrorCode != restErrKafkaRetriable || o.Error == nil || *o.Error == "" {
			t.Fatalf("offset %d: %+v", i, o)
		}
	}

	out, err = th.invoke(t, 60*time.Second, apigwRequest(http.MethodPost, "/topics/"+testTopic, ContentTypeKafkaJSON, body(maxRESTRecords+1)))
	if err != nil || json.Unmarshal(out, &resp) != nil || resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Body, fmt.Sprintf("at most %d", maxRESTRecords)) {
		t.Fatalf("%d records: %.300s %v, want 422 naming the limit", maxRESTRecords+1, out, err)
	}
	if got := endOffsets(t, c, testTopic); got != 0 {
		t.Fatalf("%d records written", got)
	}
}

// TestRESTAnswerBound: the worst answers to maxRESTRecords records (every
// one failed with a long error that JSON escapes, or acked at the largest
// partition and offset) fit in Lambda's response once their errors are cut
// short.
func TestRESTAnswerBound(t *testing.T) {
	long := errors.New(strings.Repeat(`"<\é`, 200))
	for name, o := range map[string]publish.Outcome{
		"failed": {Status: publish.Failed, Err: long},
		"acked":  {Status: publish.Acked, Partition: 1<<31 - 1, Offset: 1<<63 - 1},
	} {
		outs := make([]publish.Outcome, maxRESTRecords)
		for i := range outs {
			outs[i] = o
		}
		_, b := restAnswer(outs, restShortError)
		_, uncut := restAnswer(outs[:3], 0) // quotes, backslashes, \u003c, é
		for _, body := range [][]byte{b, uncut} {
			if q, _ := json.Marshal(string(body)); restWrapped(body) != len(q)+restEnvelope {
				t.Errorf("%s: restWrapped %d, quoted body %d + %d", name, restWrapped(body), len(q), restEnvelope)
			}
		}
		full, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 503, Headers: map[string]string{"Content-Type": ContentTypeKafkaV2}, Body: string(b)})
		if len(full) > MaxDirectResponse || restWrapped(b) > MaxDirectResponse {
			t.Errorf("%s: %d records: answer of %d bytes, over %d", name, maxRESTRecords, len(full), MaxDirectResponse)
		}
		t.Logf("%s: %d records: %d bytes", name, maxRESTRecords, len(full))
	}
}

// TestSQSAnswerBound: an SQS event whose answer could pass Lambda's
// response limit (not one SQS makes: it sends at most 10,000 messages) is
// refused before anything is sent.
func TestSQSAnswerBound(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	id := strings.Repeat("<", 100) // JSON writes each as \u003c
	var b strings.Builder
	b.WriteString(`{"Records": [`)
	const n = 12_000
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"messageId": "%s%d", "body": "x", "eventSource": "aws:sqs"}`, id, i)
	}
	b.WriteString(`]}`)
	out, err := th.invoke(t, 30*time.Second, b.String())
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "Records" {
		t.Fatalf("%d messages (%d bytes): %.200s %v, want an *InputError at Records", n, b.Len(), out, err)
	}
	t.Log(err)
	if got := endOffsets(t, c, testTopic); got != 0 {
		t.Fatalf("%d records written", got)
	}
}

// TestAnswerLimitsDocumented: README.md and the package doc quote these.
func TestAnswerLimitsDocumented(t *testing.T) {
	if n := maxDirectRecords(len(`"events"`)); n != 325_757 {
		t.Errorf("a direct invoke takes %d records: update README.md and doc.go (325,757)", n)
	}
	if maxRESTRecords != 45_915 {
		t.Errorf("an API Gateway request takes %d records: update README.md and doc.go (45,915)", maxRESTRecords)
	}
}
