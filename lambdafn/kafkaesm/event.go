package kafkaesm

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The eventSource values of the events Lambda's event source mappings send.
const (
	SourceMSK         = "aws:kafka"        // Amazon MSK (eventSourceArn is the cluster's ARN)
	SourceSelfManaged = "SelfManagedKafka" // self-managed Apache Kafka
)

// TimestampType is a record's timestampType: how Kafka set its timestamp.
type TimestampType string

// The timestamp types Kafka knows.
const (
	CreateTime      TimestampType = "CREATE_TIME"       // set by the producer
	LogAppendTime   TimestampType = "LOG_APPEND_TIME"   // set by the broker (topic's message.timestamp.type)
	NoTimestampType TimestampType = "NO_TIMESTAMP_TYPE" // records of the pre-0.10 message format
)

// Event is a Kafka event from an event source mapping: the records of one
// batch, grouped in the payload by "topic-partition".
type Event struct {
	EventSource      string   // SourceMSK or SourceSelfManaged
	EventSourceARN   string   // the MSK cluster's ARN ("" for self-managed Kafka)
	BootstrapServers []string // the event's comma-separated bootstrapServers, split
	// Records are the well-formed records, by topic, then partition, then
	// their order in the event (offset order).
	Records []Record
	// Invalid are the records that could be identified (partition key and
	// offset) but not decoded, in the same order.
	Invalid []*RecordError
}

// Record is one Kafka record of an event, decoded: key and value are the
// bytes the producer wrote (the event's base64 decoded once).
type Record struct {
	Topic         string
	Partition     int32
	Offset        int64
	Timestamp     time.Time // millisecond precision, UTC
	TimestampType TimestampType
	Key           []byte // nil when the record has no key
	Value         []byte // nil for a null value (a tombstone)
	Headers       []Header
	// KeySchema and ValueSchema are set when the event source mapping has
	// a schema registry configured: the format and schema id of the key
	// and value (keySchemaMetadata, valueSchemaMetadata).
	KeySchema, ValueSchema *SchemaMetadata
}

// Header is one record header. Kafka allows a key to repeat.
type Header struct {
	Key   string
	Value []byte // nil for a null header value
}

// SchemaMetadata is the schema registry metadata Lambda adds to a record
// when the mapping has a schema registry (SchemaRegistryConfig).
type SchemaMetadata struct {
	DataFormat string `json:"dataFormat"` // "AVRO", "PROTOBUF" or "JSON"
	SchemaID   string `json:"schemaId"`   // the registry's id: a number (Confluent) or a UUID (Glue)
}

// ID returns the identifier of r in a partial batch response.
func (r Record) ID() ItemIdentifier {
	return ItemIdentifier{Partition: PartitionKey(r.Topic, r.Partition), Offset: r.Offset}
}

