package lambdafn

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// decodeData turns a key, value or header value into bytes: a JSON string
// is its UTF-8 bytes, {"base64": "..."} the decoded bytes, null no bytes,
// and any other JSON its compact JSON text. field names it in errors.
func decodeData(raw json.RawMessage, field string) ([]byte, error) {
	if isNull(raw) {
		return nil, nil
	}
	return appendData([]byte{}, raw, field)
}

// isNull reports whether a field is null or absent: no bytes (nil), as
// opposed to empty bytes ("").
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// appendData appends the bytes decodeData decodes from raw to dst. They
// are never longer than raw: a slab of len(event) bytes holds every value
// of an event.
func appendData(dst []byte, raw json.RawMessage, field string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return dst, nil
	}
	switch raw[0] {
	case '"':
		return appendJSONString(dst, raw, field, "invalid JSON string: %v")
	case '{':
		if b64, ok := onlyMember(raw, "base64"); ok {
			start := len(dst)
			dst, err := appendJSONString(dst, b64, field+".base64", "must be a string of standard base64: %v")
			if err != nil {
				return dst, err
			}
			// Decode in place: base64 is longer than what it encodes.
			n, err := base64.StdEncoding.Decode(dst[start:], dst[start:])
			if err != nil {
				return dst[:start], inputErrorf(field+".base64", "invalid standard base64 (RFC 4648 with padding): %v", err)
			}
			return dst[:start+n], nil
		}
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return dst, inputErrorf(field, "invalid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// appendJSONString appends the text of the JSON string raw to dst. Plain
// ASCII without escapes (the common case) is copied as is; anything else
// goes through encoding/json, which also replaces invalid UTF-8 as
// json.Unmarshal always has. errFormat words the error for field.
func appendJSONString(dst []byte, raw []byte, field, errFormat string) ([]byte, error) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && plainASCII(raw[1:len(raw)-1]) {
		return append(dst, raw[1:len(raw)-1]...), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return dst, inputErrorf(field, errFormat, err)
	}
	return append(dst, s...), nil
}

// plainASCII reports whether the inside of a JSON string is printable
// ASCII without escapes: its text is its bytes.
func plainASCII(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x80 || c == '\\' || c == '"' {
			return false
		}
	}
	return true
}

// onlyMember returns the value of the object obj's member name when the
// object has no other.
func onlyMember(obj []byte, name string) ([]byte, bool) {
	if !json.Valid(obj) {
		return nil, false
	}
	var val []byte
	other := false
	members(obj, func(key, v []byte) error {
		if string(key) == name {
			val = v // the last one, as json.Unmarshal keeps
		} else {
			other = true
		}
		return nil
	})
	return val, !other && val != nil
}

// appendBase64Field appends a REST Proxy binary-format key or value (a
// base64 string, or null for no bytes) decoded to dst.
func appendBase64Field(dst []byte, raw json.RawMessage, field string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return dst, nil
	}
	if raw[0] != '"' {
		return dst, inputErrorf(field, "must be a base64 string with content type application/vnd.kafka.binary.v2+json (use application/vnd.kafka.json.v2+json for JSON values)")
	}
	start := len(dst)
	dst, err := appendJSONString(dst, raw, field, "must be a base64 string: %v")
	if err != nil {
		return dst, err
	}
	n, err := base64.StdEncoding.Decode(dst[start:], dst[start:])
	if err != nil {
		return dst[:start], inputErrorf(field, "invalid standard base64: %v", err)
	}
	return dst[:start+n], nil
}

// decodePartition reads an optional partition number.
func decodePartition(raw json.RawMessage, field string) (int32, bool, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, false, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil || n < 0 || n > 1<<31-1 {
		return 0, false, inputErrorf(field, "must be a partition number >= 0, or absent to partition by key (got %s)", truncate(string(raw), 40))
	}
	return int32(n), true, nil
}

// decodeObject reads raw as a JSON object and rejects fields not in
// allowed, naming them (a typo such as "val" is caught, not ignored). The
// values are sub-slices of raw, not copies.
func decodeObject(raw json.RawMessage, field string, allowed ...string) (map[string]json.RawMessage, error) {
	obj := make(map[string]json.RawMessage, len(allowed))
	if err := eachField(raw, field, allowed, func(k int, val []byte) { obj[allowed[k]] = val }); err != nil {
		return nil, err
	}
	return obj, nil
}

