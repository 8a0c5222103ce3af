package schemareg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EventRecordFormat values: what the event carries for a validated
// attribute.
const (
	FormatJSON   = "JSON"   // the data decoded to JSON
	FormatSource = "SOURCE" // the data as produced, the registry's header removed
)

// Attributes of SchemaValidationConfigs.
const (
	AttributeKey   = "KEY"
	AttributeValue = "VALUE"
)

// Config is a mapping's SchemaRegistryConfig.
type Config struct {
	// Registry resolves schema ids (a *Client).
	Registry Registry
	// EventRecordFormat is FormatJSON or FormatSource.
	EventRecordFormat string
	// Validate lists the attributes to validate (SchemaValidationConfigs):
	// AttributeKey and/or AttributeValue.
	Validate []string
}

// ParseAttributes reads a comma-separated list of KEY and VALUE (any case).
func ParseAttributes(s string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		a := strings.ToUpper(strings.TrimSpace(f))
		if a != AttributeKey && a != AttributeValue {
			return nil, fmt.Errorf("schema validation attribute %q: use KEY, VALUE or KEY,VALUE", strings.TrimSpace(f))
		}
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// Decoder is the schema registry stage of an event source mapping (see
// the package doc): an esm.RecordDecoder. It is safe for concurrent use.
type Decoder struct {
	reg                  Registry
	json                 bool
	validKey, validValue bool

	mu     sync.Mutex
	codecs map[string]codec // "id:N" or "guid:U"
}

// NewDecoder checks cfg and returns the stage.
func NewDecoder(cfg Config) (*Decoder, error) {
	d := &Decoder{reg: cfg.Registry, codecs: map[string]codec{}}
	switch strings.ToUpper(cfg.EventRecordFormat) {
	case FormatJSON:
		d.json = true
	case FormatSource:
	default:
		return nil, fmt.Errorf("schemareg: EventRecordFormat %q: use JSON (the data decoded to JSON) or SOURCE (the data without the registry's header)", cfg.EventRecordFormat)
	}
	for _, a := range cfg.Validate {
		switch strings.ToUpper(a) {
		case AttributeKey:
			d.validKey = true
		case AttributeValue:
			d.validValue = true
		default:
			return nil, fmt.Errorf("schemareg: SchemaValidationConfigs attribute %q: use KEY or VALUE", a)
		}
	}
	switch {
	case !d.validKey && !d.validValue:
		return nil, errors.New("schemareg: SchemaValidationConfigs is empty: name KEY and/or VALUE to validate")
	case d.reg == nil:
		return nil, errors.New("schemareg: no registry: give the registry's URL")
	}
	return d, nil
}

// DecodeRecord implements esm.RecordDecoder.
func (d *Decoder) DecodeRecord(ctx context.Context, r *kgo.Record) (esm.Decoded, error) {
	out := esm.Decoded{Key: r.Key, Value: r.Value}
	var err error
	if d.validKey && r.Key != nil {
		if out.Key, _, out.KeySchema, err = d.attribute(ctx, r, "key", r.Key); err != nil {
			return esm.Decoded{}, err
		}
	}
	if d.validValue && r.Value != nil {
		if out.Value, out.FilterValue, out.ValueSchema, err = d.attribute(ctx, r, "value", r.Value); err != nil {
			return esm.Decoded{}, err
		}
	}
	return out, nil
}

// attribute decodes one key or value: what the event carries, its JSON,
// and its metadata.
func (d *Decoder) attribute(ctx context.Context, r *kgo.Record, field string, b []byte) (deliver, js []byte, md *esm.SchemaMetadata, err error) {
	where := fmt.Sprintf("%s-%d offset %d %s", r.Topic, r.Partition, r.Offset, field)
	p, err := kafkaesm.ParseWire(b)
	switch {
	case err == nil && len(b) == 0:
		err = errors.New("no schema registry header: it is empty")
	case err == nil && p.Format == kafkaesm.Plain:
		err = fmt.Errorf("no schema registry header: the first byte is 0x%02x, want 0 (Confluent) or 3 (Glue); produce with a schema registry serializer", b[0])
	}
	if err != nil {
		return nil, nil, nil, &esm.SchemaError{Condition: esm.ConditionDeserializationError, Err: fmt.Errorf("%s: %w", where, err)}
	}
	var s Schema
	key := "guid:" + p.SchemaID
	if p.Format == kafkaesm.Confluent {
		key = "id:" + p.SchemaID
		id, _ := strconv.Atoi(p.SchemaID) // ParseWire's decimal uint32
		s, err = d.reg.SchemaByID(ctx, id)
	} else {
		s, err = d.reg.SchemaByGUID(ctx, p.SchemaID)
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil, nil, &esm.SchemaError{Condition: esm.ConditionSchemaNotFound, Err: fmt.Errorf("%s: %s schema id %s: %w", where, p.Format, p.SchemaID, err)}
	case err != nil:
		return nil, nil, nil, fmt.Errorf("%s: fetching %s schema id %s: %w", where, p.Format, p.SchemaID, err)
	}
	c, err := d.codec(key, s)
	if err != nil {
		return nil, nil, nil, &esm.SchemaError{Condition: esm.ConditionDeserializationError, Err: fmt.Errorf("%s: schema id %s: %w", where, p.SchemaID, err)}
	}
	js, source, err := c.toJSON(p.Data, p.Format == kafkaesm.Confluent)
	if err != nil {
		return nil, nil, nil, &esm.SchemaError{Condition: esm.ConditionDeserializationError, Err: fmt.Errorf("%s: schema id %s: %w", where, p.SchemaID, err)}
	}
	md = &esm.SchemaMetadata{DataFormat: s.Type, SchemaID: p.SchemaID}
	if d.json {
		return js, js, md, nil
	}
	return source, js, md, nil
}

func (d *Decoder) codec(key string, s Schema) (codec, error) {
	d.mu.Lock()
	c, ok := d.codecs[key]
	d.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := compile(s)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.codecs[key] = c
	d.mu.Unlock()
	return c, nil
}
