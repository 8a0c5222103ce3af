package esm

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Event sources, the event's "eventSource" field.
const (
	// SourceMSK is Amazon MSK's ("aws:kafka"), with eventSourceArn.
	SourceMSK = "aws:kafka"
	// SourceSelfManaged is self-managed Apache Kafka's ("SelfManagedKafka"),
	// without eventSourceArn.
	SourceSelfManaged = "SelfManagedKafka"
)

// MaxPayloadBytes is Lambda's limit on a synchronous invocation's payload:
// 6 MB, in the bytes of the error Lambda answers past it ("Request must be
// smaller than 6291456 bytes for the InvokeFunction operation"). A batch's
// encoded event never exceeds it.
const MaxPayloadBytes = 6291456

// eventEncoder writes events of the shape AWS documents for Kafka event
// source mappings:
//
//	{"eventSource":"aws:kafka","eventSourceArn":"...","bootstrapServers":"...",
//	 "records":{"mytopic-0":[{"topic":"mytopic","partition":0,"offset":15,
//	 "timestamp":1545084650987,"timestampType":"CREATE_TIME",
//	 "key":"<base64>","value":"<base64>",
//	 "headers":[{"headerKey":[104,101,...]}]}]}}
//
// (https://docs.aws.amazon.com/lambda/latest/dg/with-msk.html, "Example
// Amazon MSK event"; https://docs.aws.amazon.com/lambda/latest/dg/with-kafka.html
// for "eventSource":"SelfManagedKafka", which has no eventSourceArn). Records
// are grouped by "topic-partition", in offset order. Key and value are
// standard base64, left out when the record has none (a null key or value;
// an empty one is ""). Each header is an object of one key whose value is
// the header's bytes as a list of numbers, signed as Java bytes are (0xdc is
// -36): what Lambda sends and aws-lambda-go's events.JSONNumberBytes reads.
//
// The encoder writes the event itself, not through a map, so that the size
// of an event is known exactly as records are added (the 6 MB limit is on
// the encoded event), and keys keep the batch's order.
type eventEncoder struct {
	prefix []byte // {"eventSource":...,"records":{
}

func newEventEncoder(source, arn, bootstrap string) *eventEncoder {
	var b bytes.Buffer
	b.WriteString(`{"eventSource":`)
	writeJSONString(&b, source)
	if source == SourceMSK {
		b.WriteString(`,"eventSourceArn":`)
		writeJSONString(&b, arn)
	}
	b.WriteString(`,"bootstrapServers":`)
	writeJSONString(&b, bootstrap)
	b.WriteString(`,"records":{`)
	return &eventEncoder{prefix: b.Bytes()}
}

// emptySize is the size of an event without records.
func (e *eventEncoder) emptySize() int { return len(e.prefix) + len("}}") }

// groupSize is what a new "topic-partition" group costs besides its
// records: the quoted key, the colon and the brackets, and the comma before
// it unless it is the first group.
func groupSize(key []byte, first bool) int {
	n := len(key) + len(":[]")
	if !first {
		n++
	}
	return n
}

// encode writes the event of recs, which are grouped by partition in the
// order given (poll order: each partition's records in offset order).
func (e *eventEncoder) encode(recs []*record) []byte {
	size := e.emptySize()
	seen := map[tp]bool{}
	for _, r := range recs {
		if !seen[r.tp] {
			size += groupSize(r.groupKey, len(seen) == 0)
			seen[r.tp] = true
		}
		size += len(r.enc) + 1
	}
	b := bytes.NewBuffer(make([]byte, 0, size))
	b.Write(e.prefix)
	for i, r := range groupByPartition(recs) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(r[0].groupKey)
		b.WriteString(":[")
		for j, rec := range r {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(rec.enc)
		}
		b.WriteByte(']')
	}
	b.WriteString("}}")
	return b.Bytes()
}

// groupByPartition splits recs into runs per partition, partitions in the
// order they first appear, records in the order given.
func groupByPartition(recs []*record) [][]*record {
	var groups [][]*record
	idx := map[tp]int{}
	for _, r := range recs {
		i, ok := idx[r.tp]
		if !ok {
			i = len(groups)
			idx[r.tp] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], r)
	}
	return groups
}

// sizer tracks the encoded size of an event as records are added.
type sizer struct {
	size   int
	groups map[tp]bool
}

func newSizer(e *eventEncoder) *sizer { return &sizer{size: e.emptySize(), groups: map[tp]bool{}} }

