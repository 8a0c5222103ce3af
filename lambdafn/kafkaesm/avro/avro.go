// Package avro decodes Avro keys and values of Kafka records for package
// kafkaesm, with github.com/hamba/avro/v2: Powertools' Avro deserializer
// in Go's idiom. It is a package of its own so that a function reading
// only JSON does not link an Avro library.
//
//	orders, err := avro.New(orderSchema) // in init: the writer's schema, Avro JSON
//	...
//	o, err := kafkaesm.ValueAs[Order](ctx, r, orders)
//
// The data is Avro's binary encoding: what a mapping with EventRecordFormat
// SOURCE delivers (the registry's header removed), or what a Confluent or
// Glue serializer wrote (kafkaesm removes the header). A mapping with
// EventRecordFormat JSON delivers JSON: read it with kafkaesm.JSON.
package avro

import (
	"context"
	"errors"
	"fmt"

	"github.com/hamba/avro/v2"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

// Decoder is a kafkaesm.Decoder of Avro data written with one schema. It
// is safe for concurrent use.
type Decoder struct {
	schema avro.Schema
}

// New parses schema, the writer's schema in Avro's JSON form.
func New(schema string) (*Decoder, error) {
	// A cache of its own: hamba/avro's default cache is global, and two
	// versions of a record with the same name would clash in it.
	s, err := avro.ParseWithCache(schema, "", &avro.SchemaCache{})
	if err != nil {
		return nil, fmt.Errorf("kafkaesm/avro: invalid schema: %w", err)
	}
	return &Decoder{schema: s}, nil
}

// Decode decodes p's data into v (a pointer: to a struct with avro tags,
// a map[string]any, or any), as hamba/avro's Unmarshal does, but strictly:
// data cut short or with bytes left after the value is an error.
func (d *Decoder) Decode(_ context.Context, p kafkaesm.Payload, v any) error {
	r := avro.NewReader(nil, 0).Reset(p.Data)
	r.ReadVal(d.schema, v)
	if r.Error != nil {
		return fmt.Errorf("kafkaesm/avro: the data does not match the schema: %w", r.Error)
	}
	if r.Peek(); r.Error == nil {
		return errors.New("kafkaesm/avro: the data does not match the schema: bytes are left after the value")
	}
	return nil
}
