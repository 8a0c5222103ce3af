// Package kafkaesm is the handler for Go Lambda functions triggered by
// Kafka: Amazon MSK ("aws:kafka") and self-managed Apache Kafka
// ("SelfManagedKafka") event source mappings. The function is written per
// record, or per batch:
//
//	kafkaesm.Start(func(ctx context.Context, r kafkaesm.Record) error {
//		var o Order
//		if err := r.ValueJSON(&o); err != nil {
//			return err // this record fails; it is retried
//		}
//		return save(ctx, o)
//	})
//
// The package links no Kafka client: the event source mapping consumes,
// the function only processes what it is handed.
//
// # Events
//
// ParseEvent decodes the event: records grouped by "topic-partition", key
// and value base64 (decoded once, nil when absent or null), headers as
// lists of {"key": [bytes]} objects (signed or unsigned byte values),
// timestamp and timestampType, and the keySchemaMetadata and
// valueSchemaMetadata (dataFormat, schemaId) a mapping with a schema
// registry adds. A record that cannot be decoded fails alone, its error
// naming the field (records["orders-0"][2].value: illegal base64 data ...);
// an event that is not a Kafka event, or a record without an offset, fails
// the invocation with an *EventError.
//
// # Decoding values
//
// Record.ValueJSON unmarshals JSON, after removing a Confluent (magic byte
// 0, 4-byte schema id) or AWS Glue (version byte 3, compression byte,
// 16-byte schema version UUID; zlib inflated) schema registry header.
// ParseWire exposes the header and the schema id; Avro, Protobuf or any
// other format plug in as a Decoder (Record.DecodeValue). ValueAs and
// KeyAs return a typed value, as Powertools' Kafka consumer does: with
// JSON (also for a mapping's EventRecordFormat JSON, whatever the
// registry's format), package kafkaesm/avro (a writer's schema, hamba/avro)
// or kafkaesm/protobuf (a generated message type); those are packages of
// their own, so a function reading JSON links neither. Decoding errors
// are *DecodeError values: returned from the function they fail the record,
// like any error. A panic in the function is recovered and fails its record
// with a *PanicError.
//
// # Failures and partial batch responses
//
// Records of a partition are processed in offset order; the first that
// fails stops its partition, because the event source mapping resumes a
// partition at its first failure and redelivers everything after it.
//
// With WithReportBatchItemFailures (MSK_REPORT_BATCH_ITEM_FAILURES=true),
// which must match the mapping's FunctionResponseTypes (honoured for
// Kafka only in provisioned mode: kafka-retry-configurations.html), the handler
// answers a partial batch response (see Response) naming each failed
// partition's first failed record, and the mapping commits the rest.
// Without it, any failed record fails the invocation with a *BatchError
// and the mapping retries the whole batch; the handler then stops
// handing out records at the first failure.
//
// # Deadline
//
// The handler stops handing out records the deadline margin before the
// invocation's deadline (WithDeadlineMargin, default 600 ms, or
// MSK_DEADLINE_MARGIN) and answers: records not processed by then,
// including one the function is still busy with, are reported failed (or
// fail the invocation), so they are retried rather than lost to a
// timeout. The function's ctx carries that earlier deadline. A function
// that ignores ctx may still be running after the answer; what it returns
// then is ignored, and its record is delivered again.
//
// # Concurrency
//
// Partitions are processed one after the other by default. With
// WithPartitionConcurrency(n) (MSK_PARTITION_CONCURRENCY) up to n
// partitions run at once, each still in order; the function must then be
// safe for concurrent use. A Handler is safe for concurrent use.
//
// # Logs and metrics
//
// As package lambdafn: JSON log lines with the request id ("requestId"),
// one per invocation ("batch processed", or what failed) and one per failed
// partition; CloudWatch Embedded Metric Format in namespace "msklink",
// dimensions FunctionName and EventSource (the event's eventSource), per
// invocation: RecordsProcessed, RecordsFailed (the function failed, or the
// record is malformed), RecordsDeferred (not processed: after a failure in
// their partition, or past the deadline), BatchAge (now minus the oldest
// record's timestamp: the lag that MaximumRecordAgeInSeconds bounds) and
// Duration, in milliseconds, and ColdStart on the first invocation.
//
// # Environment
//
// MSK_REPORT_BATCH_ITEM_FAILURES (true/false, default false),
// MSK_DEADLINE_MARGIN (a duration, default 600ms),
// MSK_PARTITION_CONCURRENCY (default 1), AWS_LAMBDA_FUNCTION_NAME (the
// metrics' FunctionName), AWS_LAMBDA_LOG_LEVEL (default INFO). Options
// given to New win over the environment.
package kafkaesm
