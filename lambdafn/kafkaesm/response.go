package kafkaesm

// Response is the function's answer to a Kafka event: the partial batch
// response of an event source mapping with ReportBatchItemFailures in its
// FunctionResponseTypes.
//
// For Kafka the item identifier is an object, not a string as for SQS
// and Kinesis: the record's "topic-partition" key in the event and its
// offset:
//
//	{"batchItemFailures": [{"itemIdentifier": {"partition": "orders-0", "offset": 15}}]}
//
// Lambda resumes each listed partition at the identified offset: that
// record and every later one of the partition are retried (and count
// against MaximumRetryAttempts), the rest of the batch is committed. An
// empty or null list means the whole batch succeeded.
//
// Sources: the Lambda developer guide, "Configuring error handling
// controls for Kafka event sources"
// (https://docs.aws.amazon.com/lambda/latest/dg/kafka-retry-configurations.html),
// which introduces ReportBatchItemFailures for Amazon MSK and self-managed
// Kafka; the identifier's shape as AWS's Powertools for Lambda (Python)
// sends it (aws_lambda_powertools/utilities/batch/base.py,
// _collect_kafka_failures: {"partition": f"{topic}-{partition}", "offset":
// offset}) and the Rust runtime's KafkaEventResponse (aws-lambda-rust-runtime
// pull request 1164); and, for several failures, the lowest-identifier
// checkpoint rule of the Kinesis page
// (https://docs.aws.amazon.com/lambda/latest/dg/services-kinesis-batchfailurereporting.html),
// applied per partition. The handler lists one item per failed partition,
// its first failed offset, so no reading of the rule can skip a record.
type Response struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure is one entry of a partial batch response.
type BatchItemFailure struct {
	ItemIdentifier ItemIdentifier `json:"itemIdentifier"`
}

// ItemIdentifier identifies a record of a Kafka event: its partition key
// in the event ("topic-partition") and its offset.
type ItemIdentifier struct {
	Partition string `json:"partition"`
	Offset    int64  `json:"offset"`
}