// cost is what adding r would add to the event.
func (s *sizer) cost(r *record) int {
	n := len(r.enc)
	if s.groups[r.tp] {
		return n + 1 // the comma before it
	}
	return n + groupSize(r.groupKey, len(s.groups) == 0)
}

func (s *sizer) add(r *record) {
	s.size += s.cost(r)
	s.groups[r.tp] = true
}

// tp is a topic partition.
type tp struct {
	topic     string
	partition int32
}

func (t tp) String() string { return t.topic + "-" + strconv.Itoa(int(t.partition)) }

// record is a polled record with its encoding in the event and its
// delivery state.
type record struct {
	r        *kgo.Record
	tp       tp
	enc      []byte // the record's JSON object in the event
	groupKey []byte // the JSON string "topic-partition"

	invokes int    // invocations whose event held it
	retries int    // failed invocations charged to it (see doc.go)
	done    bool   // settled: accepted or given up
	discard string // the condition it is given up for at once, if any
	// filtered: it matched none of the filters; never delivered, done
	filtered bool

	decoded bool // the schema registry stage ran (schema.go)

	// the last invocation that held it, for its on-failure record
	lastRequestID, lastFunctionError, lastError string
	lastStatus                                  int
}

func newRecord(r *kgo.Record) *record {
	rec := wrapRecord(r)
	rec.enc = encodeRecord(r)
	return rec
}

// wrapRecord is r not yet encoded, for the schema registry stage to
// encode once it has decoded (decode).
func wrapRecord(r *kgo.Record) *record {
	t := tp{r.Topic, r.Partition}
	var key bytes.Buffer
	writeJSONString(&key, t.String())
	return &record{r: r, tp: t, groupKey: key.Bytes()}
}

// timestampType names a record's timestamp type as the Java client does.
func timestampType(r *kgo.Record) string {
	switch r.Attrs.TimestampType() {
	case 0:
		return "CREATE_TIME"
	case 1:
		return "LOG_APPEND_TIME"
	}
	return "NO_TIMESTAMP_TYPE"
}

func encodeRecord(r *kgo.Record) []byte { return encodeRecordWith(r, nil, nil) }

// encodeRecordWith encodes r with a mapping's schema metadata, when it
// has a schema registry: "keySchemaMetadata" and "valueSchemaMetadata",
// each {"dataFormat", "schemaId"} (services-consume-kafka-events.html,
// "Payload formats and deserialization behavior").
func encodeRecordWith(r *kgo.Record, keySchema, valueSchema *SchemaMetadata) []byte {
	var b bytes.Buffer
	b.WriteString(`{"topic":`)
	writeJSONString(&b, r.Topic)
	b.WriteString(`,"partition":`)
	b.WriteString(strconv.FormatInt(int64(r.Partition), 10))
	b.WriteString(`,"offset":`)
	b.WriteString(strconv.FormatInt(r.Offset, 10))
	b.WriteString(`,"timestamp":`)
	b.WriteString(strconv.FormatInt(r.Timestamp.UnixMilli(), 10))
	b.WriteString(`,"timestampType":"`)
	b.WriteString(timestampType(r))
	b.WriteByte('"')
	if r.Key != nil {
		b.WriteString(`,"key":"`)
		b.WriteString(base64.StdEncoding.EncodeToString(r.Key))
		b.WriteByte('"')
	}
	if r.Value != nil {
		b.WriteString(`,"value":"`)
		b.WriteString(base64.StdEncoding.EncodeToString(r.Value))
		b.WriteByte('"')
	}
	b.WriteString(`,"headers":[`)
	for i, h := range r.Headers {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		writeJSONString(&b, h.Key)
		b.WriteString(":[")
		for j, c := range h.Value {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(strconv.Itoa(int(int8(c))))
		}
		b.WriteString("]}")
	}
	b.WriteByte(']')
	for _, m := range []struct {
		name string
		md   *SchemaMetadata
	}{{"keySchemaMetadata", keySchema}, {"valueSchemaMetadata", valueSchema}} {
		if m.md == nil {
			continue
		}
		b.WriteString(`,"` + m.name + `":{"dataFormat":`)
		writeJSONString(&b, m.md.DataFormat)
		b.WriteString(`,"schemaId":`)
		writeJSONString(&b, m.md.SchemaID)
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// millisUTC formats t as the on-failure records do: 2019-11-14T18:16:05.568Z.
func millisUTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
