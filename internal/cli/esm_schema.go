package cli

import (
	"flag"
	"strings"

	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/internal/schemareg"
)

const esmSchemaUsage = `

Schema registry (SchemaRegistryConfig, provisioned mode):
  --schema-registry URL         a Confluent-compatible registry (msklink local serves one:
                                $MSK_SCHEMA_REGISTRY_URL); records in Confluent's or Glue's
                                framing are validated against it before delivery (Glue
                                schema version ids resolve through the local registry:
                                AWS Glue cannot be reached from here)
  --schema-registry-auth U:P    basic auth for the registry (BASIC_AUTH); default
                                $MSK_SCHEMA_REGISTRY_AUTH, else none (the variable keeps
                                the password out of the process list)
  --event-record-format F       JSON (Avro, Protobuf, JSON Schema decoded to JSON) or
                                SOURCE (the producer's bytes, the header removed); default JSON
  --schema-validation A         KEY, VALUE or KEY,VALUE: what is validated; default VALUE
A record whose schema the registry lacks is given up as SCHEMA_NOT_FOUND, one
that does not decode or validate as DESERIALIZATION_ERROR (to --on-failure-topic,
or dropped), as Lambda does; while the registry cannot be reached the mapping
waits and tries again.`

// esmSchemaFlags are esm's schema registry flags.
type esmSchemaFlags struct {
	url, auth, format, validate *string
}

func registerESMSchemaFlags(fs *flag.FlagSet) esmSchemaFlags {
	return esmSchemaFlags{
		url:      fs.String("schema-registry", "", "a Confluent-compatible schema registry's URL: validate and decode records (SchemaRegistryConfig)"),
		auth:     fs.String("schema-registry-auth", "", "`USER:PASSWORD` for the schema registry's basic auth"),
		format:   fs.String("event-record-format", schemareg.FormatJSON, "with --schema-registry: JSON (decoded to JSON) or SOURCE (the header removed)"),
		validate: fs.String("schema-validation", schemareg.AttributeValue, "with --schema-registry: KEY, VALUE or KEY,VALUE"),
	}
}

// envSchemaRegistryAuth is read when --schema-registry-auth is not given.
const envSchemaRegistryAuth = "MSK_SCHEMA_REGISTRY_AUTH"

// opts returns the esm option of the flags, none without --schema-registry.
func (f esmSchemaFlags) opts(getenv func(string) string) ([]esm.Opt, error) {
	if *f.url == "" {
		return nil, nil
	}
	if *f.auth == "" && getenv != nil {
		*f.auth = getenv(envSchemaRegistryAuth)
	}
	if strings.HasPrefix(*f.url, "arn:") {
		return nil, usagef("esm: --schema-registry %s: AWS Glue cannot be reached from here: give the local registry's URL ($MSK_SCHEMA_REGISTRY_URL from msklink local), which resolves Glue-framed records' schema version ids", *f.url)
	}
	var copts []schemareg.ClientOpt
	if *f.auth != "" {
		user, pass, ok := strings.Cut(*f.auth, ":")
		if !ok {
			return nil, usagef("esm: --schema-registry-auth (or $%s): give USER:PASSWORD", envSchemaRegistryAuth)
		}
		copts = append(copts, schemareg.WithBasicAuth(user, pass))
	}
	cl, err := schemareg.NewClient(*f.url, copts...)
	if err != nil {
		return nil, usagef("esm: --schema-registry: %v", err)
	}
	attrs, err := schemareg.ParseAttributes(*f.validate)
	if err != nil {
		return nil, usagef("esm: --schema-validation: %v", err)
	}
	d, err := schemareg.NewDecoder(schemareg.Config{Registry: cl, EventRecordFormat: *f.format, Validate: attrs})
	if err != nil {
		return nil, usagef("esm: --event-record-format %s: use JSON or SOURCE", *f.format)
	}
	return []esm.Opt{esm.WithSchemaRegistry(d)}, nil
}
