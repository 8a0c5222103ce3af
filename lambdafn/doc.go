// Package lambdafn is the AWS Lambda side of msklink: one handler that turns
// Lambda events into Kafka records, publishes them to Amazon MSK through a
// publish.Publisher built and warmed once in Init, and answers in the shape
// the event source expects. Functions triggered by MSK (an event source
// mapping consuming a topic) use package lambdafn/kafkaesm instead, which
// links no Kafka client.
//
// # Event sources
//
// Handler.Invoke detects the event source from the payload, or takes it from
// MSK_EVENT_SOURCE (direct, sqs, apigw, eventbridge):
//
//   - direct invoke: {"topic": "...", "records": [{"key": ..., "value": ...,
//     "headers": {...}, "partition": N}]}. A key, value or header value is a
//     JSON string (its UTF-8 bytes), {"base64": "..."} (the decoded bytes),
//     null (no bytes), or any other JSON (its compact JSON text). The answer is
//     {"results": [...], "acked": N, "failed": N, "unconfirmed": N}, one result
//     per record, in order: {"topic","partition","offset"} when acked, else
//     {"topic","error","retriable","unconfirmed"}. When that answer would
//     not fit in Lambda's 6 MB response (MaxDirectResponse; about 100,000
//     records), it takes the compact form instead: {"compact": true,
//     "topic", "records": N, "acked", "failed", "unconfirmed", "errors":
//     [{"error","retriable","unconfirmed"}, ...], "notAcked": [[first, last,
//     e], ...]}, where each run lists the records first to last (indexes in
//     the event, inclusive) not acked with errors[e]; every record not listed
//     was acked (DirectResponse.NotAckedIndexes reads both forms). An event
//     with more records than a compact answer surely holds when every record
//     fails (325,757 for a short topic name) is an *InputError, refused
//     before anything is sent. Lambda discards the
//     answer of an asynchronous invoke: for those, set MSK_DIRECT_ERRORS
//     (WithDirectErrors) so records not acked fail the invocation and
//     Lambda retries it.
//   - SQS: each message is a record (body as the value, message attribute
//     "key" as the key, the message id as header "sqs.message-id"), to the
//     topic in message attribute "topic", else MSK_TOPIC. Messages that failed,
//     are unconfirmed, or are invalid come back as batchItemFailures
//     (events.SQSEventResponse), so SQS redelivers them (and moves poison
//     messages to the queue's dead-letter queue): enable
//     ReportBatchItemFailures on the event source mapping. From a FIFO
//     queue, every message after the first that fails is listed too (and
//     not published when it had not been yet), so none overtakes it.
//   - API Gateway HTTP API (payload 2.0) and Lambda function URLs: POST
//     /topics/{topic} with Confluent REST Proxy v2's body {"records": [{"key",
//     "value", "partition"}]} and content type application/vnd.kafka.json.v2+json
//     (or application/json), or application/vnd.kafka.binary.v2+json (key and
//     value base64), answered with REST Proxy's {"key_schema_id": null,
//     "value_schema_id": null, "offsets": [{"partition", "offset",
//     "error_code", "error"}]}. Bad requests get REST Proxy's status codes and
//     {"error_code", "message"} (400 malformed JSON, 404 unknown path or topic,
//     405 method, 415 content type, 422 invalid record, or more records than
//     an answer surely holds in 6 MB: 45,915); broker trouble gets 500 (a
//     record failed for good) or 503 (failed retriably or unconfirmed: retry).
//     When the answer would pass 6 MB, each error text is cut to 64 bytes.
//   - EventBridge (CloudWatch Events): the event's detail is the value, its id
//     the key, to MSK_TOPIC; a record not acked is returned as a *PublishError
//     so Lambda's asynchronous invocation retries it.
//   - {"msklink": "doctor", "topic": "..."}: runs the hook given with
//     WithDoctor and returns its JSON.
//
// # Validation before publishing
//
// A batch (a direct invoke, an API request) is validated whole before any
// record is sent: invalid JSON, a missing topic, a bad base64 string, a
// partition out of range or a record larger than the topic's
// max.message.bytes (read once per topic with DescribeConfigs through the
// Publisher's client, then cached) rejects the batch with an *InputError that
// names the field as a JSON path (records[3].value) and the fix. So does a
// string anywhere in the event (a key, value, header, SQS body or
// attribute, API Gateway body, EventBridge id or detail) that is not valid
// UTF-8 or holds a lone UTF-16 surrogate escape such as \ud800: a JSON
// decoder replaces those with U+FFFD, and nothing is altered silently;
// bytes travel as {"base64": "..."} (or REST Proxy's binary format). SQS
// messages are independent units (partial batch responses), so an invalid
// message is reported as a batch item failure while the valid ones are
// published.
//
// # Deadlines
//
// Invoke passes the invocation's context, which carries Lambda's deadline, to
// Publish, which returns a safety margin before it (DefaultSafetyMargin, 600
// ms: the answer leaves at least 300 ms before the deadline): records without
// an answer by then are reported unconfirmed (retriable), and the function
// answers in time instead of timing out.
//
// A cluster that refuses the connection itself (the certificate is not
// trusted, SASL authentication fails: kafkaconn.Refused) does not make
// every invocation wait for its deadline: once Init's Warm or a topic
// lookup has seen the refusal, each invocation first connects again (one
// Metadata request, milliseconds) and, while the cluster still refuses,
// fails its records at once (retriable) with the broker's reason, such as
// "SASL_AUTHENTICATION_FAILED: ... Access denied". A broker that cannot
// be reached (a security group, a route) still costs the deadline, but
// the records' errors then name the last failed connection ("the last
// connection failed: broker ...: i/o timeout"), not only the deadline.
//
// # SCRAM credentials
//
// With MSK_AUTH=scram and MSK_SCRAM_SECRET_ARN set (and MSK_SCRAM_PASSWORD
// not), New reads the username and password from that Secrets Manager
// secret (the AmazonMSK_ secret associated with the cluster) at Init, with
// GetSecretValue signed by the role's credentials from the environment, so
// the credentials never sit in the function's configuration. The role
// needs secretsmanager:GetSecretValue on the secret and kms:Decrypt on its
// key; the function's subnets a route to Secrets Manager.
//
// # Logs and metrics
//
// Logs are JSON through log/slog, one line per invocation and per problem,
// with the Lambda request id ("requestId", see RequestIDHandler). Neither
// logs nor errors carry credentials, tokens or passwords. Metrics are
// CloudWatch Embedded Metric Format lines (namespace "msklink", dimensions
// FunctionName and EventSource): RecordsAcked, RecordsFailed,
// RecordsUnconfirmed (Count) and PublishLatency (Milliseconds) per
// invocation, ColdStart (Count) on the first invocation, ConnectionSetup
// (Milliseconds, dimension FunctionName only) once at Init.
//
// # Concurrency
//
// A Handler is safe for concurrent use: Lambda managed instances may run
// several invocations in one process at once.
package lambdafn