// Header returns the value of the first header named key.
func (r Record) Header(key string) ([]byte, bool) {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

// PartitionKey returns the key under which an event groups the records
// of a partition: "topic-partition".
func PartitionKey(topic string, partition int32) string {
	return topic + "-" + strconv.Itoa(int(partition))
}

// EventError is a problem with the event as a whole: it is not JSON, has
// no records object, an unknown eventSource, or a record that cannot be
// identified (no partition key or offset). The invocation fails with it.
type EventError struct {
	Field string // JSON path, e.g. `records["orders-0"][2].offset`; "" for the whole payload
	Msg   string
}

func (e *EventError) Error() string {
	if e.Field == "" {
		return "kafkaesm: " + e.Msg
	}
	return "kafkaesm: " + e.Field + ": " + e.Msg
}

// RecordError is a record that failed: malformed in the event (Field
// names the JSON path, e.g. `records["orders-0"][2].value`), or failed by
// the function (Field is "").
type RecordError struct {
	ID    ItemIdentifier
	Field string
	Err   error
}

func (e *RecordError) Error() string {
	if e.Field != "" {
		return "kafkaesm: " + e.Field + ": " + e.Err.Error()
	}
	prefix := fmt.Sprintf("kafkaesm: %s offset %d: ", e.ID.Partition, e.ID.Offset)
	if msg := e.Err.Error(); strings.HasPrefix(msg, prefix) {
		return msg // a *DecodeError names the record already
	}
	return prefix + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *RecordError) Unwrap() error { return e.Err }

// ErrMalformed is wrapped by the error of every malformed record.
var ErrMalformed = errors.New("malformed record")

// ParseEvent decodes an event source mapping's Kafka event. Records that
// can be identified but not decoded are in Event.Invalid; an event that is
// not a Kafka event, or a record that cannot be identified, is an
// *EventError naming the field.
func ParseEvent(payload []byte) (*Event, error) {
	parts, ev, err := parse(payload)
	if err != nil {
		return nil, err
	}
	for _, p := range parts {
		for _, it := range p.items {
			if it.err != nil {
				ev.Invalid = append(ev.Invalid, it.err)
			} else {
				ev.Records = append(ev.Records, it.rec)
			}
		}
	}
	return ev, nil
}

// partition is the records of one "topic-partition" key, in event order.
type partition struct {
	key   string
	topic string
	part  int32
	items []item
}

// item is a record, or why it could not be decoded.
type item struct {
	rec Record
	err *RecordError // set for a malformed record
}

type rawRecord struct {
	Topic               json.RawMessage `json:"topic"`
	Partition           json.RawMessage `json:"partition"`
	Offset              json.RawMessage `json:"offset"`
	Timestamp           json.RawMessage `json:"timestamp"`
	TimestampType       json.RawMessage `json:"timestampType"`
	Key                 json.RawMessage `json:"key"`
	Value               json.RawMessage `json:"value"`
	Headers             json.RawMessage `json:"headers"`
	KeySchemaMetadata   json.RawMessage `json:"keySchemaMetadata"`
	ValueSchemaMetadata json.RawMessage `json:"valueSchemaMetadata"`
}

// parse decodes payload into its partitions, sorted by topic and
// partition.
func parse(payload []byte) ([]partition, *Event, error) {
	// The top level is read with exact key names (encoding/json matches
	// struct fields case-insensitively: SQS's "Records" is not "records").
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil || top == nil {
		msg := "got null"
		if err != nil {
			msg = jsonErr(err)
		}
		return nil, nil, &EventError{Msg: "the payload is not a JSON object: " + msg}
	}
	raw := struct{ EventSource, EventSourceARN, BootstrapServers, Records json.RawMessage }{
		top["eventSource"], top["eventSourceArn"], top["bootstrapServers"], top["records"]}
	if isNull(raw.EventSource) && isNull(raw.Records) {
		return nil, nil, &EventError{Msg: `not a Kafka event: no "eventSource" or "records" (want the event of an MSK or self-managed Kafka event source mapping)`}
	}
	ev := &Event{}
	if err := json.Unmarshal(raw.EventSource, &ev.EventSource); err != nil || isNull(raw.EventSource) {
		return nil, nil, &EventError{Field: "eventSource", Msg: fmt.Sprintf("want %q or %q, got %s", SourceMSK, SourceSelfManaged, clip(raw.EventSource))}
	}
	if ev.EventSource != SourceMSK && ev.EventSource != SourceSelfManaged {
		return nil, nil, &EventError{Field: "eventSource", Msg: fmt.Sprintf("%q is not a Kafka event source: want %q (Amazon MSK) or %q", ev.EventSource, SourceMSK, SourceSelfManaged)}
	}
	if !isNull(raw.EventSourceARN) {
		if err := json.Unmarshal(raw.EventSourceARN, &ev.EventSourceARN); err != nil {
			return nil, nil, &EventError{Field: "eventSourceArn", Msg: "want a string, got " + clip(raw.EventSourceARN)}
		}
	}
	if !isNull(raw.BootstrapServers) {
		var s string
		if err := json.Unmarshal(raw.BootstrapServers, &s); err == nil {
			for b := range strings.SplitSeq(s, ",") {
				if b = strings.TrimSpace(b); b != "" {
					ev.BootstrapServers = append(ev.BootstrapServers, b)
				}
			}
		} else if err := json.Unmarshal(raw.BootstrapServers, &ev.BootstrapServers); err != nil {
			return nil, nil, &EventError{Field: "bootstrapServers", Msg: "want a comma-separated string, got " + clip(raw.BootstrapServers)}
		}
	}
	if isNull(raw.Records) || bytes.TrimSpace(raw.Records)[0] != '{' {
		return nil, nil, &EventError{Field: "records", Msg: `want an object of "topic-partition": [records], got ` + clip(raw.Records)}
	}
	// Fast path: every record decoded in one pass. A record that is not an
	// object (or a list that is not one) fails it; the slow path, one
	// record at a time, then names the field.
	var fast map[string][]rawRecord
	if err := json.Unmarshal(raw.Records, &fast); err == nil {
		parts, err := partitions(fast, func(p partition, rrs []rawRecord, j int) (item, error) { return buildRecord(p, j, &rrs[j]) })
		return parts, ev, err
	}
	var slow map[string][]json.RawMessage
	if err := json.Unmarshal(raw.Records, &slow); err != nil {
		return nil, nil, &EventError{Field: "records", Msg: `want an object of "topic-partition": [records], got ` + clip(raw.Records)}
	}
	parts, err := partitions(slow, func(p partition, rrs []json.RawMessage, j int) (item, error) { return parseRecord(p, j, rrs[j]) })
	return parts, ev, err
}

// partitions decodes the records object's groups with record, sorted by
// topic and partition.
func partitions[R any](groups map[string][]R, record func(p partition, rrs []R, j int) (item, error)) ([]partition, error) {
	parts := make([]partition, 0, len(groups))
	for k, rrs := range groups {
		p, err := newPartition(k)
		if err != nil {
			return nil, err
		}
		p.items = make([]item, 0, len(rrs))
		for j := range rrs {
			it, err := record(p, rrs, j)
			if err != nil {
				return nil, err
			}
			p.items = append(p.items, it)
		}
		parts = append(parts, p)
	}
	return sortPartitions(parts), nil
}

// newPartition reads a "topic-partition" key of the records object.
func newPartition(k string) (partition, error) {
	i := strings.LastIndexByte(k, '-')
	if i <= 0 {
		return partition{}, &EventError{Field: fmt.Sprintf("records[%q]", k), Msg: `the key is not "topic-partition"`}
	}
	n, err := strconv.ParseInt(k[i+1:], 10, 32)
	if err != nil || n < 0 {
		return partition{}, &EventError{Field: fmt.Sprintf("records[%q]", k), Msg: `the key is not "topic-partition"`}
	}
	return partition{key: k, topic: k[:i], part: int32(n)}, nil
}

func (p partition) field() string { return fmt.Sprintf("records[%q]", p.key) }

func sortPartitions(parts []partition) []partition {
	for _, p := range parts {
		// A mapping sends a partition's records in offset order; keep
		// that order whatever a hand-written event does.
		byOffset := func(a, b item) int { return cmp.Compare(a.rec.Offset, b.rec.Offset) }
		if !slices.IsSortedFunc(p.items, byOffset) {
			slices.SortStableFunc(p.items, byOffset)
		}
	}
	slices.SortFunc(parts, func(a, b partition) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.part) - int(b.part)
	})
	return parts
}

