// Package schemareg is msklink's schema registry: a small
// Confluent-compatible registry server (what msklink local serves), a
// client for any Confluent-compatible registry, and the event source
// mapping's schema registry stage (esm.RecordDecoder) built on them: Lambda's
// SchemaRegistryConfig for Kafka event source mappings, in provisioned mode
// (https://docs.aws.amazon.com/lambda/latest/dg/services-consume-kafka-events.html).
//
// # The stage
//
// For each attribute named in SchemaValidationConfigs (KEY and/or VALUE),
// the record's schema registry header is read: Confluent's (magic byte 0,
// 4-byte schema id; for Protobuf the message indexes after it) or AWS
// Glue's (byte 3, a compression byte, the 16-byte schema version UUID),
// with kafkaesm.ParseWire. The schema is fetched from the registry (and
// cached), the data is decoded and validated with it (Avro with
// hamba/avro, Protobuf with google.golang.org/protobuf's dynamic messages
// from the schema's .proto text compiled by bufbuild/protocompile, JSON
// Schema with google/jsonschema-go, drafts 2020-12 and 07; not
// santhosh-tekuri/jsonschema, whose init compiles every draft's
// metaschema, 3.5 ms of every msklink command's start-up), and the event
// carries, per EventRecordFormat, the data as JSON (JSON) or the data without the header
// (SOURCE; for Confluent Protobuf the message indexes are removed too), with
// "keySchemaMetadata"/"valueSchemaMetadata" {"dataFormat", "schemaId"}.
// Attributes not named pass through untouched. Avro becomes JSON as
// hamba/avro decodes it generically: a union with null is the value or
// null, other unions {"type": value}, bytes base64, logical timestamps
// RFC 3339 strings. Protobuf becomes protojson's JSON (int64 as strings).
//
// As the page's "How Lambda performs schema validation" says, a record
// whose schema the registry does not have is given up with reason
// SCHEMA_NOT_FOUND, and one that does not deserialize with
// DESERIALIZATION_ERROR: written to the on-failure destination, or dropped
// without one, before any invocation (esm.SchemaError). A record without a
// registry header, or whose header is cut short, is a DESERIALIZATION_ERROR.
// A registry that cannot be reached (or answers 5xx, 401 or 403) fails
// nothing: the mapping tries the record again with backoff, so no record is
// lost while the registry is down. A null key or value (a tombstone) is
// passed through: it has no schema.
//
// # Glue
//
// AWS Glue Schema Registry cannot be reached from here. Glue-framed records
// are resolved through the Registry interface's SchemaByGUID, which the
// local registry serves: every schema registered there also gets a schema
// version UUID (returned as "msklinkSchemaVersionId"), and GET
// /msklink/glue/schema-versions/{uuid} answers as Glue's GetSchemaVersion
// does (SchemaVersionId, SchemaDefinition, DataFormat, Status). A producer
// testing Glue framing locally writes that UUID in the Glue header.
//
// # The server
//
// Server implements the endpoints the registry clients and the mapping
// use: POST /subjects/{subject}/versions (register; the same schema under
// a subject keeps its id and version), POST /subjects/{subject} (look a
// schema up), GET /schemas/ids/{id}, GET /subjects, GET
// /subjects/{subject}/versions and GET /subjects/{subject}/versions/{v}
// (v a number or "latest"), with schemaType AVRO (the default), PROTOBUF or
// JSON. A schema is compiled when registered: an invalid one is refused
// with Confluent's 422 and error_code 42201. Errors are Confluent's
// {"error_code", "message"}. Schema references are not supported. It keeps
// everything in memory; Server is safe for concurrent use.
package schemareg
