package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// SQS message attributes the handler reads.
const (
	SQSTopicAttribute = "topic" // the record's topic (default MSK_TOPIC)
	SQSKeyAttribute   = "key"   // the record's key (String or Binary)
	// SQSMessageIDHeader is the record header holding the SQS message id,
	// for consumers that deduplicate redeliveries.
	SQSMessageIDHeader = "sqs.message-id"
)

func (h *Handler) invokeSQS(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, &InputError{Msg: "not an SQS event: " + err.Error(), Syntax: true}
	}
	inv.records = len(ev.Records)
	if n := sqsAnswerBound(ev); n > MaxDirectResponse {
		// SQS hands a function at most 10,000 messages, whose answer is
		// far smaller: this event was not made by SQS.
		return nil, inputErrorf("Records", "%d messages: their answer, if every one failed, would take %d bytes, more than Lambda's 6 MB response: SQS sends at most 10,000 messages a batch", len(ev.Records), n)
	}
	badText := badSQSText(payload)
	var resp events.SQSEventResponse
	fail := func(id string) {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
	}
	var items []item
	var ids []string
	infos := map[string]topicInfo{} // topics looked up once per batch
	// A FIFO queue's batch is in order: after the first message that
	// fails, the later ones are not published but listed too, so SQS
	// redelivers them after it rather than letting them overtake it
	// (AWS's rule for partial batch responses from FIFO queues).
	fifo := isFIFO(ev)
	stopped := false
	for i, m := range ev.Records {
		if stopped {
			fail(m.MessageId)
			continue
		}
		field := fmt.Sprintf("Records[%d]", i)
		err := badText[i]
		var it item
		if err == nil {
			it, err = h.sqsItem(m, field)
		}
		if err == nil {
			err = h.prepare(ctx, []item{it}, func(int) string {
				return field + ".messageAttributes." + SQSTopicAttribute
			}, infos)
		}
		if err != nil {
			// An invalid message is its own unit: report it so SQS
			// redelivers it (and moves it to the dead-letter queue after
			// maxReceiveCount) while the valid ones are published.
			inv.invalid++
			h.log.WarnContext(ctx, "invalid SQS message", "messageId", m.MessageId, "error", err)
			fail(m.MessageId)
			if fifo && i+1 < len(ev.Records) {
				stopped = true
				h.log.WarnContext(ctx, "FIFO queue: the messages after a failed one are not published", "messageId", m.MessageId, "notPublished", len(ev.Records)-i-1)
			}
			continue
		}
		items = append(items, it)
		ids = append(ids, m.MessageId)
	}
	if len(items) > 0 {
		outs := h.publish(ctx, inv, items)
		failedBefore := false
		for i, o := range outs {
			// In a FIFO batch, a message after one not acked is retried
			// too (it was written: consumers deduplicate on the
			// sqs.message-id header), so the order holds.
			if o.Status != publish.Acked || fifo && failedBefore {
				fail(ids[i])
				failedBefore = true
			}
		}
	}
	if resp.BatchItemFailures == nil {
		resp.BatchItemFailures = []events.SQSBatchItemFailure{}
	}
	return json.Marshal(resp)
}

func (h *Handler) sqsItem(m events.SQSMessage, field string) (item, error) {
	if m.MessageId == "" {
		return item{}, inputErrorf(field+".messageId", "missing: an SQS message needs its id for batchItemFailures")
	}
	topic := h.topic
	if a, ok := m.MessageAttributes[SQSTopicAttribute]; ok && a.StringValue != nil && *a.StringValue != "" {
		topic = *a.StringValue
	}
	if topic == "" {
		return item{}, inputErrorf(field+".messageAttributes."+SQSTopicAttribute, "missing: set MSK_TOPIC on the function or a String message attribute %q", SQSTopicAttribute)
	}
	r := &kgo.Record{Topic: topic, Value: []byte(m.Body)}
	if a, ok := m.MessageAttributes[SQSKeyAttribute]; ok {
		switch {
		case a.StringValue != nil:
			r.Key = []byte(*a.StringValue)
		case a.BinaryValue != nil:
			r.Key = a.BinaryValue
		}
	}
	r.Headers = []kgo.RecordHeader{{Key: SQSMessageIDHeader, Value: []byte(m.MessageId)}}
	return item{rec: r, field: field, valueField: field + ".body"}, nil
}

// isFIFO reports whether the event comes from a FIFO queue (its ARN ends
// in .fifo).
func isFIFO(ev events.SQSEvent) bool {
	for _, m := range ev.Records {
		if strings.HasSuffix(m.EventSourceARN, ".fifo") {
			return true
		}
	}
	return false
}

// badSQSText returns checkText's error for each message of an SQS event
// with a string that would not decode to the text it claims (by index),
// or nil when none has: such a message is invalid, not published with
// U+FFFD in its place.
func badSQSText(payload []byte) map[int]error {
	if checkText(payload, "") == nil {
		return nil
	}
	top, err := topLevel(payload)
	if err != nil {
		return nil
	}
	bad := map[int]error{}
	elements(bytes.TrimSpace(top["Records"]), func(i int, msg []byte) error {
		if err := checkText(msg, recordsField(i)); err != nil {
			bad[i] = err
		}
		return nil
	})
	return bad
}

func recordsField(i int) string { return "Records[" + strconv.Itoa(i) + "]" }

// sqsAnswerBound is the length of ev's answer when every message fails.
func sqsAnswerBound(ev events.SQSEvent) int {
	n := len(`{"batchItemFailures":[]}`)
	for _, m := range ev.Records {
		q, _ := json.Marshal(m.MessageId)
		n += len(`{"itemIdentifier":},`) + len(q)
	}
	return n
}
