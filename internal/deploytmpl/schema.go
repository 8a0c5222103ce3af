package deploytmpl

import (
	"slices"
	"strings"
)

// check validates r and fills its defaults.
func (r *SchemaRegistry) check() error {
	switch r.EventRecordFormat = strings.ToUpper(r.EventRecordFormat); r.EventRecordFormat {
	case "":
		r.EventRecordFormat = "JSON"
	case "JSON", "SOURCE":
	default:
		return &ParamError{"event-record-format", r.EventRecordFormat, "use JSON (Avro, Protobuf and JSON Schema data decoded to JSON) or SOURCE (the data without the registry's header)"}
	}
	if len(r.Validate) == 0 {
		r.Validate = []string{"VALUE"}
	}
	var attrs []string
	for _, a := range r.Validate {
		a = strings.ToUpper(strings.TrimSpace(a))
		if a != "KEY" && a != "VALUE" {
			return &ParamError{"schema-validation", a, "use KEY, VALUE or KEY,VALUE"}
		}
		if !slices.Contains(attrs, a) {
			attrs = append(attrs, a)
		}
	}
	r.Validate = attrs
	if r.AuthSecretARN != "" && strings.HasPrefix(r.URI, "arn:") {
		return &ParamError{"schema-registry-secret", r.AuthSecretARN, "a Glue registry takes no secret: the execution role reaches it (glue:GetRegistry, glue:GetSchemaVersion are in the policy)"}
	}
	return nil
}
