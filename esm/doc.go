// Package esm is a local event source mapping for Kafka: it polls a topic
// of Amazon MSK (or any Kafka cluster, or msklink's emulator) as Lambda's
// provisioned-mode MSK event source mapping does, and invokes a function
// with the events Lambda would send: through Lambda's Invoke API (what
// AWS's Runtime Interface Emulator, aws-lambda-rie, serves), a command, or
// an in-process Function.
//
//	m, err := esm.New(cfg, // a kafkaconn.Config; cfg.Topic is the source topic
//		esm.WithFunction(fn), // esm.NewHTTPFunction("http://127.0.0.1:9000", nil)
//		esm.WithStartingPosition(esm.TrimHorizon),
//		esm.WithReportBatchItemFailures(true),
//		esm.WithOnFailureTopic("orders-dlt"))
//	...
//	err = m.Run(ctx) // until ctx is done
//
// Each rule below follows the AWS page named with it (all under
// https://docs.aws.amazon.com/lambda/latest/dg/).
//
// # Consumer group and connection
//
// The mapping is a consumer group whose id is the mapping's UUID
// (with-msk.html: "The consumer group is created with the same ID as an
// event source mapping UUID"; WithGroupID, default a fresh UUID). It
// connects through package kafkaconn with the Config's IAM (or SCRAM, TLS)
// settings, as the function's execution role would: the policy AWS
// documents for an MSK trigger (kafka-cluster:Connect, DescribeGroup,
// AlterGroup, DescribeTopic, ReadData, DescribeClusterDynamicConfiguration)
// is enough, plus WriteData on an on-failure topic.
//
// The starting position (TRIM_HORIZON or LATEST, with-msk.html) is part of
// the mapping, as on Lambda, where it can be set only when the mapping is
// created and a group with commits resumes from them whatever it says
// (kafka-consumer-group-id.html). When the group has no commit on the
// topic (the mapping's first start), every partition of the topic is
// resolved to the starting position (its oldest offset, or its end then)
// and committed at once, so a later Run resumes from commits and never
// skips a record, whatever its own starting position (a different one is
// logged as having no effect). A partition without a commit in a group
// that has commits, one added to the topic later (a case AWS does not
// document), starts at its oldest record: every record in it came after
// the mapping started. Commits carry the group's starting position in
// their metadata. WithOnAssign reports where each partition starts.
// Offsets are committed to the group after processing; nothing else is
// kept, so a restart with the same group id resumes where the function's
// work was committed.
//
// # Events
//
// Events have the documented shape (with-msk.html and with-kafka.html,
// "Example event"; see eventEncoder): "eventSource" "aws:kafka" with the
// cluster's "eventSourceArn" when WithEventSourceARN is set, else
// "SelfManagedKafka" without it; "bootstrapServers"; "records" grouped by
// "topic-partition", each record with topic, partition, offset, timestamp
// (milliseconds), timestampType, key and value in base64, and headers as
// a list of {"name": [bytes as signed numbers]}.
//
// # Batching
//
// Lambda reads records in batches and invokes the function when the batch
// size is reached, when the batching window has passed, or when the
// payload would pass 6 MB (invocation-eventsourcemapping.html, "Batching
// behavior"): batch size 1-10000, default 100; batching window 0-300 s,
// default 500 ms for Kafka (API_CreateEventSourceMapping.html). The window
// starts at a batch's first record. The 6 MB limit (MaxPayloadBytes) is on
// the encoded event, base64 and JSON included. One batch can hold records
// of several partitions; each partition's records are in offset order
// (with-kafka-configure.html: "Lambda reads messages sequentially for each
// Kafka topic partition. A single Lambda payload can contain messages from
// multiple partitions").
//
// Batches are delivered one at a time: a batch is settled (every record
// accepted or given up) before the next is gathered, so a record that
// keeps failing blocks its partition, as on Lambda, and with one poller
// the others too.
//
// # Event filtering
//
// With WithFilters (a FilterCriteria compiled by package eventfilter,
// which follows invocation-eventfiltering.html and kafka-filtering.html:
// the record's value only, JSON values as objects and other values as
// plain strings), a record whose value matches none of the filters is
// not delivered. Filtering comes before batching ("Lambda applies your
// filter criteria to each new event to determine whether to add it to the
// current batch"): a filtered record takes no place in a batch, starts no
// window, and is never given up. Its offset is committed with the
// records around it ("For Kafka, Lambda commits offsets for matched and
// unmatched messages"): after the records before it in its partition are
// settled, so a restart never delivers it, and never skips a record
// before it. Records polled with nothing to deliver among them are
// committed at once (AWS says Lambda commits unmatched records "after
// successfully invoking the function"; it does not say when for a poll with
// no match: committing them at once keeps the lag true and redelivers
// nothing). Stats.Filtered counts them; WithOnFilter reports each.
//
// # Function errors
//
// A function error is an error result (the Invoke API's
// X-Amz-Function-Error, RIE's {"errorMessage", "errorType"} body or "Task
// timed out" text, a non-2xx status), no answer within the function
// timeout (default 14 minutes, the most an MSK trigger allows:
// with-msk.html), or an error from an in-process Function. "If your
// function returns an error for any of the messages in a batch, Lambda
// retries the whole batch of messages until processing succeeds or the
// messages expire" (with-msk.html). An event that did not reach the
// function (connection refused, HTTP 429 throttling) is sent again
// without counting an attempt.
//
// # Partial batch response
//
// With ReportBatchItemFailures (WithReportBatchItemFailures) the function
// may return {"batchItemFailures": [{"itemIdentifier": {"partition":
// "topic-partition", "offset": N}}]} (kafka-retry-configurations.html,
// "PartialBatchResponse"). An empty or null response, or no failures, is
// a success; an identifier that is malformed or names a record not in the
// event makes the whole batch fail and be retried (same page). Without
// ReportBatchItemFailures the response is not read (Lambda processes
// batchItemFailures only when the mapping enables them:
// services-kinesis-batchfailurereporting.html). A reported record is the
// checkpoint of its partition: the records before it are accepted, it and
// the records after it in the event are sent again (Lambda's rule for
// streams on the same page: "Lambda uses the record with the lowest
// sequence number as the checkpoint. Lambda then retries all records
// starting from that checkpoint"). Partitions without a reported failure
// are accepted whole.
//
// # Retries, bisecting, record age, on-failure destination
//
// From kafka-retry-configurations.html and kafka-on-failure-destination.html:
//
//   - Maximum retry attempts (WithMaximumRetryAttempts): 0-10000, or -1
//     for infinite, the default; the first invocation is not a retry. With
//     infinite retries and an on-failure destination, 10 retries apply. An
//     attempt is charged to each record the function failed (every record
//     of an event that failed, the reported ones of a partial response); a
//     record past its retries is given up; the records after it that the
//     function did not report are sent again without an attempt charged
//     (past the checkpoint, the function may not have processed them). The
//     retries of a partition run until its failing record succeeds or is
//     given up; with infinite retries and no destination a record that
//     always fails holds its partition (and, one batch at a time, the
//     mapping) until the function is fixed. Between retries the mapping
//     waits (WithRetryBackoff, 100 ms doubling to 5 s: Lambda does not
//     document its pause).
//   - Split batch on error (WithBisectBatchOnFunctionError): when the
//     function fails an event of more than one record, the batch is split
//     in two and each half retried separately, the first half first. A
//     split charges no attempt: halving isolates the failing record, which
//     is then retried alone (services-kinesis-batchfailurereporting.html:
//     the batch is bisected "regardless of your ReportBatchItemFailures
//     setting"; a partial response retries its remaining records instead).
//   - Maximum record age (WithMaximumRecordAge): 60-604800 s, or -1 for
//     infinite, the default. A record older than that (by its timestamp) is
//     not sent to the function, first or again: it is given up
//     ("RecordAgeExceeded").
//   - On-failure destination (WithOnFailureTopic): a Kafka topic of the same
//     cluster, not the source topic ("Recursion prevention"). Each record
//     given up is written there as its own message, keyed by the record's
//     key, holding the failure metadata and the record's event ("Record
//     format for a Kafka destination"; see GiveUp and failureRecord), before
//     its offset is committed. A message too large for the destination
//     (its max.message.bytes: the event is the record in base64, a third
//     larger) is written with a null "payload", its metadata naming the
//     record in the source topic (GiveUp.PayloadDropped), rather than
//     stopping the mapping at that record. Without a destination the record is dropped
//     (and logged), as Lambda does. A record whose event alone is over 6 MB
//     is given up too ("MaximumPayloadSizeExceeded": with-msk.html,
//     "Records will also go unprocessed if they are dropped due to their
//     size").
//
// # Schema registry
//
// With WithSchemaRegistry (SchemaRegistryConfig, provisioned mode only:
// services-consume-kafka-events.html) each record runs through the
// schema registry stage (RecordDecoder; package internal/schemareg is the
// Confluent-compatible one) when it is gathered into a batch, before
// filtering, as Lambda validates and deserializes before it filters: the
// event carries what the stage returns, with "keySchemaMetadata" and
// "valueSchemaMetadata" ({"dataFormat", "schemaId"}), and the stage's JSON
// of the value is what the filter stage matches (decode). A
// record whose schema the registry lacks is given up as SCHEMA_NOT_FOUND,
// one that does not deserialize as DESERIALIZATION_ERROR, before any
// invocation: to the on-failure topic, else dropped ("How Lambda performs
// schema validation"). A registry that cannot be reached holds the record,
// retried with backoff: nothing after it is delivered or committed.
//
// # What is committed
//
// After each invocation the mapping commits, per partition, the offset
// after the last record of the settled prefix (records accepted by the
// function or given up as above). Nothing the function did not accept is
// committed otherwise; a crash or a kill of the process delivers the
// uncommitted records again to the next Run with the same group id (event
// source mappings "process each event at least once", with-kafka.html).
// Rebalances wait for the batch in hand to be settled (franz-go's
// BlockRebalanceOnPoll), and for the records polled with it that the
// payload limit left for the next batches: while a rebalance waits no more
// records are polled, those are delivered, then the group rebalances. A
// partition leaves a mapping with nothing of it in hand, so its new owner
// starts where this one committed and nothing is delivered twice.
//
// An ESM is safe for concurrent use of Stats and GroupID while Run runs.
package esm
