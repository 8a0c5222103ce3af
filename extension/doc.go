// Package extension is msklink's AWS Lambda extension: the IAM gateway of
// package proxy, run inside the function's execution environment, so that
// a function in any language reaches Amazon MSK with IAM authentication
// through a Kafka client that knows nothing of IAM. The function's client
// connects to 127.0.0.1:9092 without TLS or SASL (kafka-python:
// bootstrap_servers="127.0.0.1:9092", security_protocol="PLAINTEXT"); the
// extension connects to MSK with TLS and IAM under the function's role,
// with the credentials Lambda puts in the environment, and renews the
// sessions in place (KIP-368), which kafka-python 2.0 and others cannot.
//
// It is an external extension (the layer's extensions/msklink; see
// cmd/msklink-extension): Run registers with the Extensions API for INVOKE
// and SHUTDOWN, listens at once, and then, within the Init phase and a
// bound of its own, discovers the cluster and opens and authenticates one
// connection per broker in parallel. When that fails it logs one line with
// the doctor's cause code and fix and keeps serving: clients get the
// proxy's Kafka errors at once (the failure is remembered for a while)
// rather than timeouts. Bad settings get one line and an Init error.
//
// # Freeze and thaw
//
// Lambda freezes the environment between invocations; timers stop, and
// MSK or a NAT may close the upstream connections meanwhile, or their
// sessions may run out. The proxy runs with proxy.WithUpstreamChecks:
// before it forwards a request on a connection silent for
// MSK_PROXY_CHECK_AFTER, it checks it with an ApiVersions request of its
// own (bounded by MSK_PROXY_CHECK_TIMEOUT) and reconnects first if that
// fails; a connection that ended while idle is replaced at the next
// request. The client sees a pause. A request already forwarded when its
// upstream died closes the client connection at once, logged with the
// cause, so that the client retries rather than waits for its timeout.
// The INVOKE event starts the checks at once (proxy.CheckIdle), as a hint;
// none of it depends on the event arriving before the function's own
// requests.
//
// # Shutdown
//
// On SHUTDOWN the proxy stops accepting and reading requests, lets the
// requests already forwarded be answered, and closes, within the event's
// deadline (less 100 ms).
//
// Settings are listed at FromEnv; docs/EXTENSION.md has the whole story.
package extension
