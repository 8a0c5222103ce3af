package lambdafn

import (
	"fmt"
	"strings"
)

// InputError is an event the handler cannot publish: invalid JSON, a
// missing topic, a bad field, a record too large for its topic, an unknown
// event shape. Lambda reports it with errorType "InputError". Nothing of
// the batch it belongs to was sent.
type InputError struct {
	// Field is the JSON path of the offending field ("records[3].value",
	// "topic"), or "" for the whole payload.
	Field string
	// Msg says what is wrong and how to fix it.
	Msg string
	// NotFound is set when the named topic does not exist (API Gateway
	// answers 404 instead of 422).
	NotFound bool
	// Syntax is set when the payload (or request body) is not valid JSON
	// (API Gateway answers 400 instead of 422).
	Syntax bool
}

// Error says where the event is wrong, what is wrong and the fix.
func (e *InputError) Error() string {
	if e.Field == "" {
		return "lambdafn: invalid event: " + e.Msg
	}
	return "lambdafn: invalid event at " + e.Field + ": " + e.Msg
}

// inputErrorf returns an *InputError for field.
func inputErrorf(field, format string, args ...any) *InputError {
	return &InputError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// PublishError is returned when the record of an EventBridge event (an
// asynchronous invocation, which Lambda retries whole) was not acked. A
// direct invoke answers per record instead, with no error: invoked
// asynchronously (InvocationType Event), its failed records are only
// logged, so invoke it synchronously or check its answer.
// Lambda reports it with errorType "PublishError".
type PublishError struct {
	// Topic is the topic the records were for.
	Topic string
	// Failed and Unconfirmed count the records not acked.
	Failed, Unconfirmed int
	// Retriable reports whether publishing again may succeed.
	Retriable bool
	// Reason is the first record error's text.
	Reason string
}

// Error says how many records were not acked, why, and whether to retry.
func (e *PublishError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lambdafn: publishing to topic %q: %d failed, %d unconfirmed", e.Topic, e.Failed, e.Unconfirmed)
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(e.Reason)
	}
	if e.Retriable {
		b.WriteString(" (retriable: the invocation may be retried; an unconfirmed record may then be duplicated)")
	}
	return b.String()
}
