// Package publish produces records to Kafka (Amazon MSK) within a
// deadline and reports one honest outcome per record:
//
//   - Acked: the broker wrote it; the outcome has its partition and offset.
//   - Failed: it was not written; Retriable says whether trying again may
//     help (a broker hiccup) or not (no permission, record too large).
//   - Unconfirmed: it was sent but no answer came before the deadline. It
//     may or may not be written: retry (accepting a possible duplicate) or
//     reconcile.
//
// Nothing is lost silently. Publish always returns before the context's
// deadline minus a safety margin, even when franz-go cannot fail an
// in-flight idempotent record (it keeps such records until it knows their
// fate, so ProduceSync can outlive its context): such records come back
// Unconfirmed, and their late outcome is logged for reconciliation.
//
// A record that ends at the deadline says why when a connection failed:
// franz-go retries a broker it cannot reach or authenticate to in silence,
// so the outcome carries the last failed connection (LastConnectError), as
// in "not written before the deadline (the last connection failed: broker
// b-1...:9098: dial tcp ...: i/o timeout)".
//
// Publish takes a batch of records; a Stream takes records as they come
// (Send), with a bound on the records and bytes in flight: at the bound
// Send blocks until earlier records are answered, so a fast source
// cannot buffer without limit. Both keep the same deadline rules and give
// each record exactly one outcome, a Stream through a function called in
// input order with the record's index. Publish is a Stream fed one batch.
//
// A Publisher owns its franz-go client, built from a kafkaconn.Config. In
// AWS Lambda, build it and call Warm during Init: Warm opens and
// authenticates the produce connections to every partition leader, loads
// the topics' metadata and the idempotent producer id, so the first Publish
// after a cold start costs one round trip.
//
// A Publisher is safe for concurrent use.
package publish
