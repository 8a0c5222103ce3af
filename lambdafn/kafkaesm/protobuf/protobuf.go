// Package protobuf decodes Protobuf keys and values of Kafka records for
// package kafkaesm into generated message types, with
// google.golang.org/protobuf: Powertools' Protobuf deserializer in Go's
// idiom. It is a package of its own so that a function reading only JSON
// does not link Protobuf.
//
//	o, err := kafkaesm.ValueAs[*pb.Order](ctx, r, protobuf.Decoder{})
//
// Confluent's Protobuf serializer writes message indexes after its header;
// they are removed (the generated type says which message it is). A value
// a mapping delivered with EventRecordFormat SOURCE has no header; message
// indexes left before the message are recognised (a message cannot start
// with field number 0) and removed too. A mapping with EventRecordFormat
// JSON delivers JSON: read it with kafkaesm.JSON.
package protobuf

import (
	"context"
	"fmt"
	"reflect"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"google.golang.org/protobuf/proto"
)

// Decoder is a kafkaesm.Decoder of Protobuf messages. The zero value is
// ready to use, and safe for concurrent use.
type Decoder struct {
	// Options are the unmarshal options. Default: proto.Unmarshal's.
	Options proto.UnmarshalOptions
}

// Decode unmarshals p's data into v: a proto.Message (a *pb.Order), or a
// pointer to a nil one (a **pb.Order, as kafkaesm.ValueAs[*pb.Order]
// passes), which is then allocated.
func (d Decoder) Decode(_ context.Context, p kafkaesm.Payload, v any) error {
	m, err := message(v)
	if err != nil {
		return err
	}
	data := p.Data
	// Message indexes: Confluent's always; before a message, bytes 0-7
	// are tags of field number 0, which no message has.
	indexes := p.Format == kafkaesm.Confluent || len(data) > 0 && data[0] < 8
	if indexes {
		if _, data, err = kafkaesm.ProtobufMessageIndexes(data); err != nil {
			return err
		}
	}
	if err := d.Options.Unmarshal(data, m); err != nil {
		if !indexes && p.Format == kafkaesm.Plain {
			// Message indexes whose count starts above 7, left by the
			// mapping before the message.
			if _, rest, ierr := kafkaesm.ProtobufMessageIndexes(data); ierr == nil && d.Options.Unmarshal(rest, m) == nil {
				return nil
			}
		}
		return fmt.Errorf("kafkaesm/protobuf: the data is not a %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

func message(v any) (proto.Message, error) {
	if m, ok := v.(proto.Message); ok {
		return m, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer && !rv.IsNil() && rv.Elem().Kind() == reflect.Pointer {
		if rv.Elem().IsNil() {
			rv.Elem().Set(reflect.New(rv.Elem().Type().Elem()))
		}
		if m, ok := rv.Elem().Interface().(proto.Message); ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("kafkaesm/protobuf: %T is not a generated Protobuf message (or a pointer to one)", v)
}
