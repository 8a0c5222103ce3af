package eventfilter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Criteria is a compiled FilterCriteria: the filters of one event source
// mapping. A nil or empty Criteria matches every record. A Criteria is
// immutable and safe for concurrent use.
type Criteria struct {
	filters []compiled
}

type compiled struct {
	pattern string
	root    *object
}

// Compile compiles patterns, one filter each (the Pattern strings of
// FilterCriteria). It returns a *PatternError naming the filter (from 1),
// the path and the operator of the first problem.
func Compile(patterns ...string) (*Criteria, error) {
	if len(patterns) > MaxFilters {
		return nil, &PatternError{Reason: fmt.Sprintf("%d filters; Lambda allows %d per event source mapping (%d with a quota increase)",
			len(patterns), DefaultMaxFilters, MaxFilters), Err: ErrTooMany}
	}
	c := &Criteria{}
	for i, p := range patterns {
		root, err := compile(p)
		if err != nil {
			var pe *PatternError
			if errors.As(err, &pe) {
				pe.Filter = i + 1
			}
			return nil, err
		}
		c.filters = append(c.filters, compiled{pattern: p, root: root})
	}
	return c, nil
}

// criteriaJSON is FilterCriteria as Lambda's API and the AWS CLI's
// --filter-criteria take it.
type criteriaJSON struct {
	Filters []struct {
		Pattern *string `json:"Pattern"`
	} `json:"Filters"`
}

// Parse reads a FilterCriteria document, {"Filters": [{"Pattern": "..."}]}
// (API_FilterCriteria.html; the JSON of aws lambda
// create-event-source-mapping --filter-criteria), and compiles its
// patterns. {} has no filters: every record matches.
func Parse(data []byte) (*Criteria, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	var fc criteriaJSON
	if err := d.Decode(&fc); err != nil {
		return nil, &PatternError{Reason: `not a FilterCriteria document {"Filters": [{"Pattern": "..."}]}: ` + jsonErr(err)}
	}
	patterns := make([]string, 0, len(fc.Filters))
	for i, f := range fc.Filters {
		if f.Pattern == nil {
			return nil, &PatternError{Filter: i + 1, Reason: `no "Pattern": each filter is {"Pattern": "<the pattern as a JSON string>"}`}
		}
		patterns = append(patterns, *f.Pattern)
	}
	return Compile(patterns...)
}

// Join returns the filters of a and b together (either may be nil), as
// one mapping's FilterCriteria: a record matching any of them matches.
func Join(a, b *Criteria) (*Criteria, error) {
	return Compile(append(a.Patterns(), b.Patterns()...)...)
}

// Len is the number of filters.
func (c *Criteria) Len() int {
	if c == nil {
		return 0
	}
	return len(c.filters)
}

// Patterns returns the filters' patterns as given, for FilterCriteria in
// a template or an API call.
func (c *Criteria) Patterns() []string {
	if c == nil {
		return nil
	}
	out := make([]string, len(c.filters))
	for i, f := range c.filters {
		out[i] = f.pattern
	}
	return out
}

// MarshalJSON writes the FilterCriteria document, {"Filters": [...]}.
func (c *Criteria) MarshalJSON() ([]byte, error) {
	type filter struct {
		Pattern string `json:"Pattern"`
	}
	fs := []filter{}
	for _, p := range c.Patterns() {
		fs = append(fs, filter{p})
	}
	return json.Marshal(struct {
		Filters []filter `json:"Filters"`
	}{fs})
}

// Match reports whether a Kafka record with this value is delivered: true
// when there are no filters or when one of them matches (filters are
// alternatives: "If an event satisfies any one of these filters, Lambda
// sends the event"). value is what Lambda filters on: the record's value,
// after any schema-registry decoding. How a value is matched (see the
// package documentation): a JSON object or array as JSON, other UTF-8 as
// a plain string; a pattern of the other format, a value that is not
// UTF-8, and a null value leave only the pattern's other properties to
// match, and Kafka patterns have none, so the record matches.
func (c *Criteria) Match(value []byte) bool {
	if c.Len() == 0 {
		return true
	}
	v := newValue(value)
	for i := range c.filters {
		if matchRoot(c.filters[i].root, &v) {
			return true
		}
	}
	return false
}

// value is a record's value, classified and (if JSON) decoded once for
// all filters.
type value struct {
	raw     []byte
	kind    valueKind
	decoded any
}

type valueKind uint8

const (
	valueNone  valueKind = iota // null (a tombstone) or not UTF-8: metadata only
	valuePlain                  // a plain string
	valueJSON                   // a JSON object or array
)

func newValue(raw []byte) value {
	if raw == nil || !utf8.Valid(raw) {
		return value{raw: raw, kind: valueNone}
	}
	if decoded, ok := decodeJSON(raw); ok {
		return value{raw: raw, kind: valueJSON, decoded: decoded}
	}
	return value{raw: raw, kind: valuePlain}
}

// decodeJSON decodes v, numbers as json.Number (their text), if it is a
// JSON object or array and nothing else.
func decodeJSON(v []byte) (any, bool) {
	t := bytes.TrimLeft(v, " \t\r\n")
	if len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return nil, false
	}
	d := json.NewDecoder(bytes.NewReader(t))
	d.UseNumber()
	var out any
	if err := d.Decode(&out); err != nil {
		return nil, false
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, false // more after the value
	}
	return out, true
}

// matchRoot matches a pattern's top: its "value" field, by the value's
// format, and its $or branches.
func matchRoot(o *object, v *value) bool {
	for i := range o.fields {
		f := &o.fields[i] // "value": compile allows no other
		switch {
		case v.kind == valueNone:
			// "Lambda processes metadata filters only": no value rule.
		case f.sub != nil && v.kind == valueJSON:
			if !matchObject(f.sub, v.decoded) {
				return false
			}
		case f.sub == nil && v.kind == valuePlain:
			if !matchRules(f.rules, string(v.raw), true) {
				return false
			}
		default:
			// A plain-string pattern for a JSON value, or the reverse:
			// metadata filters only (kafka-filtering.html's table).
		}
	}
	for _, branches := range o.ors {
		ok := false
		for _, b := range branches {
			if matchRoot(b, v) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}
