package kafkaesm

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// WireFormat is the framing a schema registry serializer puts before the
// serialized data.
type WireFormat int

// The wire formats ParseWire recognises.
const (
	// Plain: no schema registry header; Data is the whole value.
	Plain WireFormat = iota
	// Confluent: magic byte 0, then the schema id as a 4-byte big-endian
	// integer (Confluent Schema Registry's serializers; also Redpanda's and
	// Apicurio's in their Confluent-compatible mode). For Protobuf the
	// message indexes follow the id (see ProtobufMessageIndexes).
	Confluent
	// Glue: AWS Glue Schema Registry's header: version byte 3, a
	// compression byte (0 none, 5 zlib), the 16-byte schema version id.
	Glue
)

func (f WireFormat) String() string {
	switch f {
	case Plain:
		return "plain"
	case Confluent:
		return "confluent"
	case Glue:
		return "glue"
	}
	return "WireFormat(" + strconv.Itoa(int(f)) + ")"
}

// Header sizes and bytes of the wire formats.
const (
	confluentMagic      = 0
	confluentHeaderSize = 5
	glueVersion         = 3
	glueNoCompression   = 0
	glueZlib            = 5
	glueHeaderSize      = 18
	// maxDecompressed bounds a Glue-compressed payload once inflated.
	maxDecompressed = 64 << 20
)

// ErrWireFormat is wrapped by the errors of ParseWire and the decoders for
// a payload whose schema registry header is truncated or unknown.
var ErrWireFormat = errors.New("kafkaesm: bad schema registry wire format")

// Payload is a key or value with its schema registry framing recognised
// and removed.
type Payload struct {
	Format WireFormat
	// SchemaID is the schema's id: Confluent's number in decimal, Glue's
	// schema version UUID; for Plain data the event's schemaId, if any.
	SchemaID string
	// DataFormat is the event's dataFormat ("AVRO", "PROTOBUF", "JSON")
	// when the mapping has a schema registry, else "".
	DataFormat string
	// Data is the serialized data after the header (inflated for Glue's
	// zlib compression). For Confluent Protobuf it starts with the message
	// indexes (see ProtobufMessageIndexes).
	Data []byte
}

// ParseWire recognises b's schema registry header: Confluent's (first byte
// 0) or Glue's (first byte 3, then a known compression byte); anything
// else is Plain. A header that is cut short, or a Glue header with an
// unknown compression byte, is an error wrapping ErrWireFormat. Data
// shares b's memory except when Glue's zlib compression was inflated.
//
// Plain binary data that happens to start with 0 or 3 is misread: call
// ParseWire on data a schema registry serializer wrote. Record's decoding
// methods call it for a key or value without schema metadata in the event
// whose first byte is 0 or 3, bytes no JSON text starts with.
func ParseWire(b []byte) (Payload, error) {
	switch {
	case len(b) > 0 && b[0] == confluentMagic:
		if len(b) < confluentHeaderSize {
			return Payload{}, fmt.Errorf("%w: %d bytes starting with the Confluent magic byte 0: the header is 5 bytes (magic byte, 4-byte schema id)", ErrWireFormat, len(b))
		}
		id := binary.BigEndian.Uint32(b[1:5])
		return Payload{Format: Confluent, SchemaID: strconv.FormatUint(uint64(id), 10), Data: b[confluentHeaderSize:]}, nil
	case len(b) > 0 && b[0] == glueVersion:
		if len(b) < glueHeaderSize {
			return Payload{}, fmt.Errorf("%w: %d bytes starting with Glue's header version 3: the header is 18 bytes (version, compression, 16-byte schema version id)", ErrWireFormat, len(b))
		}
		p := Payload{Format: Glue, SchemaID: uuidString(b[2:18]), Data: b[glueHeaderSize:]}
		switch b[1] {
		case glueNoCompression:
		case glueZlib:
			data, err := inflate(p.Data, maxDecompressed)
			if err != nil {
				return Payload{}, err
			}
			p.Data = data
		default:
			return Payload{}, fmt.Errorf("%w: Glue compression byte %d: want 0 (none) or 5 (zlib)", ErrWireFormat, b[1])
		}
		return p, nil
	}
	return Payload{Format: Plain, Data: b}, nil
}

// inflate decompresses Glue's zlib data, up to limit bytes.
func inflate(b []byte, limit int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: Glue zlib payload: %v", ErrWireFormat, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err == nil {
		err = zr.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: Glue zlib payload: %v", ErrWireFormat, err)
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%w: Glue zlib payload inflates beyond %d bytes", ErrWireFormat, limit)
	}
	return data, nil
}

