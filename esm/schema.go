package esm

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Conditions of a record the schema registry stage rejects: the reason
// codes Lambda sends such a record to the on-failure destination with
// (services-consume-kafka-events.html, "How Lambda performs schema
// validation"); without a destination the record is dropped.
const (
	// ConditionSchemaNotFound: the registry has no schema for the id in the
	// record's header.
	ConditionSchemaNotFound = "SCHEMA_NOT_FOUND"
	// ConditionDeserializationError: the key or value does not decode (or
	// validate) with its schema, or has no schema registry header.
	ConditionDeserializationError = "DESERIALIZATION_ERROR"
)

// SchemaMetadata is a record's keySchemaMetadata or valueSchemaMetadata in
// the event of a mapping with a schema registry.
type SchemaMetadata struct {
	DataFormat string // "AVRO", "PROTOBUF" or "JSON"
	SchemaID   string // the registry's id: a number (Confluent) or a UUID (Glue)
}

// Decoded is a record as the schema registry stage hands it on.
type Decoded struct {
	// Key and Value are what the event carries: unchanged for an
	// attribute not validated, else the data as JSON (EventRecordFormat
	// JSON) or without the registry's header (SOURCE).
	Key, Value []byte
	// KeySchema and ValueSchema are the event's metadata of the validated
	// attributes, nil for the others.
	KeySchema, ValueSchema *SchemaMetadata
	// FilterValue is the value the filter stage matches: the value as
	// JSON when it was validated, whatever the delivery format (Lambda
	// filters Avro and Protobuf records on their decoded form), else nil
	// (the record's own value is matched).
	FilterValue []byte
}

// RecordDecoder is a mapping's schema registry stage (SchemaRegistryConfig):
// it validates a record's key and/or value against the registry's schema
// and returns what the event carries. It runs when a record is gathered
// into a batch, before filtering, as Lambda validates and deserializes
// before it filters.
//
// An error that is (or wraps) a *SchemaError gives the record up with its
// Condition, before any invocation. Any other error (the registry cannot be
// reached) is retried with backoff until it succeeds or Run's context
// ends: the record and those after it wait, nothing is skipped.
// Package internal/schemareg implements it.
type RecordDecoder interface {
	DecodeRecord(ctx context.Context, r *kgo.Record) (Decoded, error)
}

// SchemaError is a record the schema registry stage rejects for good.
type SchemaError struct {
	Condition string // ConditionSchemaNotFound or ConditionDeserializationError
	Err       error
}

func (e *SchemaError) Error() string { return e.Condition + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *SchemaError) Unwrap() error { return e.Err }

// WithSchemaRegistry sets the schema registry stage (see RecordDecoder).
// Default none: keys and values are delivered as the producer wrote them.
func WithSchemaRegistry(d RecordDecoder) Opt { return func(c *config) { c.decoder = d } }

// decode runs the schema registry stage on rec once, then the filter
// stage on what it decoded, and encodes rec unless it is filtered out
// (newRecord leaves both to decode when the mapping has a registry). It
// returns an error only when ctx ends while the registry cannot be
// reached.
func (r *runner) decode(ctx context.Context, rec *record) error {
	e := r.e
	if e.c.decoder == nil || rec.decoded {
		return nil
	}
	wait := e.c.backoffMin
	for {
		d, err := e.c.decoder.DecodeRecord(ctx, rec.r)
		var se *SchemaError
		switch {
		case err == nil:
			rec.decoded = true
			// Filters match what the stage decoded (Lambda filters
			// after decoding); a record filtered out is not encoded.
			fv := d.FilterValue
			if fv == nil {
				fv = rec.r.Value
			}
			if !e.c.filters.Match(fv) {
				rec.done, rec.filtered = true, true
				return nil
			}
			kr := *rec.r
			kr.Key, kr.Value = d.Key, d.Value
			rec.enc = encodeRecordWith(&kr, d.KeySchema, d.ValueSchema)
			return nil
		case errors.As(err, &se):
			// Given up: its on-failure record carries it as produced.
			rec.discard, rec.lastError, rec.decoded = se.Condition, err.Error(), true
			rec.enc = encodeRecord(rec.r)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		e.log.Warn("esm: the schema registry stage failed; trying the record again", slog.String("partition", rec.tp.String()),
			slog.Int64("offset", rec.r.Offset), slog.Any("error", err))
		sleep(ctx, wait)
		wait = min(max(2*wait, 100*time.Millisecond), e.c.backoffMax)
	}
}
