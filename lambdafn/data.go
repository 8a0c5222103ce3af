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
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, inputErrorf(field, "invalid JSON string: %v", err)
		}
		return []byte(s), nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err == nil && len(obj) == 1 {
			if b64, ok := obj["base64"]; ok {
				var s string
				if err := json.Unmarshal(b64, &s); err != nil {
					return nil, inputErrorf(field+".base64", "must be a string of standard base64: %v", err)
				}
				b, err := base64.StdEncoding.DecodeString(s)
				if err != nil {
					return nil, inputErrorf(field+".base64", "invalid standard base64 (RFC 4648 with padding): %v", err)
				}
				return b, nil
			}
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, inputErrorf(field, "invalid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// decodeBase64Field decodes a REST Proxy binary-format key or value: a
// base64 string or null.
func decodeBase64Field(raw json.RawMessage, field string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, inputErrorf(field, "must be a base64 string with content type application/vnd.kafka.binary.v2+json (use application/vnd.kafka.json.v2+json for JSON values)")
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, inputErrorf(field, "invalid standard base64: %v", err)
	}
	return b, nil
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

// decodeObject unmarshals raw into a JSON object and rejects fields not in
// allowed, naming them (a typo such as "val" is caught, not ignored).
func decodeObject(raw json.RawMessage, field string, allowed ...string) (map[string]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		what := "an object"
		if field == "" {
			return nil, &InputError{Msg: "the payload must be a JSON object: " + errText(err), Syntax: err != nil}
		}
		return nil, inputErrorf(field, "must be %s (got %s)", what, truncate(string(raw), 40))
	}
	var unknown []string
	for k := range obj {
		if !contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, inputErrorf(join(field, unknown[0]), "unknown field; the fields are %s", strings.Join(allowed, ", "))
	}
	return obj, nil
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