func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ProtobufMessageIndexes reads the message indexes Confluent's Protobuf
// serializer writes after the schema id: a count, then that many indexes,
// all zig-zag varints; the single byte 0 stands for [0]. It returns the
// indexes and the serialized message after them.
func ProtobufMessageIndexes(data []byte) ([]int, []byte, error) {
	n, rest, err := zigzag(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: Protobuf message index count: %v", ErrWireFormat, err)
	}
	if n == 0 {
		return []int{0}, rest, nil
	}
	if n < 0 || n > int64(len(rest)) {
		return nil, nil, fmt.Errorf("%w: Protobuf message index count %d for %d bytes", ErrWireFormat, n, len(rest))
	}
	idx := make([]int, n)
	for i := range idx {
		var v int64
		if v, rest, err = zigzag(rest); err != nil {
			return nil, nil, fmt.Errorf("%w: Protobuf message index %d: %v", ErrWireFormat, i, err)
		}
		if v < 0 {
			return nil, nil, fmt.Errorf("%w: Protobuf message index %d is negative (%d)", ErrWireFormat, i, v)
		}
		idx[i] = int(v)
	}
	return idx, rest, nil
}

func zigzag(b []byte) (int64, []byte, error) {
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errors.New("truncated or overlong varint")
	}
	return int64(u>>1) ^ -int64(u&1), b[n:], nil
}

// A Decoder turns a record's key or value into a Go value: the hook for
// Avro, Protobuf or any format a schema registry serves. p has the schema
// registry header removed and its schema id (and, from the event, the data
// format). A Decoder that fetches schemas should cache them; it is called
// once per record, from one goroutine per partition at a time, so it must
// be safe for concurrent use when the handler processes partitions
// concurrently (WithPartitionConcurrency).
type Decoder interface {
	Decode(ctx context.Context, p Payload, v any) error
}

// DecoderFunc adapts a function to a Decoder.
type DecoderFunc func(ctx context.Context, p Payload, v any) error

// Decode calls f.
func (f DecoderFunc) Decode(ctx context.Context, p Payload, v any) error { return f(ctx, p, v) }

// DecodeError is a key or value that could not be decoded. Returned from
// the function, it fails that record like any other error.
type DecodeError struct {
	ID    ItemIdentifier
	Field string // "key" or "value"
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("kafkaesm: %s offset %d: decoding the %s: %v", e.ID.Partition, e.ID.Offset, e.Field, e.Err)
}

// Unwrap returns the decoder's error.
func (e *DecodeError) Unwrap() error { return e.Err }

// ValuePayload returns the value as a Payload. When the mapping has a
// schema registry, Lambda has already validated the value and removed the
// registry's header (EventRecordFormat SOURCE) or turned it into JSON
// (JSON): the payload is the value, Plain, with the event's dataFormat and
// schemaId. Without schema metadata, a value that starts with 0 or 3 (bytes
// no JSON text starts with) is read with ParseWire, so Confluent's and
// Glue's headers are recognised and removed.
func (r Record) ValuePayload() (Payload, error) {
	return payload(r.Value, r.ValueSchema)
}

// KeyPayload is ValuePayload for the key.
func (r Record) KeyPayload() (Payload, error) {
	return payload(r.Key, r.KeySchema)
}

func payload(b []byte, md *SchemaMetadata) (Payload, error) {
	switch {
	case md != nil:
		return Payload{Format: Plain, SchemaID: md.SchemaID, DataFormat: md.DataFormat, Data: b}, nil
	case len(b) > 0 && (b[0] == confluentMagic || b[0] == glueVersion):
		return ParseWire(b)
	}
	return Payload{Format: Plain, Data: b}, nil
}

// ValueJSON unmarshals the value, as JSON, into v. A schema registry
// header before the JSON (Confluent's or Glue's JSON Schema serializers)
// is removed first. A null value or a decoding error is a *DecodeError.
func (r Record) ValueJSON(v any) error { return r.decodeJSON("value", r.Value, r.ValueSchema, v) }

// KeyJSON is ValueJSON for the key.
func (r Record) KeyJSON(v any) error { return r.decodeJSON("key", r.Key, r.KeySchema, v) }

func (r Record) decodeJSON(field string, b []byte, md *SchemaMetadata, v any) error {
	if b == nil {
		return &DecodeError{ID: r.ID(), Field: field, Err: errors.New("it is null: want JSON")}
	}
	p, err := payload(b, md)
	if err == nil {
		err = json.Unmarshal(p.Data, v)
	}
	if err != nil {
		return &DecodeError{ID: r.ID(), Field: field, Err: err}
	}
	return nil
}

// DecodeValue decodes the value with d (see Decoder) into v. An error
// from the wire format or from d is a *DecodeError.
func (r Record) DecodeValue(ctx context.Context, d Decoder, v any) error {
	return r.decode(ctx, "value", r.Value, r.ValueSchema, d, v)
}

// DecodeKey is DecodeValue for the key.
func (r Record) DecodeKey(ctx context.Context, d Decoder, v any) error {
	return r.decode(ctx, "key", r.Key, r.KeySchema, d, v)
}

func (r Record) decode(ctx context.Context, field string, b []byte, md *SchemaMetadata, d Decoder, v any) error {
	p, err := payload(b, md)
	if err == nil {
		err = d.Decode(ctx, p, v)
	}
	if err != nil {
		return &DecodeError{ID: r.ID(), Field: field, Err: err}
	}
	return nil
}