// parseRecord decodes one record of partition p at field. A record
// without a usable offset cannot be reported in a partial batch response:
// that is an *EventError. Any other problem makes the record invalid.
func parseRecord(p partition, j int, raw json.RawMessage) (item, error) {
	var rr rawRecord
	if err := json.Unmarshal(raw, &rr); err != nil || isNull(raw) {
		return item{}, &EventError{Field: p.recordField(j), Msg: "want a record object, got " + clip(raw)}
	}
	return buildRecord(p, j, &rr)
}

// recordField is the JSON path of the partition's record j.
func (p partition) recordField(j int) string { return fmt.Sprintf("%s[%d]", p.field(), j) }

// buildRecord decodes the fields of the partition's record j.
func buildRecord(p partition, j int, rr *rawRecord) (item, error) {
	offset, ok := rawInt(rr.Offset)
	if !ok || offset < 0 {
		return item{}, &EventError{Field: p.recordField(j) + ".offset", Msg: "want the record's offset, a number >= 0, got " + clip(rr.Offset)}
	}
	rec := Record{Topic: p.topic, Partition: p.part, Offset: offset}
	bad := func(f, format string, args ...any) (item, error) {
		return item{rec: rec, err: &RecordError{ID: rec.ID(), Field: p.recordField(j) + "." + f, Err: fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))}}, nil
	}
	if !isNull(rr.Topic) {
		t, ok := rawString(rr.Topic)
		if !ok {
			return bad("topic", "want a string, got %s", clip(rr.Topic))
		}
		if t != p.topic {
			return bad("topic", "%q does not match the partition key %q", t, p.key)
		}
	}
	if !isNull(rr.Partition) {
		n, ok := rawInt(rr.Partition)
		if !ok {
			return bad("partition", "want a number, got %s", clip(rr.Partition))
		}
		if n != int64(p.part) {
			return bad("partition", "%d does not match the partition key %q", n, p.key)
		}
	}
	if !isNull(rr.Timestamp) {
		ms, ok := rawInt(rr.Timestamp)
		if !ok {
			return bad("timestamp", "want milliseconds since the epoch, got %s", clip(rr.Timestamp))
		}
		rec.Timestamp = time.UnixMilli(ms).UTC()
	}
	if !isNull(rr.TimestampType) {
		s, ok := rawString(rr.TimestampType)
		if !ok {
			return bad("timestampType", "want a string such as %q, got %s", CreateTime, clip(rr.TimestampType))
		}
		rec.TimestampType = TimestampType(s)
	}
	var err error
	if rec.Key, err = base64Field(rr.Key); err != nil {
		return bad("key", "%v", err)
	}
	if rec.Value, err = base64Field(rr.Value); err != nil {
		return bad("value", "%v", err)
	}
	if rec.Headers, err = parseHeaders(rr.Headers, func() string { return p.recordField(j) + ".headers" }); err != nil {
		var fe *fieldError
		if errors.As(err, &fe) {
			return item{rec: rec, err: &RecordError{ID: rec.ID(), Field: fe.field, Err: fmt.Errorf("%w: %s", ErrMalformed, fe.msg)}}, nil
		}
		return bad("headers", "%v", err)
	}
	for _, sm := range []struct {
		name string
		raw  json.RawMessage
		dst  **SchemaMetadata
	}{{"keySchemaMetadata", rr.KeySchemaMetadata, &rec.KeySchema}, {"valueSchemaMetadata", rr.ValueSchemaMetadata, &rec.ValueSchema}} {
		if isNull(sm.raw) {
			continue
		}
		var m SchemaMetadata
		if err := json.Unmarshal(sm.raw, &m); err != nil {
			return bad(sm.name, `want {"dataFormat": "...", "schemaId": "..."}, got %s`, clip(sm.raw))
		}
		*sm.dst = &m
	}
	return item{rec: rec}, nil
}

