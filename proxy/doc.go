// Package proxy is an IAM gateway to Amazon MSK for Kafka clients that
// cannot sign MSK IAM authentication themselves (kcat and librdkafka,
// kafka-python, Kafka UIs, clients without a signer): they connect to
// local listeners without SASL, or with the SCRAM or mutual TLS the proxy
// offers, and the proxy connects to MSK with TLS and IAM (OAUTHBEARER or
// AWS_MSK_IAM) under its own identity, one upstream connection per client
// connection, and forwards requests and responses frame by frame.
//
// # Use
//
//	p, err := proxy.Start(ctx, kafkaconn.Config{Brokers: brokers}) // credentials: the default chain
//	...
//	defer p.Close()
//	// kcat -b 127.0.0.1:19092 -L
//
// The upstream side takes any kafkaconn.Config (IAM with the default chain,
// a profile or a role; SCRAM or TLS too), validated as for every msklink
// client. One iamauth.Provider signs every connection, so credentials are
// loaded once and tokens cached and renewed.
//
// # Listeners and addresses
//
// The bootstrap listener (WithListen, default 127.0.0.1:19092) forwards to
// a bootstrap broker, in turn. Each MSK broker gets a listener of its own,
// on the next ports (19093, ...) in the order brokers appear: at Start the
// proxy asks a seed broker for Metadata and opens one per broker, and any
// broker address a later answer names gets one too. Metadata,
// FindCoordinator and DescribeCluster answers are rewritten to the local
// addresses, so clients never see the MSK names they cannot reach. Answers
// with other broker addresses are kept out by ApiVersions: Produce is capped
// at v9 and Fetch at v15 (before KIP-951's leader hints), so that the hot
// path is forwarded byte for byte, never decoded; share-group and KRaft APIs
// are not offered (see versionCaps). Only ApiVersions, Metadata,
// FindCoordinator and DescribeCluster answers are decoded.
//
// # Authentication
//
// The proxy answers its clients' SaslHandshake and SaslAuthenticate itself
// (v0 with raw SASL bytes too, as kafka-python 2.0 sends): with
// ClientAuthNone and ClientAuthTLS any PLAIN, OAUTHBEARER or AWS_MSK_IAM
// exchange succeeds without a check; with ClientAuthSCRAM the users of
// WithSCRAMUsers are checked (SCRAM-SHA-512 and -256), and requests other
// than ApiVersions before authentication close the connection, as Kafka
// does. Clients are never asked to re-authenticate.
//
// Upstream sessions are renewed in place before MSK's session lifetime
// (KIP-368, SaslAuthenticate v1) runs out, at 85% of it (at least a second
// early): the connection stops forwarding, waits until every request
// already forwarded is answered, re-authenticates, and resumes. The client sees a pause, never an
// error, and the SASL requests never interleave with its own (the failure
// mode of proxies that pass SASL through or re-authenticate mid-stream).
//
// A failed upstream connect is logged with the doctor's cause code
// (doctor.CauseOf) and answered with a Kafka error where the client's
// request has a place for one: ApiVersions (SASL_AUTHENTICATION_FAILED when
// MSK refused the proxy's identity, BROKER_NOT_AVAILABLE when it could not
// be reached) and SaslAuthenticate (with the cause in the message). MSK's
// refusal of the proxy's identity is remembered for a few seconds
// (WithRefusalMemory) and clients are answered from it, so that a
// misconfigured role costs MSK one denied login per window, not one per
// client connection and broker.
//
// # Bounds
//
// WithMaxConnections bounds client connections (closed at once beyond it).
// Each connection holds at most one request and one response frame, each at
// most 100 MiB (Kafka's socket.request.max.bytes), and at most 128 queued
// answers. Frames over 1 MiB (Fetch answers, most often) are read into
// buffers of a pool the connections share (kafkawire.BufferPool): given
// back after each frame, so an idle connection holds none, and dropped
// after 10 s unused. A slow client or broker stalls its own connection
// through TCP backpressure. WithIdleTimeout closes
// connections with nothing sent or awaited for that long, clients that
// do not take a response within it, and connections whose answers do not
// come within it while a re-authentication waits for them. In
// ClientAuthSCRAM mode nothing is dialed upstream for a client before it
// authenticates: its ApiVersions is answered from what the proxy learned
// in its own discovery (run again, at most once a second, while MSK cannot
// be reached), and frames before authentication are bounded at 512 KiB.
//
// # Hosts that freeze
//
// For a host that freezes the proxy between uses, as AWS Lambda freezes an
// extension (package extension): WithDeferredDiscovery and Discover let
// the caller bound and report discovery; Warm authenticates one upstream
// connection per broker ahead of the clients; WithUpstreamChecks checks a
// connection silent for a while (an ApiVersions of the proxy's own) and
// replaces it if it died, and keeps the client connection when its
// upstream ends while idle; WithFailureMemory answers clients at once with
// a recent connect failure; Shutdown drains what is in flight.
//
// # Concurrency
//
// A Proxy is safe for concurrent use. Each client connection runs three
// goroutines: requests, responses, and the upstream reader (which also
// connects).
package proxy
