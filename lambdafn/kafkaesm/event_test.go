package kafkaesm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseEventSamples decodes AWS's documented sample events (see
// testdata/README.md) and checks every field, against the documented
// values and against aws-lambda-go's events.KafkaEvent decoding the same
// bytes.
func TestParseEventSamples(t *testing.T) {
	for _, tt := range []struct {
		file, source, arn string
	}{
		{"msk-event.json", SourceMSK, "arn:aws:kafka:us-east-1:123456789012:cluster/vpc-2priv-2pub/751d2973-a626-431c-9d4e-d7975eb44dd7-2"},
		{"self-managed-event.json", SourceSelfManaged, ""},
	} {
		t.Run(tt.file, func(t *testing.T) {
			b := readSample(t, tt.file)
			ev, err := ParseEvent(b)
			if err != nil {
				t.Fatal(err)
			}
			if ev.EventSource != tt.source || ev.EventSourceARN != tt.arn || len(ev.Invalid) != 0 {
				t.Fatalf("event %+v", ev)
			}
			wantServers := []string{"b-2.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092", "b-1.demo-cluster-1.a1bcde.c1.kafka.us-east-1.amazonaws.com:9092"}
			if strings.Join(ev.BootstrapServers, " ") != strings.Join(wantServers, " ") {
				t.Errorf("bootstrap servers %q", ev.BootstrapServers)
			}
			if len(ev.Records) != 1 {
				t.Fatalf("%d records", len(ev.Records))
			}
			r := ev.Records[0]
			key, _ := base64.StdEncoding.DecodeString("abcDEFghiJKLmnoPQRstuVWXyz1234==")
			if r.Topic != "mytopic" || r.Partition != 0 || r.Offset != 15 || r.TimestampType != CreateTime ||
				!r.Timestamp.Equal(time.UnixMilli(1545084650987)) || r.Timestamp.Location() != time.UTC ||
				string(r.Key) != string(key) || string(r.Value) != "Hello, this is a test." ||
				len(r.Headers) != 1 || r.Headers[0].Key != "headerKey" || string(r.Headers[0].Value) != "headerValue" ||
				r.KeySchema != nil || r.ValueSchema != nil {
				t.Errorf("record %+v", r)
			}
			if id := r.ID(); id != (ItemIdentifier{Partition: "mytopic-0", Offset: 15}) {
				t.Errorf("ID %+v", id)
			}

			// The same bytes through aws-lambda-go.
			var ke events.KafkaEvent
			if err := json.Unmarshal(b, &ke); err != nil {
				t.Fatal(err)
			}
			if ke.EventSource != ev.EventSource || ke.EventSourceARN != ev.EventSourceARN || ke.BootstrapServers != strings.Join(ev.BootstrapServers, ",") {
				t.Errorf("aws-lambda-go reads %+v", ke)
			}
			kr := ke.Records["mytopic-0"][0]
			kk, _ := base64.StdEncoding.DecodeString(kr.Key)
			kv, _ := base64.StdEncoding.DecodeString(kr.Value)
			if kr.Topic != r.Topic || int32(kr.Partition) != r.Partition || kr.Offset != r.Offset || !kr.Timestamp.Time.Equal(r.Timestamp) ||
				kr.TimestampType != string(r.TimestampType) || string(kk) != string(r.Key) || string(kv) != string(r.Value) ||
				string(kr.Headers[0]["headerKey"]) != string(r.Headers[0].Value) {
				t.Errorf("aws-lambda-go record %+v differs from %+v", kr, r)
			}
		})
	}
}