// base64Field decodes a key or value: absent or null is nil; padding is
// optional.
func base64Field(raw json.RawMessage) ([]byte, error) {
	if isNull(raw) {
		return nil, nil
	}
	src, ok := rawStringBytes(raw)
	if !ok {
		return nil, fmt.Errorf("want a base64 string, got %s", clip(raw))
	}
	enc := base64.StdEncoding
	if len(src)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b := make([]byte, enc.DecodedLen(len(src)))
	n, err := enc.Decode(b, src)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// rawInt reads a JSON integer; false for anything else.
func rawInt(raw json.RawMessage) (int64, bool) {
	r := bytes.TrimSpace(raw)
	if n, err := strconv.ParseInt(string(r), 10, 64); err == nil {
		return n, true
	}
	var n int64
	if isNull(r) || json.Unmarshal(r, &n) != nil {
		return 0, false
	}
	return n, true
}

// rawString reads a JSON string; false for anything else.
func rawString(raw json.RawMessage) (string, bool) {
	b, ok := rawStringBytes(raw)
	return string(b), ok
}

// rawStringBytes returns a JSON string's contents: the bytes between the
// quotes when there is no escape (base64 has none), else unquoted.
func rawStringBytes(raw json.RawMessage) ([]byte, bool) {
	r := bytes.TrimSpace(raw)
	if len(r) >= 2 && r[0] == '"' && r[len(r)-1] == '"' {
		if in := r[1 : len(r)-1]; bytes.IndexByte(in, '\\') < 0 && bytes.IndexByte(in, '"') < 0 && utf8.Valid(in) {
			return in, true
		}
	}
	var s string
	if json.Unmarshal(r, &s) != nil {
		return nil, false
	}
	return []byte(s), true
}

type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// parseHeaders decodes the event's headers: a list of objects, each
// mapping a header key to its value as an array of byte values. The
// values are Java's signed bytes (-128 to 127) or unsigned (0 to 255).
// Keys keep their order, also within one object.
func parseHeaders(raw json.RawMessage, fieldOf func() string) ([]Header, error) {
	if isNull(raw) || string(raw) == "[]" {
		return nil, nil
	}
	field := fieldOf()
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &fieldError{field, "want a list of {\"key\": [bytes]} objects, got " + clip(raw)}
	}
	var out []Header
	for i, obj := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		dec := json.NewDecoder(bytes.NewReader(obj))
		dec.UseNumber()
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return nil, &fieldError{f, "want an object {\"key\": [bytes]}, got " + clip(obj)}
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, &fieldError{f, jsonErr(err)}
			}
			key := tok.(string)
			var vals []json.Number
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return nil, &fieldError{f, jsonErr(err)}
			}
			kf := fmt.Sprintf("%s[%q]", f, key)
			if isNull(v) {
				out = append(out, Header{Key: key})
				continue
			}
			if err := json.Unmarshal(v, &vals); err != nil {
				return nil, &fieldError{kf, "want an array of byte values, got " + clip(v)}
			}
			b := make([]byte, len(vals))
			for j, n := range vals {
				x, err := n.Int64()
				if err != nil || x < -128 || x > 255 {
					return nil, &fieldError{fmt.Sprintf("%s[%d]", kf, j), fmt.Sprintf("%s is not a byte value (-128 to 255)", n)}
				}
				b[j] = byte(x)
			}
			out = append(out, Header{Key: key, Value: b})
		}
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	r := bytes.TrimSpace(raw)
	return len(r) == 0 || string(r) == "null"
}

// clip quotes raw JSON for an error message, shortened.
func clip(raw json.RawMessage) string {
	r := bytes.TrimSpace(raw)
	if len(r) == 0 {
		return "nothing"
	}
	if len(r) > 40 {
		return string(r[:40]) + "..."
	}
	return string(r)
}

func jsonErr(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
