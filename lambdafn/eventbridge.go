package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/aws/aws-lambda-go/events"
	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Record headers set on EventBridge records.
const (
	EventBridgeSourceHeader     = "eventbridge.source"
	EventBridgeDetailTypeHeader = "eventbridge.detail-type"
)

// EventBridgeResponse is the answer to an EventBridge event whose record was
// acked (a record not acked is a *PublishError instead, so Lambda retries).
type EventBridgeResponse struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

func (h *Handler) invokeEventBridge(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, &InputError{Msg: "not an EventBridge event: " + err.Error(), Syntax: true}
	}
	if h.topic == "" {
		return nil, inputErrorf("topic", "EventBridge events go to MSK_TOPIC, which is not set: set it on the function")
	}
	if ev.ID == "" {
		return nil, inputErrorf("id", "missing: an EventBridge event has an id (the record key)")
	}
	detail := bytes.TrimSpace(ev.Detail)
	if len(detail) == 0 {
		return nil, inputErrorf("detail", "missing: the event's detail is the record value")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, detail); err != nil {
		return nil, inputErrorf("detail", "invalid JSON: %v", err)
	}
	r := &kgo.Record{
		Topic: h.topic,
		Key:   []byte(ev.ID),
		Value: buf.Bytes(),
		Headers: []kgo.RecordHeader{
			{Key: EventBridgeSourceHeader, Value: []byte(ev.Source)},
			{Key: EventBridgeDetailTypeHeader, Value: []byte(ev.DetailType)},
		},
	}
	items := []item{{rec: r, field: "", valueField: "detail"}}
	inv.records = 1
	if err := h.prepare(ctx, items, func(int) string { return "topic" }, nil); err != nil {
		return nil, err
	}
	outs := h.publish(ctx, inv, items)
	if o := outs[0]; o.Status != publish.Acked {
		return nil, publishError(h.topic, outs)
	}
	o := outs[0]
	return json.Marshal(EventBridgeResponse{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset})
}

// publishError summarizes the records of outs that were not acked: the
// error an event source that retries whole events gets.
func publishError(topic string, outs []publish.Outcome) *PublishError {
	e := &PublishError{Topic: topic, Retriable: true}
	for _, o := range outs {
		switch o.Status {
		case publish.Acked:
			continue
		case publish.Failed:
			e.Failed++
			e.Retriable = e.Retriable && o.Retriable
		default:
			e.Unconfirmed++
		}
		if e.Reason == "" {
			e.Reason = errString(o.Err)
		}
	}
	return e
}