// eachField calls fn with the index in allowed and the value (a sub-slice
// of raw) of each member of the JSON object raw, the last one when a name
// repeats (as json.Unmarshal keeps). A member not in allowed is an
// error naming it; so is raw not being an object (field "" is the whole
// payload).
func eachField(raw json.RawMessage, field string, allowed []string, fn func(k int, val []byte)) error {
	return eachFieldOf(raw, json.Valid(raw), field, allowed, fn)
}

// eachFieldOf is eachField for raw known to be valid JSON (a value of an
// event already checked) when valid is true.
func eachFieldOf(raw json.RawMessage, valid bool, field string, allowed []string, fn func(k int, val []byte)) error {
	trimmed := raw[skipSpace(raw, 0):]
	if !valid || len(trimmed) == 0 || trimmed[0] != '{' {
		if field == "" {
			// json.Unmarshal words what is wrong (only on this path).
			var obj map[string]json.RawMessage
			err := json.Unmarshal(raw, &obj)
			return &InputError{Msg: "the payload must be a JSON object: " + errText(err), Syntax: err != nil}
		}
		return inputErrorf(field, "must be an object (got %s)", truncate(string(raw), 40))
	}
	var unknown []string
	members(trimmed, func(key, val []byte) error {
		for k, name := range allowed {
			if string(key) == name {
				fn(k, val)
				return nil
			}
		}
		unknown = append(unknown, string(key))
		return nil
	})
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return inputErrorf(join(field, unknown[0]), "unknown field; the fields are %s", strings.Join(allowed, ", "))
	}
	return nil
}

// topLevel reads the members of a JSON object as json.Unmarshal into a
// map[string]json.RawMessage would, without copying them: the values are
// sub-slices of payload. A payload that is not an object gets
// json.Unmarshal's error; null gets a nil map.
func topLevel(payload []byte) (map[string]json.RawMessage, error) {
	i := skipSpace(payload, 0)
	if !json.Valid(payload) || i == len(payload) || payload[i] != '{' {
		var top map[string]json.RawMessage
		err := json.Unmarshal(payload, &top)
		return top, err
	}
	top := map[string]json.RawMessage{}
	members(payload[i:], func(key, val []byte) error {
		top[string(key)] = val
		return nil
	})
	return top, nil
}

// The scanner below walks JSON already checked by json.Valid: it finds
// where values start and end, so that an event's members and elements are
// read as sub-slices of it, without copying or a map per record.

// members calls fn with the name (unescaped) and the value of each member
// of the valid JSON object obj, stopping at fn's first error.
func members(obj []byte, fn func(key, val []byte) error) error {
	i := skipSpace(obj, 1) // after '{'
	for i < len(obj) && obj[i] != '}' {
		end := skipValue(obj, i)
		key := obj[i+1 : end-1]
		if !plainASCII(key) {
			var s string
			json.Unmarshal(obj[i:end], &s)
			key = []byte(s)
		}
		i = skipSpace(obj, end)
		i = skipSpace(obj, i+1) // after ':'
		end = skipValue(obj, i)
		if err := fn(key, obj[i:end]); err != nil {
			return err
		}
		i = skipSpace(obj, end)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return nil
}

// elements calls fn with each element of the valid JSON array arr,
// stopping at fn's first error.
func elements(arr []byte, fn func(i int, val []byte) error) error {
	i := skipSpace(arr, 1) // after '['
	for n := 0; i < len(arr) && arr[i] != ']'; n++ {
		end := skipValue(arr, i)
		if err := fn(n, arr[i:end]); err != nil {
			return err
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the valid JSON value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		for i++; i < len(b); i++ {
			switch b[i] {
			case '\\':
				i++
			case '"':
				return i + 1
			}
		}
		return i
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipValue(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(b); i++ { // a number, true, false or null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// decodeHeaders reads {"name": value, ...} into Kafka headers, sorted by
// name so records are reproducible.
func decodeHeaders(raw json.RawMessage, field string) ([]kgo.RecordHeader, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, inputErrorf(field, "must be an object of header names to values (got %s)", truncate(string(raw), 40))
	}
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	hs := make([]kgo.RecordHeader, 0, len(names))
	for _, k := range names {
		v, err := decodeData(obj[k], field+"."+k)
		if err != nil {
			return nil, err
		}
		hs = append(hs, kgo.RecordHeader{Key: k, Value: v})
	}
	return hs, nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errText(err error) string {
	if err == nil {
		return "it is not an object"
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// jsonString decodes raw as a string field.
func jsonString(raw json.RawMessage, field string) (string, error) {
	if raw == nil {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", inputErrorf(field, "must be a string (got %s)", truncate(string(raw), 40))
	}
	return s, nil
}
