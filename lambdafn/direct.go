package lambdafn

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DirectResponse is the answer to a direct invoke.
type DirectResponse struct {
	// Results has one entry per record, in order.
	Results     []DirectResult `json:"results"`
	Acked       int            `json:"acked"`
	Failed      int            `json:"failed"`
	Unconfirmed int            `json:"unconfirmed"`
}

// DirectResult is what became of one record of a direct invoke: Partition
// and Offset when acked; Error, Retriable and Unconfirmed otherwise.
type DirectResult struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Error     string `json:"error,omitempty"`
	// Retriable reports whether sending the record again may succeed.
	Retriable bool `json:"retriable,omitempty"`
	// Unconfirmed: sent, no answer before the deadline; it may be written.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

// decodeDirect parses a direct invoke into items, validating every field.
func (h *Handler) decodeDirect(payload []byte) ([]item, error) {
	top, err := decodeObject(payload, "", "topic", "records")
	if err != nil {
		return nil, err
	}
	topic, err := jsonString(top["topic"], "topic")
	if err != nil {
		return nil, err
	}
	if topic == "" {
		topic = h.topic
	}
	if topic == "" {
		return nil, inputErrorf("topic", "missing: give \"topic\" in the event or set MSK_TOPIC")
	}
	return decodeRecords(top, `"records": [{"value": ...}, ...]`, topic, decodeData, true)
}

// decodeRecords decodes the "records" array of top, a direct invoke or a
// REST Proxy v2 body (example shows its form in errors): each record an
// object with a key and a value decoded by dec, headers when withHeaders,
// and an optional partition, every field validated and named in errors.
func decodeRecords(top map[string]json.RawMessage, example, topic string, dec func(json.RawMessage, string) ([]byte, error), withHeaders bool) ([]item, error) {
	rawRecs, ok := top["records"]
	if !ok {
		return nil, inputErrorf("records", "missing: give %s", example)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(rawRecs, &recs); err != nil {
		return nil, inputErrorf("records", "must be an array of records (got %s)", truncate(string(rawRecs), 40))
	}
	if len(recs) == 0 {
		return nil, inputErrorf("records", "empty: give at least one record")
	}
	fields := []string{"key", "value", "partition"}
	if withHeaders {
		fields = []string{"key", "value", "headers", "partition"}
	}
	items := make([]item, 0, len(recs))
	for i, raw := range recs {
		field := fmt.Sprintf("records[%d]", i)
		obj, err := decodeObject(raw, field, fields...)
		if err != nil {
			return nil, err
		}
		r := &kgo.Record{Topic: topic}
		if r.Key, err = dec(obj["key"], field+".key"); err != nil {
			return nil, err
		}
		if r.Value, err = dec(obj["value"], field+".value"); err != nil {
			return nil, err
		}
		if withHeaders {
			if r.Headers, err = decodeHeaders(obj["headers"], field+".headers"); err != nil {
				return nil, err
			}
		}
		p, pinned, err := decodePartition(obj["partition"], field+".partition")
		if err != nil {
			return nil, err
		}
		if pinned {
			publish.Pin(r, p)
		}
		items = append(items, item{rec: r, field: field, pinned: pinned})
	}
	return items, nil
}

func (h *Handler) invokeDirect(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	items, err := h.decodeDirect(payload)
	if err != nil {
		return nil, err
	}
	inv.records = len(items)
	if err := h.prepare(ctx, items, func(int) string { return "topic" }, nil); err != nil {
		return nil, err
	}
	outs := h.publish(ctx, inv, items)
	resp := DirectResponse{Results: make([]DirectResult, len(outs))}
	for i, o := range outs {
		res := DirectResult{Topic: items[i].rec.Topic}
		switch o.Status {
		case publish.Acked:
			p, off := o.Partition, o.Offset
			res.Partition, res.Offset = &p, &off
			resp.Acked++
		case publish.Failed:
			res.Error, res.Retriable = errString(o.Err), o.Retriable
			resp.Failed++
		default:
			res.Error, res.Retriable, res.Unconfirmed = errString(o.Err), true, true
			resp.Unconfirmed++
		}
		resp.Results[i] = res
	}
	if h.directErrors && resp.Acked < len(outs) {
		return nil, publishError(items[0].rec.Topic, outs)
	}
	return json.Marshal(resp)
}
