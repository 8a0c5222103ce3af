package kafkaesm

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

func confluentFrame(id uint32, data []byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], id)
	return append(b, data...)
}

var glueVersionID = []byte{0xb7, 0xb4, 0xa7, 0xf0, 0x9c, 0x96, 0x4e, 0x4a, 0xa1, 0xb2, 0x0d, 0x3c, 0x4e, 0x5f, 0x6a, 0x7b}

const glueVersionUUID = "b7b4a7f0-9c96-4e4a-a1b2-0d3c4e5f6a7b"

func glueFrame(compression byte, data []byte) []byte {
	return append(append([]byte{3, compression}, glueVersionID...), data...)
}

func zlibBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseWire(t *testing.T) {
	order := []byte(`{"id":"o-1","qty":2}`)
	for _, tt := range []struct {
		name   string
		in     []byte
		format WireFormat
		id     string
		data   []byte
	}{
		{"plain JSON", order, Plain, "", order},
		{"plain empty", []byte{}, Plain, "", []byte{}},
		{"confluent", confluentFrame(1234, order), Confluent, "1234", order},
		{"confluent max id", confluentFrame(0xffffffff, nil), Confluent, "4294967295", []byte{}},
		{"glue uncompressed", glueFrame(0, order), Glue, glueVersionUUID, order},
		{"glue zlib", glueFrame(5, zlibBytes(t, order)), Glue, glueVersionUUID, order},
	} {
		p, err := ParseWire(tt.in)
		if err != nil || p.Format != tt.format || p.SchemaID != tt.id || !bytes.Equal(p.Data, tt.data) {
			t.Errorf("%s: %+v %v, want %v %q %q", tt.name, p, err, tt.format, tt.id, tt.data)
		}
	}
	for _, tt := range []struct {
		name string
		in   []byte
		msg  string
	}{
		{"confluent truncated", []byte{0, 0, 4}, "3 bytes starting with the Confluent magic byte 0"},
		{"glue truncated", append([]byte{3, 0}, glueVersionID[:10]...), "12 bytes starting with Glue's header version 3"},
		{"glue unknown compression", glueFrame(9, []byte("x")), "compression byte 9"},
		{"glue bad zlib", glueFrame(5, []byte("not zlib")), "Glue zlib payload"},
		{"glue truncated zlib", glueFrame(5, zlibBytes(t, bytes.Repeat([]byte("a"), 1000))[:8]), "Glue zlib payload"},
	} {
		_, err := ParseWire(tt.in)
		if !errors.Is(err, ErrWireFormat) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.msg)
		}
	}
}

func TestInflateLimit(t *testing.T) {
	z := zlibBytes(t, make([]byte, 4097))
	if _, err := inflate(z, 4096); !errors.Is(err, ErrWireFormat) || !strings.Contains(err.Error(), "inflates beyond 4096 bytes") {
		t.Fatalf("%v", err)
	}
	if b, err := inflate(z, 4097); err != nil || len(b) != 4097 {
		t.Fatalf("%d %v", len(b), err)
	}
}

func TestProtobufMessageIndexes(t *testing.T) {
	for _, tt := range []struct {
		in   []byte
		idx  []int
		rest string
	}{
		{[]byte{0, 'm'}, []int{0}, "m"},
		{[]byte{2, 2, 'm'}, []int{1}, "m"},             // count 1 (zig-zag 2), index 1 (2)
		{[]byte{4, 0, 6, 'x', 'y'}, []int{0, 3}, "xy"}, // count 2, indexes 0 and 3
	} {
		idx, rest, err := ProtobufMessageIndexes(tt.in)
		if err != nil || !slices.Equal(idx, tt.idx) || string(rest) != tt.rest {
			t.Errorf("%v: %v %q %v", tt.in, idx, rest, err)
		}
	}
	for _, in := range [][]byte{{}, {0x80}, {4, 0}, {2, 1}, {1}, {0xfe, 0xff, 0xff, 0xff, 0x0f}} {
		if _, _, err := ProtobufMessageIndexes(in); !errors.Is(err, ErrWireFormat) {
			t.Errorf("%v: %v, want ErrWireFormat", in, err)
		}
	}
}

func TestRecordDecoding(t *testing.T) {
	type order struct {
		ID  string `json:"id"`
		Qty int    `json:"qty"`
	}
	body := []byte(`{"id":"o-1","qty":2}`)
	for _, tt := range []struct {
		name  string
		value []byte
	}{
		{"plain", body},
		{"confluent JSON Schema", confluentFrame(7, body)},
		{"glue JSON", glueFrame(0, body)},
		{"glue JSON zlib", glueFrame(5, zlibBytes(t, body))},
	} {
		r := Record{Topic: "orders", Partition: 1, Offset: 9, Value: tt.value, Key: confluentFrame(3, []byte(`"k"`))}
		var o order
		if err := r.ValueJSON(&o); err != nil || o != (order{"o-1", 2}) {
			t.Errorf("%s: %+v %v", tt.name, o, err)
		}
		var k string
		if err := r.KeyJSON(&k); err != nil || k != "k" {
			t.Errorf("%s: key %q %v", tt.name, k, err)
		}
	}

	r := Record{Topic: "orders", Partition: 1, Offset: 9, Value: []byte(`{"id":`)}
	var o order
	err := r.ValueJSON(&o)
	var de *DecodeError
	if !errors.As(err, &de) || de.Field != "value" || de.ID != (ItemIdentifier{"orders-1", 9}) ||
		!strings.Contains(err.Error(), "orders-1 offset 9: decoding the value: unexpected end of JSON input") {
		t.Errorf("bad JSON: %v", err)
	}
	if err := (Record{Topic: "t"}).ValueJSON(&o); !errors.As(err, &de) || !strings.Contains(err.Error(), "null") {
		t.Errorf("null value: %v", err)
	}
	if err := (Record{Topic: "t", Value: []byte{0, 1}}).ValueJSON(&o); !errors.Is(err, ErrWireFormat) {
		t.Errorf("truncated header: %v", err)
	}

	// The Decoder hook gets the payload without the header, with its id.
	var got Payload
	avro := DecoderFunc(func(ctx context.Context, p Payload, v any) error {
		got = p
		if p.SchemaID == "bad" {
			return errors.New("unknown schema")
		}
		*(v.(*string)) = string(p.Data)
		return nil
	})
	var s string
	r = Record{Topic: "t", Value: confluentFrame(42, []byte{2, 'h', 'i'})}
	if err := r.DecodeValue(context.Background(), avro, &s); err != nil || got.Format != Confluent || got.SchemaID != "42" || s != "\x02hi" {
		t.Errorf("confluent: %+v %q %v", got, s, err)
	}
	// With schema metadata Lambda already removed the header: the data is
	// passed as is, with the event's format and id.
	r = Record{Topic: "t", Value: []byte{0, 'x'}, ValueSchema: &SchemaMetadata{DataFormat: "AVRO", SchemaID: "17"}}
	if err := r.DecodeValue(context.Background(), avro, &s); err != nil || got.Format != Plain || got.SchemaID != "17" || got.DataFormat != "AVRO" || s != "\x00x" {
		t.Errorf("metadata: %+v %q %v", got, s, err)
	}
	r = Record{Topic: "t", Offset: 3, Key: []byte("k"), KeySchema: &SchemaMetadata{DataFormat: "AVRO", SchemaID: "bad"}}
	if err := r.DecodeKey(context.Background(), avro, &s); !errors.As(err, &de) || de.Field != "key" || !strings.Contains(err.Error(), "unknown schema") {
		t.Errorf("decoder error: %v", err)
	}
}