func TestParseEventSchemaRegistrySample(t *testing.T) {
	ev, err := ParseEvent(readSample(t, "msk-event-schema-registry.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Records) != 3 || len(ev.Invalid) != 0 {
		t.Fatalf("%d records, %d invalid", len(ev.Records), len(ev.Invalid))
	}
	r0, r1, r2 := ev.Records[0], ev.Records[1], ev.Records[2]
	if r0.KeySchema == nil || *r0.KeySchema != (SchemaMetadata{"JSON", "1234"}) || *r0.ValueSchema != (SchemaMetadata{"JSON", "1235"}) {
		t.Errorf("record 0 schemas %+v %+v", r0.KeySchema, r0.ValueSchema)
	}
	if r1.Key != nil || r1.KeySchema != nil || *r1.ValueSchema != (SchemaMetadata{"AVRO", "b7b4a7f0-9c96-4e4a-a1b2-0d3c4e5f6a7b"}) || len(r1.Headers) != 0 {
		t.Errorf("record 1 %+v", r1)
	}
	if r2.Key != nil || r2.ValueSchema != nil || r2.TimestampType != LogAppendTime || r2.Offset != 17 {
		t.Errorf("record 2 %+v", r2)
	}
	var v struct{ Key string }
	if err := r0.ValueJSON(&v); err != nil || v.Key != "value" {
		t.Errorf("ValueJSON: %v %+v", err, v)
	}
	p, err := r1.ValuePayload()
	if err != nil || p.Format != Plain || p.SchemaID != "b7b4a7f0-9c96-4e4a-a1b2-0d3c4e5f6a7b" || p.DataFormat != "AVRO" || string(p.Data) != `{"key":"value2"}` {
		t.Errorf("payload %+v %v", p, err)
	}
}

func TestParseEventHeaderBytes(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{"t-1":[{"topic":"t","partition":1,"offset":7,
		"headers":[{"signed":[118,-36,0,127,-128]},{"a":[255,1],"b":null},{"a":[]}]}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	h := ev.Records[0].Headers
	if len(h) != 4 || h[0].Key != "signed" || string(h[0].Value) != "\x76\xdc\x00\x7f\x80" ||
		h[1].Key != "a" || string(h[1].Value) != "\xff\x01" || h[2].Key != "b" || h[2].Value != nil ||
		h[3].Key != "a" || h[3].Value == nil || len(h[3].Value) != 0 {
		t.Fatalf("headers %+v", h)
	}
	if v, ok := ev.Records[0].Header("a"); !ok || string(v) != "\xff\x01" {
		t.Errorf("Header(a) = %q %v", v, ok)
	}
	if _, ok := ev.Records[0].Header("nope"); ok {
		t.Error("Header(nope) found")
	}
}

func TestParseEventUnpaddedBase64(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"eventSource":"SelfManagedKafka","records":{"t-0":[{"offset":0,"value":"aGk"}]}}`))
	if err != nil || string(ev.Records[0].Value) != "hi" {
		t.Fatalf("%v %+v", err, ev)
	}
}

func TestParseEventOrder(t *testing.T) {
	ev, err := ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{
		"b-0":[{"offset":1}],"a.x-10":[{"offset":5},{"offset":6}],"a.x-2":[{"offset":9}],"my-topic-3":[{"offset":3}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range ev.Records {
		got = append(got, r.ID().Partition+"@"+string(rune('0'+r.Offset)))
	}
	if want := "a.x-2@9 a.x-10@5 a.x-10@6 b-0@1 my-topic-3@3"; strings.Join(got, " ") != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if ev.Records[4].Topic != "my-topic" || ev.Records[4].Partition != 3 {
		t.Errorf("topic with a dash: %+v", ev.Records[4])
	}
	// Offsets out of order in the event are put in order.
	ev, err = ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{"t-0":[{"offset":7},{"offset":5},{"offset":"x"},{"offset":6}]}}`))
	if err == nil {
		t.Fatal("bad offset accepted")
	}
	ev, err = ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{"t-0":[{"offset":7},{"offset":5,"value":"!"},{"offset":6}]}}`))
	if err != nil || len(ev.Records) != 2 || ev.Records[0].Offset != 6 || ev.Records[1].Offset != 7 || ev.Invalid[0].ID.Offset != 5 {
		t.Fatalf("%v %+v", err, ev)
	}
}

// TestParseEventErrors: an event that cannot be read fails as a whole,
// naming the field.
func TestParseEventErrors(t *testing.T) {
	for _, tt := range []struct{ payload, field, msg string }{
		{`[1]`, "", "not a JSON object"},
		{`{}`, "", "not a Kafka event"},
		{`{"Records":[{"eventSource":"aws:sqs"}]}`, "", "not a Kafka event"},
		{`{"eventSource":"aws:sqs","records":{}}`, "eventSource", `"aws:sqs" is not a Kafka event source`},
		{`{"eventSource":1,"records":{}}`, "eventSource", "want"},
		{`{"eventSource":"aws:kafka","records":[]}`, "records", "want an object"},
		{`{"eventSource":"aws:kafka"}`, "records", "want an object"},
		{`{"eventSource":"aws:kafka","eventSourceArn":5,"records":{}}`, "eventSourceArn", "want a string"},
		{`{"eventSource":"aws:kafka","bootstrapServers":5,"records":{}}`, "bootstrapServers", "comma-separated"},
		{`{"eventSource":"aws:kafka","records":{"orders":[]}}`, `records["orders"]`, "topic-partition"},
		{`{"eventSource":"aws:kafka","records":{"-0":[]}}`, `records["-0"]`, "topic-partition"},
		{`{"eventSource":"aws:kafka","records":{"orders-0":{}}}`, "records", "want an object"},
		{`{"eventSource":"aws:kafka","records":{"orders-0":[{"offset":1},7]}}`, `records["orders-0"][1]`, "want a record object"},
		{`{"eventSource":"aws:kafka","records":{"orders-0":[{"topic":"orders"}]}}`, `records["orders-0"][0].offset`, "want the record's offset"},
		{`{"eventSource":"aws:kafka","records":{"orders-0":[{"offset":-1}]}}`, `records["orders-0"][0].offset`, "want the record's offset"},
		{`{"eventSource":"aws:kafka","records":{"orders-0":[{"offset":"5"}]}}`, `records["orders-0"][0].offset`, "want the record's offset"},
	} {
		_, err := ParseEvent([]byte(tt.payload))
		var ee *EventError
		if !errors.As(err, &ee) || ee.Field != tt.field || !strings.Contains(ee.Msg, tt.msg) {
			t.Errorf("%s: %v, want field %q and %q", tt.payload, err, tt.field, tt.msg)
		}
	}
}

// TestParseEventInvalidRecords: a record that can be identified but not
// decoded is invalid alone, its error naming the field.
func TestParseEventInvalidRecords(t *testing.T) {
	for _, tt := range []struct{ record, field, msg string }{
		{`{"offset":2,"value":"!!!"}`, `records["orders-0"][1].value`, "illegal base64 data"},
		{`{"offset":2,"key":5}`, `records["orders-0"][1].key`, "want a base64 string"},
		{`{"offset":2,"topic":"other"}`, `records["orders-0"][1].topic`, `does not match the partition key "orders-0"`},
		{`{"offset":2,"partition":1}`, `records["orders-0"][1].partition`, "does not match"},
		{`{"offset":2,"partition":"0"}`, `records["orders-0"][1].partition`, "want a number"},
		{`{"offset":2,"timestamp":"now"}`, `records["orders-0"][1].timestamp`, "milliseconds"},
		{`{"offset":2,"timestampType":1}`, `records["orders-0"][1].timestampType`, "want a string"},
		{`{"offset":2,"headers":{"a":[1]}}`, `records["orders-0"][1].headers`, "want a list"},
		{`{"offset":2,"headers":[[1]]}`, `records["orders-0"][1].headers[0]`, "want an object"},
		{`{"offset":2,"headers":[{"h":"x"}]}`, `records["orders-0"][1].headers[0]["h"]`, "want an array of byte values"},
		{`{"offset":2,"headers":[{"h":[1,300]}]}`, `records["orders-0"][1].headers[0]["h"][1]`, "300 is not a byte value"},
		{`{"offset":2,"headers":[{"h":[1.5]}]}`, `records["orders-0"][1].headers[0]["h"][0]`, "not a byte value"},
		{`{"offset":2,"valueSchemaMetadata":[]}`, `records["orders-0"][1].valueSchemaMetadata`, "dataFormat"},
	} {
		ev, err := ParseEvent([]byte(`{"eventSource":"aws:kafka","records":{"orders-0":[{"offset":1,"value":"eA=="},` + tt.record + `,{"offset":3}]}}`))
		if err != nil {
			t.Errorf("%s: %v", tt.record, err)
			continue
		}
		if len(ev.Records) != 2 || len(ev.Invalid) != 1 {
			t.Errorf("%s: %d records, %d invalid", tt.record, len(ev.Records), len(ev.Invalid))
			continue
		}
		re := ev.Invalid[0]
		if re.ID != (ItemIdentifier{"orders-0", 2}) || re.Field != tt.field || !strings.Contains(re.Error(), tt.msg) ||
			!errors.Is(re, ErrMalformed) || !strings.HasPrefix(re.Error(), "kafkaesm: "+tt.field+": ") {
			t.Errorf("%s: %+v (%v), want field %q and %q", tt.record, re, re, tt.field, tt.msg)
		}
	}
}
