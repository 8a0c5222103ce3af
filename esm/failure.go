package esm

import (
	"encoding/json"
	"strconv"
	"time"
)

// Conditions of a record given up, the on-failure record's
// requestContext.condition.
const (
	// ConditionRetriesExhausted: the record failed its retry attempts. The
	// text is the Kafka on-failure destination page's
	// (kafka-on-failure-destination.html); its SQS/SNS page says
	// "RetryAttemptsExhausted".
	ConditionRetriesExhausted = "RetriesExhausted"
	// ConditionRecordAgeExceeded: the record was older than the maximum
	// record age before it could be sent (or sent again).
	ConditionRecordAgeExceeded = "RecordAgeExceeded"
	// ConditionPayloadSizeExceeded: the record alone makes an event larger
	// than Lambda's 6 MB ("MaximumPayloadSizeExceeded", kafka-on-failure.html).
	ConditionPayloadSizeExceeded = "MaximumPayloadSizeExceeded"
)

// GiveUp describes a record given up: not accepted by the function, and
// committed past after it was written to the on-failure topic (or dropped
// when there is none), as Lambda does.
type GiveUp struct {
	Topic     string
	Partition int32
	Offset    int64
	Condition string
	// Invokes is how many invocations held the record
	// (requestContext.approximateInvokeCount).
	Invokes int
	// Error is the last function error, if any.
	Error string
	// Destination is the on-failure topic it was written to, "" if dropped.
	Destination string
	// Value is the message written to Destination.
	Value []byte
	// PayloadDropped says Value's "payload" is null: the message with the
	// record's event was too large for Destination (its
	// max.message.bytes); the metadata names the record in the source
	// topic.
	PayloadDropped bool
}

// failureRecord is the message written to a Kafka on-failure destination
// for one record, in the shape of "Record format for a Kafka destination"
// (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure-destination.html):
//
//	{"requestContext": {"requestId", "functionArn", "condition", "approximateInvokeCount"},
//	 "responseContext": {"statusCode", "executedVersion", "functionError"},
//	 "version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
//	 "KafkaBatchInfo": {"batchSize": 1, "eventSourceArn", "bootstrapServers", "payloadSize",
//	                    "recordInfo": {"offset": "<string>", "timestamp": "<ISO-8601>"}},
//	 "payload": <the event of this one record>}
//
// The message's key is the record's key ("Lambda uses the same partition key
// from the original record"). responseContext is null when the function
// never saw the record (as the SQS/SNS record format says of
// MaximumPayloadSizeExceeded).
type failureRecord struct {
	RequestContext  failureRequestContext   `json:"requestContext"`
	ResponseContext *failureResponseContext `json:"responseContext"`
	Version         string                  `json:"version"`
	Timestamp       string                  `json:"timestamp"`
	KafkaBatchInfo  kafkaBatchInfo          `json:"KafkaBatchInfo"`
	Payload         json.RawMessage         `json:"payload"`
}

type failureRequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

type failureResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

type kafkaBatchInfo struct {
	BatchSize        int        `json:"batchSize"`
	EventSourceARN   string     `json:"eventSourceArn,omitempty"`
	BootstrapServers string     `json:"bootstrapServers"`
	PayloadSize      int        `json:"payloadSize"`
	RecordInfo       recordInfo `json:"recordInfo"`
}

type recordInfo struct {
	Offset    string `json:"offset"`
	Timestamp string `json:"timestamp"`
}

// failureMessage builds the on-failure message of r; without payload its
// "payload" is null (the other fields, payloadSize included, stay), for a
// record whose message the destination cannot take whole.
func (e *ESM) failureMessage(r *record, condition string, now time.Time, withPayload bool) []byte {
	payload := e.enc.encode([]*record{r})
	fr := failureRecord{
		RequestContext: failureRequestContext{
			RequestID: r.lastRequestID, FunctionARN: e.c.functionARN,
			Condition: condition, ApproximateInvokeCount: r.invokes,
		},
		Version:   "1.0",
		Timestamp: millisUTC(now),
		KafkaBatchInfo: kafkaBatchInfo{
			BatchSize: 1, EventSourceARN: e.c.eventSourceARN, BootstrapServers: e.bootstrap,
			PayloadSize: len(payload),
			RecordInfo:  recordInfo{Offset: strconv.FormatInt(r.r.Offset, 10), Timestamp: millisUTC(r.r.Timestamp)},
		},
		Payload: payload,
	}
	if !withPayload {
		fr.Payload = nil
	}
	if fr.RequestContext.RequestID == "" {
		fr.RequestContext.RequestID = newUUID()
	}
	if r.invokes > 0 {
		fr.ResponseContext = &failureResponseContext{StatusCode: r.lastStatus, ExecutedVersion: "$LATEST", FunctionError: r.lastFunctionError}
	}
	b, _ := json.Marshal(fr) // plain structs and a valid RawMessage
	return b
}
