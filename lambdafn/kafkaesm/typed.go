package kafkaesm

import (
	"context"
	"encoding/json"
)

// JSON is the Decoder of JSON keys and values: records a mapping with
// EventRecordFormat JSON delivers (Avro, Protobuf or JSON Schema data
// already decoded to JSON), and JSON written with or without a Confluent or
// Glue JSON Schema serializer's header. The zero value is ready to use.
type JSON struct{}

// Decode unmarshals p's data into v with encoding/json.
func (JSON) Decode(_ context.Context, p Payload, v any) error { return json.Unmarshal(p.Data, v) }

// ValueAs decodes r's value with d into a new T: Powertools' typed
// records, in Go's idiom:
//
//	o, err := kafkaesm.ValueAs[Order](ctx, r, kafkaesm.JSON{})
//	o, err := kafkaesm.ValueAs[Order](ctx, r, orderAvro)        // kafkaesm/avro
//	o, err := kafkaesm.ValueAs[*pb.Order](ctx, r, protobuf.Decoder{}) // kafkaesm/protobuf
//
// An error is a *DecodeError naming the record and the field: returned
// from the function, it fails that record, which (with the rest of its
// partition) is retried.
func ValueAs[T any](ctx context.Context, r Record, d Decoder) (T, error) {
	var v T
	err := r.DecodeValue(ctx, d, &v)
	return v, err
}

// KeyAs is ValueAs for the key.
func KeyAs[T any](ctx context.Context, r Record, d Decoder) (T, error) {
	var v T
	err := r.DecodeKey(ctx, d, &v)
	return v, err
}
