// Package emulator runs a local Amazon MSK cluster for tests and people:
// MSK's listener layout, TLS, SASL (IAM OAUTHBEARER and AWS_MSK_IAM, SCRAM),
// IAM-policy authorization, KIP-368 session lifetimes, MSK's connection
// limits and fault injection, in front of franz-go's kfake as the Kafka
// engine.
//
// # Use
//
//	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3))
//	...
//	defer c.Close()
//	brokers := c.Bootstrap(emulator.IAM) // "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3"
//	pool := c.CAPool()                   // trust it for the TLS listeners
//
// The default identity signs with the AWS documentation example keys
// (DefaultAccessKeyID / DefaultSecretAccessKey) and is allowed
// kafka-cluster:*; the default SCRAM user is msklink / msklink-secret.
//
// # Addresses
//
// Each broker has one listener per enabled kind, with MSK's ports:
// plaintext 9092, TLS 9094, SASL/SCRAM over TLS 9096, IAM over TLS 9098.
// By default broker N (0-based) listens on 127.0.0.(N+1): Linux routes all
// of 127.0.0.0/8 to the loopback interface, so brokers do not clash and
// addresses look like MSK's (macOS needs "ifconfig lo0 alias"). Ephemeral()
// uses 127.0.0.1 with free ports instead, for tests running in parallel.
// Every listener kind advertises its own host:port in Metadata,
// FindCoordinator and DescribeCluster, as MSK does. Broker IDs are kfake's
// node IDs (0..n-1), in broker order; Start checks that order.
//
// # Why a front in front of kfake
//
// kfake is a complete Kafka engine (topics, produce, fetch, groups,
// transactions, persistence) but cannot be MSK by itself: its SASL offers
// PLAIN and SCRAM only, registers SaslHandshake v1 only, lists no
// mechanisms on success and closes the socket on a bad password; its control
// hooks see a request but not the connection or principal it came from, so
// per-connection authorization, session lifetimes and faults cannot be
// written as hooks; and it advertises one address per broker, while MSK
// advertises one per listener kind.
//
// So kfake has no socket at all: its ListenFn option gets in-process
// listeners whose addresses (broker-N.kfake.invalid:9092, which never
// resolve) are what kfake advertises, and this package puts an MSK "front"
// before it, per broker and listener kind; nothing but the front can reach
// kfake. The front accepts client connections, does TLS and the whole SASL
// phase itself, authorizes each request with package iampolicy (IAM
// listener), injects faults, and forwards requests frame by frame to the
// broker's kfake listener over one backend connection per client
// connection: an in-process net.Pipe, on which kfake sees the client's own
// address (and the hot path has no kernel hop). Requests are forwarded as
// they arrive (pipelining is kept); Kafka answers in order per connection,
// so answers are matched in order and checked by correlation ID. Answers
// the front makes itself (SASL, authorization denials) are queued in the
// same order. Only responses that need it are decoded and re-encoded with
// kmsg: ApiVersions (version caps, SASL versions), Metadata,
// FindCoordinator and DescribeCluster (addresses), Produce and Fetch
// answers that carry leader hints (addresses), and responses to requests
// the authorizer trimmed. No kfake address reaches a client. ApiVersions
// caps Produce at v9 and Fetch at v15 (no NodeEndpoints field) and does not
// offer share-group APIs; a request above what it advertises, or of an API
// it does not advertise, closes the connection, as Kafka closes it, and is
// never forwarded. On SASL listeners it advertises SaslHandshake 0..1 and
// SaslAuthenticate 0..2.
//
// The alternatives were worse: a ListenFn wrapper alone cannot see the
// principal after kfake's SASL, cannot implement OAUTHBEARER or
// AWS_MSK_IAM, and still advertises one address; forking kfake would fork a
// moving project.
//
// # Authentication, as MSK does it
//
// The IAM listener accepts OAUTHBEARER (client-first message
// "n,,\x01auth=Bearer <token>\x01\x01", token checked with iamauth.Verify)
// and AWS_MSK_IAM (JSON payload checked with iamauth.VerifyPayload for the
// broker's advertised host; the answer is
// {"version":"2020_10_22","request-id":"<uuid>"}). The principal also
// needs kafka-cluster:Connect on the cluster. The SCRAM listener accepts
// SCRAM-SHA-512 (and SCRAM-SHA-256 for users configured with it).
//
// SaslHandshake v1 is followed by SaslAuthenticate v0-v2. A failure is
// SASL_AUTHENTICATION_FAILED with MSK's exact message and nothing more:
// "[<request id>]: Access denied" for every refused token (wrong region,
// signature, key, expiry, clock, no kafka-cluster:Connect), "[<id>]: Too
// many connects" over the connection rate, "[<id>]: Session too short" for
// credentials that expire in under a second, "[<id>]: Invalid
// authentication payload" for a message or token that does not parse; on
// the SCRAM listener Apache Kafka's "Authentication failed during
// authentication due to invalid credentials with SASL mechanism
// SCRAM-SHA-512". The connection is then closed. The emulator's exact
// reason goes to the "authn" log line of that connection with the same
// request id (so a client's message can be matched with it), to
// Cluster.AuthFailures and to the admin endpoint's GET /v1/auth-failures.
// Config.VerboseAuthErrors (`msklink local --verbose-auth-errors`) appends
// it to the client's message too; MSK never does, so code that reads it
// passes here and fails on MSK. After SaslHandshake v0 the SASL bytes come
// raw (size-prefixed, no Kafka header); a failure then closes the socket
// without an answer, as MSK does, which kafka-python 2.0.2 reports as
// "Connection reset during recv". Any request other than ApiVersions,
// SaslHandshake and SaslAuthenticate before authentication closes the
// connection; an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM with the
// enabled list.
//
// The TLS certificate is issued for "*." + Cluster.BrokerDomain
// ("*.<name>.<id>.c3.kafka.<region>.amazonaws.com", MSK's form), valid
// from 30 days before start, and also names the listeners' loopback
// addresses.
//
// Sessions (KIP-368): SaslAuthenticate v1+ reports a session lifetime, the
// smaller of Config.SessionMaxLifetime and the time to the credentials'
// expiry; after it, any request but a re-authentication (SaslHandshake,
// then SaslAuthenticate) closes the connection; re-authentication as a
// different principal ("Cannot change principals during
// re-authentication") or with another mechanism is rejected.
//
// # Authorization
//
// See authz.go for the mapping of Kafka requests to kafka-cluster actions
// (Kafka's KafkaApis rules, mapped as the MSK developer guide's
// "Semantics of IAM authorization policy actions and resources" maps ACLs;
// TestAuthzTable pins every API key). As in Kafka, checks are per topic,
// group or config resource where the request names several: the denied
// ones get TOPIC_/GROUP_AUTHORIZATION_FAILED and the others are served. A
// topic named by ID (Produce v13, Fetch v13+, Metadata v12+, DeleteTopics
// v6+, OffsetCommit v10, OffsetFetch v10, TxnOffsetCommit v6) is checked
// by the name kfake gives the ID at the time of the request. No answer
// names a topic the principal may not describe: such topics are left out
// of listings, and a group whose members name one is answered
// TOPIC_AUTHORIZATION_FAILED without its members. A fetch session belongs
// to the connection that created it. Requests only brokers send (Kafka's
// CLUSTER_ACTION) and the share-group APIs are refused.
// Non-IAM listeners allow everything (MSK's behaviour without Kafka ACLs).
// Every authentication and authorization decision is one structured log
// line ("authn" / "authz") with principal, action, resource, decision and
// reason; secrets never reach a log.
//
// # Faults and limits
//
// Listener.SetFaults adds latency per direction, resets connections after
// N requests or with a probability, or blackholes requests;
// Listener.ResetConnections resets now; Listener.Stop/Start stop and
// restart listening; Broker.Down/Up do it for all of a broker's listeners.
// kfake's own faults (Kafka error codes) and leader moves are reached
// through Cluster.Kfake (Fault, MoveTopicPartition, ShufflePartitionLeaders).
// Config.Faults and WithFaults set faults from the start, and
// Cluster.AdminHandler serves the same controls over HTTP for
// `msklink local` (loopback only).
// Config.Limits reproduces MSK's connection limits ("Too many connects",
// connections per broker, idle close, of a client that stops reading too);
// they are off by default.
//
// # Where the emulator differs from MSK
//
// Checked where a client can tell; each difference is kept for a reason:
//
//   - Addresses: brokers advertise 127.0.0.N (or 127.0.0.1 with ephemeral
//     ports), not b-N.<BrokerDomain>, so that nothing needs /etc/hosts or a
//     resolver. The certificate carries the MSK-style wildcard, so the
//     cluster's region is still readable from TLS.
//   - ApiVersions: kfake's ranges (a recent Kafka's), with Produce capped
//     at v9 and Fetch at v15 (later versions carry broker addresses in
//     leader hints that the front would have to rewrite) and the share
//     group APIs left out; SaslHandshake 0-1 and SaslAuthenticate 0-2 on
//     the SASL listeners. MSK's ranges follow its Kafka version.
//   - Mechanisms: the IAM listener lists AWS_MSK_IAM and OAUTHBEARER, the
//     SCRAM listener its users' mechanisms (SCRAM-SHA-512 unless
//     configured otherwise); MSK's exact lists were not observed.
//   - Error codes in Produce, Fetch, Metadata and group responses are
//     kfake's, which follows Apache Kafka; the few error messages Kafka
//     sets (Produce's, CreateTopics') may be worded differently.
//     Authorization failures carry the Kafka error code with no message,
//     as Kafka's; a denied request whose response has no error field is
//     answered by closing the connection, and the log names the action.
//   - Compressed batches: one whose records decompress beyond the topic's
//     max.message.bytes is refused with MESSAGE_TOO_LARGE, one that does
//     not decompress with CORRUPT_MESSAGE. Kafka bounds only a batch's
//     size on the wire, but it never holds a batch decompressed whole;
//     kfake does, so a few KB of zstd could otherwise take a GB.
//   - Cluster id: a Kafka-style 22-character id derived from the cluster
//     ARN (stable across runs); MSK's is random.
//   - Limits: the connection rate and count (Config.Limits, off by
//     default) apply to every listener; MSK documents them for IAM.
//   - Session too short: MSK's bound is not documented; the emulator uses
//     one second (see minSessionLifetime).
//
// # Concurrency
//
// A Cluster, its Brokers and Listeners are safe for concurrent use.
package emulator
