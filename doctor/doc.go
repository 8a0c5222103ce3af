// Package doctor diagnoses a connection to Amazon MSK layer by layer and
// returns one verdict: a cause code, a summary of what was seen, and the fix.
//
// Run walks the layers a Kafka client goes through and stops at the first one
// that explains the failure:
//
//  1. config: kafkaconn.Config.Validate (auth mode vs port, region vs host);
//  2. credentials and token (IAM): which source the credential chain used,
//     expiry, the token's region, signing time and access key;
//  3. dns: every bootstrap host, all addresses;
//  4. tcp: every address (connected, refused, or no answer: a security group
//     or NACL dropping packets);
//  5. tls: handshake, trust and host name, and whether a port that fails the
//     handshake speaks plaintext Kafka instead;
//  6. sasl: ApiVersions, the mechanisms the listener offers, authentication
//     with the broker's own message (raw kmsg requests on the doctor's own
//     connections, so exact error codes are seen, not a client's retries);
//  7. metadata, then the whole chain again to every advertised broker;
//  8. authz, when a topic is given: DescribeTopic (Metadata), WriteData (an
//     empty Produce the broker rejects after authorizing it: nothing is
//     written), WriteDataIdempotently (InitProducerId), ReadData (Fetch), and
//     with a group DescribeGroup (FindCoordinator, OffsetFetch) and AlterGroup
//     (a Heartbeat without membership: the group is not disturbed);
//  9. produce and consume (WithProduce, WithConsume): one record round trip
//     through a franz-go client built from the same Config, with latency.
//
// WithESM replaces the authz layer's checks with those of Lambda's event
// source mapping consumer (DescribeTopic, DescribeConfigs, DescribeGroup,
// ReadData, AlterGroup through an offset commit the broker rejects after
// authorizing it): nothing is written and the mapping's group is not
// joined (esm.go).
//
// The bootstrap brokers of a layer are checked in parallel, as are the
// advertised brokers. Each layer is bounded by the timeout (WithTimeout,
// default 5s), so a broker that drops packets is reported within about the
// timeout, never waited for. A layer fails when no broker passes it; brokers
// that fail while others pass are warnings, and the advertised-broker layer
// then names them.
//
// The cause codes (Causes, CauseInfo) are documented in
// docs/TROUBLESHOOTING.md. Explain maps error messages of the common Kafka
// clients (kafka-python, librdkafka, the Java client, franz-go, sarama,
// segmentio/kafka-go, Lambda's event source mapping) to the likely causes.
// Lambda runs the doctor from the MSK_* environment for the Lambda event
// {"msklink":"doctor"}.
//
// CauseOf maps a single error from a connection attempt (dial, TLS, SASL,
// a request) to a cause code without running the diagnosis, for programs
// that log failures in the same terms (the proxy).
//
// Concurrency: Run, Explain and CauseOf are safe for concurrent use; a Report is a
// plain value.
package doctor
