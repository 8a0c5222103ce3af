package schemareg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/google/jsonschema-go/jsonschema"
	"github.com/hamba/avro/v2"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Schema types, Confluent's schemaType (and the event's dataFormat).
const (
	Avro     = "AVRO"
	Protobuf = "PROTOBUF"
	JSON     = "JSON"
)

// Schema is a registered schema.
type Schema struct {
	ID   int    // Confluent's global id
	GUID string // the schema version UUID (Glue framing)
	Type string // Avro, Protobuf or JSON
	Text string // the schema: Avro JSON, .proto source, or JSON Schema
}

// ParseType reads a schemaType: "" is AVRO, as in Confluent's API.
func ParseType(s string) (string, error) {
	switch t := strings.ToUpper(s); t {
	case "":
		return Avro, nil
	case Avro, Protobuf, JSON:
		return t, nil
	}
	return "", fmt.Errorf("schemaType %q: use AVRO, PROTOBUF or JSON", s)
}

// codec decodes and validates data with one schema.
type codec interface {
	// toJSON decodes data (after the registry header; for Confluent
	// Protobuf, the message indexes first) and returns it as JSON, and
	// the data without the message indexes.
	toJSON(data []byte, confluent bool) (js, source []byte, err error)
}

// compile parses s into a codec; the error says what is wrong with the
// schema.
func compile(s Schema) (codec, error) {
	switch s.Type {
	case Avro:
		// A cache per schema: hamba/avro's default cache is global, and
		// two versions of a record with the same name would clash in it.
		sch, err := avro.ParseWithCache(s.Text, "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("invalid Avro schema: %w", err)
		}
		return avroCodec{sch}, nil
	case Protobuf:
		return compileProto(s.Text)
	case JSON:
		var js jsonschema.Schema
		if err := json.Unmarshal([]byte(s.Text), &js); err != nil {
			return nil, fmt.Errorf("invalid JSON Schema: %w", err)
		}
		rs, err := js.Resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("invalid JSON Schema: %w", err)
		}
		return jsonCodec{rs}, nil
	}
	return nil, fmt.Errorf("schema type %q: use AVRO, PROTOBUF or JSON", s.Type)
}

type avroCodec struct{ s avro.Schema }

func (c avroCodec) toJSON(data []byte, _ bool) ([]byte, []byte, error) {
	// Not avro.Unmarshal: it takes data cut short for a success (it
	// ignores io.EOF), and does not see bytes left over.
	r := avro.NewReader(nil, 0).Reset(data)
	var v any
	r.ReadVal(c.s, &v)
	if r.Error != nil {
		return nil, nil, fmt.Errorf("Avro data does not match the schema: %w", r.Error)
	}
	if r.Peek(); r.Error == nil {
		return nil, nil, errors.New("Avro data does not match the schema: bytes are left after the record")
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, nil, fmt.Errorf("Avro data as JSON: %w", err)
	}
	return js, data, nil
}

type jsonCodec struct{ s *jsonschema.Resolved }

func (c jsonCodec) toJSON(data []byte, _ bool) ([]byte, []byte, error) {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, nil, fmt.Errorf("not JSON: %w", err)
	}
	if err := c.s.Validate(v); err != nil {
		return nil, nil, fmt.Errorf("JSON does not validate against the schema: %w", err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, data); err != nil {
		return nil, nil, fmt.Errorf("not JSON: %w", err)
	}
	return b.Bytes(), data, nil
}

type protoCodec struct{ file protoreflect.FileDescriptor }

func compileProto(text string) (codec, error) {
	const name = "schema.proto"
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{name: text}),
	})}
	files, err := c.Compile(context.Background(), name)
	if err != nil {
		return nil, fmt.Errorf("invalid Protobuf schema: %w", err)
	}
	fd := files.FindFileByPath(name)
	if fd == nil || fd.Messages().Len() == 0 {
		return nil, errors.New("invalid Protobuf schema: it defines no message")
	}
	return protoCodec{fd}, nil
}

// message finds the message type Confluent's message indexes name: the
// first index in the file's top-level messages, the next in that
// message's nested ones, and so on.
func (c protoCodec) message(idx []int) (protoreflect.MessageDescriptor, error) {
	msgs := c.file.Messages()
	var md protoreflect.MessageDescriptor
	for i, n := range idx {
		if n >= msgs.Len() {
			return nil, fmt.Errorf("message index %v: level %d has %d messages", idx, i, msgs.Len())
		}
		md = msgs.Get(n)
		msgs = md.Messages()
	}
	return md, nil
}

func (c protoCodec) toJSON(data []byte, confluent bool) ([]byte, []byte, error) {
	idx := []int{0} // Glue: the first message of the schema
	if confluent {
		var err error
		if idx, data, err = kafkaesm.ProtobufMessageIndexes(data); err != nil {
			return nil, nil, err
		}
	}
	md, err := c.message(idx)
	if err != nil {
		return nil, nil, err
	}
	m := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, nil, fmt.Errorf("Protobuf data is not a %s: %w", md.FullName(), err)
	}
	js, err := protojson.Marshal(m)
	if err != nil {
		return nil, nil, fmt.Errorf("Protobuf %s as JSON: %w", md.FullName(), err)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, js); err != nil { // protojson's spacing is unstable by design
		return nil, nil, err
	}
	return b.Bytes(), data, nil
}
