package doctor

import (
	"regexp"
	"strings"
)

// namedCause matches a cause code msklink wrote into a message: "(cause
// auth_denied)" in an error, "cause=tcp_timeout" in a log line.
var namedCause = regexp.MustCompile(`\bcause[ =]([a-z_]+)\b`)

// Explanation is what an error message means: the client that prints it,
// the known fragment it matched, and the likely causes, most likely first.
type Explanation struct {
	Client  string   `json:"client"`  // the client(s) that print this text, e.g. "kafka-python 2.0"
	Matched string   `json:"matched"` // the fragment of the input that matched
	Meaning string   `json:"meaning"` // what the client saw
	Causes  []Likely `json:"causes"`  // most likely first
}

// Likely is one possible cause of an error message.
type Likely struct {
	Cause   string `json:"cause"`   // a cause code (see Causes)
	Why     string `json:"why"`     // why this cause produces the message
	Confirm string `json:"confirm"` // the msklink command that confirms or rules it out
}

// rule is one known error text.
type rule struct {
	client  string
	needles []string // any of them matches (case-insensitive)
	unless  []string // but not when the text has one of these (a more specific rule's)
	meaning string
	causes  []Likely
}

// confirm is the doctor command that tells a cause apart.
func confirm(cause string) string {
	base := "msklink doctor --bootstrap $BROKERS"
	switch cause {
	case CauseAuthzTopic, CauseAuthzIdempotent:
		return base + " --topic $TOPIC (authz checks)"
	case CauseAuthzGroup:
		return base + " --topic $TOPIC --consume --group $GROUP (authz group checks)"
	case CauseAdvertisedUnreachable:
		return base + " (advertised checks: every broker from Metadata)"
	case CauseDNS:
		return base + " (dns checks; run it in the function: invoke it with {\"msklink\":\"doctor\"})"
	case CauseTCPTimeout, CauseTCPRefused:
		return base + " (tcp checks; from the function's VPC: invoke it with {\"msklink\":\"doctor\"})"
	case CauseTLSRequired, CauseTLSNotOffered, CauseTLSUntrusted:
		return base + " --auth $AUTH (tls checks)"
	case CauseCredentials, CauseTokenExpired, CauseTokenRegion, CauseClockSkew:
		return base + " --region $REGION (credentials and token checks)"
	case CauseTooManyConnects, CauseAuthDenied, CauseAuthMechanism:
		return base + " --auth $AUTH (sasl checks show the broker's message)"
	}
	return base + " --topic $TOPIC --produce"
}

func likely(cause, why string) Likely { return Likely{Cause: cause, Why: why, Confirm: confirm(cause)} }

// Shared cause lists.
func authCauses() []Likely {
	return []Likely{
		likely(CauseAuthDenied, "the principal's IAM policy does not allow kafka-cluster:Connect on the cluster ARN (or the credentials are another principal's)"),
		likely(CauseTokenRegion, "the token is signed for another region than the cluster's"),
		likely(CauseTokenExpired, "the credentials expired (temporary credentials copied into environment variables, a role session not refreshed)"),
		likely(CauseClockSkew, "the client's clock is more than 5 minutes off"),
		likely(CauseTooManyConnects, "MSK's new-connection rate limit answers the same way"),
	}
}

func unreachableCauses() []Likely {
	return []Likely{
		likely(CauseTCPTimeout, "the cluster's security group does not allow port 9098 (IAM) from the client's security group, or the client is not in the cluster's VPC"),
		likely(CauseAdvertisedUnreachable, "bootstrap works but the brokers' advertised addresses do not resolve or route from the client"),
		likely(CauseDNS, "the private broker names do not resolve outside the cluster's VPC"),
		likely(CauseAuthDenied, "clients that hide authentication failures (kafka-python 2.0, older librdkafka) report only that no broker answered"),
		likely(CauseTLSRequired, "a plaintext client on a TLS port looks like a broker that never answers"),
	}
}

// clientLacksIAM are the texts of a client that cannot do AWS_MSK_IAM.
var clientLacksIAM = []string{"Unsupported SASL mechanism: AWS_MSK_IAM", "AWS_MSK_IAM not supported"}

// proxyConfirm confirms a cause behind msklink proxy.
const proxyConfirm = "the msklink proxy log (upstream failed ... cause=...); msklink doctor --bootstrap $BROKERS with the proxy's flags, from the proxy's host"

// rules is the catalog of known texts, most specific first. Each entry's
// test case in explain_test.go carries the real client's text and where it
// comes from.
func rules() []rule {
	return append(esmRules(), []rule{
		{client: "kafka-python 2.0.x", needles: []string{"Connection reset during recv"},
			meaning: "kafka-python 2.0 authenticates with SaslHandshake v0 and raw SASL bytes; MSK can then only close the socket when it rejects the client, so every rejection reads as a reset during the SASL exchange",
			causes: append(authCauses()[:4:4],
				likely(CauseAuthMechanism, "the port does not offer the mechanism (IAM on the SCRAM port 9096)"),
				likely(CauseTooManyConnects, "MSK's new-connection rate limit (\"Too many connects\") is a rejection too"))},
		{client: "MSK (every client: Java aws-msk-iam-auth, librdkafka, franz-go, kafka-python 2.1+)", needles: []string{"Too many connects"},
			meaning: "the broker rejected the authentication because the client opened new connections faster than MSK allows",
			causes:  []Likely{likely(CauseTooManyConnects, "MSK limits new IAM connections per broker (about 100/s, 4/s on t3.small); a client per invocation or a reconnect storm trips it")}},
		{client: "MSK IAM (the broker's SASL message)", needles: []string{"Session too short", "Cannot change principals during re-authentication"},
			meaning: "the broker refused the session: the credentials expire too soon, or re-authentication came from another principal (a new STS session name)",
			causes:  []Likely{likely(CauseTokenExpired, "credentials about to expire; refresh them earlier and keep the role session name stable")}},
		{client: "Java client, librdkafka, franz-go, sarama, segmentio/kafka-go, kafka-python 2.1+", needles: []string{"SASL_AUTHENTICATION_FAILED", "SaslAuthenticationException", "SaslAuthenticationFailedError", "SASL authentication error", "SASL Authentication failed", "Access denied", "Authentication failed"},
			meaning: "the broker rejected the SASL authentication; MSK says only \"Access denied\"",
			causes:  authCauses()},
		// librdkafka's rd_kafka_sasl_select_provider fails creating the
		// client ("Unsupported SASL mechanism: %s"): nothing was sent, the
		// client itself cannot do it.
		{client: "kcat, librdkafka (confluent-kafka-*), clients without MSK IAM support", needles: clientLacksIAM,
			meaning: "the client itself does not implement MSK IAM authentication (AWS_MSK_IAM); it failed before connecting",
			causes: []Likely{{Cause: CauseAuthMechanism,
				Why:     "the client has no MSK IAM signer (kcat and librdkafka, kafka-python 2.0, Kafka UIs): instead of switching the cluster to SCRAM, connect it through msklink proxy, which authenticates to MSK with this machine's IAM identity",
				Confirm: "msklink proxy --bootstrap $BROKERS, then the client on 127.0.0.1:19092 with security.protocol PLAINTEXT and no SASL settings (kcat -b 127.0.0.1:19092 -L)"}}},
		{client: "kafka-python 2.0 (directly, or through msklink proxy)", needles: []string{"UnrecognizedBrokerVersion"},
			meaning: "kafka-python's ApiVersions probe got no answer it could use, so it cannot tell the broker's version; through msklink proxy this is how a failed upstream connection reaches it",
			causes: []Likely{
				{Cause: CauseAuthDenied, Why: "through msklink proxy: MSK refused the proxy's IAM identity (the proxy logs upstream failed stage=connect cause=auth_denied, or token_region, token_expired, clock_skew)", Confirm: proxyConfirm},
				{Cause: CauseTCPTimeout, Why: "through msklink proxy: the proxy cannot reach the broker (the proxy logs upstream failed stage=connect cause=tcp_timeout, or tcp_refused, dns)", Confirm: proxyConfirm},
				likely(CauseTLSRequired, "directly: security_protocol PLAINTEXT on a TLS port (9098, 9096, 9094)"),
			}},
		{client: "kcat, librdkafka, franz-go (through msklink proxy)", needles: []string{"Broker not available", "BROKER_NOT_AVAILABLE"},
			meaning: "the broker the client connected to says no broker is available: msklink proxy answers so when its own connection to that MSK broker failed",
			causes: []Likely{
				{Cause: CauseTCPTimeout, Why: "the proxy's host has no network path to the broker (VPC, security group 9098)", Confirm: proxyConfirm},
				{Cause: CauseTCPRefused, Why: "nothing listens at the broker's port (IAM access control off: no 9098), or the broker is down", Confirm: proxyConfirm},
				{Cause: CauseDNS, Why: "the broker's private name does not resolve where the proxy runs", Confirm: proxyConfirm},
				{Cause: CauseTLSUntrusted, Why: "the proxy does not trust the broker's certificate (--ca-file for a private CA or the emulator)", Confirm: proxyConfirm},
			}},
		{client: "Java client, librdkafka, franz-go, sarama, segmentio/kafka-go", unless: clientLacksIAM, needles: []string{"UNSUPPORTED_SASL_MECHANISM", "Unsupported SASL mechanism", "does not support the requested SASL mechanism", "not enabled in the server", "broker's supported mechanisms", "UnsupportedSaslMechanism"},
			meaning: "the listener does not offer the client's SASL mechanism",
			causes:  []Likely{likely(CauseAuthMechanism, "IAM (OAUTHBEARER, AWS_MSK_IAM) is only on port 9098/9198; SCRAM on 9096/9196; TLS-only 9094 has no SASL")}},
		// A certificate failure is definite; librdkafka may add its
		// "connecting to a PLAINTEXT broker listener?" guess to the same
		// handshake error, so this rule comes first.
		{client: "Java client, librdkafka, franz-go, sarama (Go crypto/tls), Python ssl", needles: []string{"certificate verify failed", "PKIX path building failed", "certificate signed by unknown authority", "failed to verify certificate", "certificate could not be verified", "x509:", "CERTIFICATE_VERIFY_FAILED", "SSLHandshakeException"},
			meaning: "the broker's certificate is not trusted or does not match the host name",
			causes:  []Likely{likely(CauseTLSUntrusted, "a custom truststore without Amazon's CAs, a private CA without --ca-file, or connecting by IP instead of the broker's DNS name")}},
		{client: "librdkafka (kcat, confluent-kafka-python/-go/-dotnet)", needles: []string{"connecting to a PLAINTEXT broker listener"},
			meaning: "the TLS handshake was answered by a port that does not speak TLS",
			causes:  []Likely{likely(CauseTLSNotOffered, "security.protocol SSL/SASL_SSL on the plaintext port 9092")}},
		// librdkafka does not always add its "PLAINTEXT listener?" guess:
		// seen from kcat 1.7 / librdkafka 2.0.2 against a plaintext port,
		// "ssl://127.0.0.1:45075/bootstrap: Disconnected (after 0ms in
		// state SSL_HANDSHAKE)" and "No further error information
		// available (after 0ms in state SSL_HANDSHAKE)".
		{client: "librdkafka (kcat, confluent-kafka-*)", needles: []string{"in state SSL_HANDSHAKE"},
			meaning: "the connection closed during the TLS handshake",
			causes: []Likely{
				likely(CauseTLSNotOffered, "security.protocol SSL/SASL_SSL on the plaintext port 9092: the broker closes on the TLS hello"),
				likely(CauseTooManyConnects, "over MSK's connection limits, new connections are closed at once"),
				likely(CauseConnectionReset, "a proxy, firewall or load balancer in between closes the connection"),
			}},
		{client: "librdkafka (kcat, confluent-kafka-*)", needles: []string{"Disconnected while requesting ApiVersion", "connecting to a SSL listener"},
			meaning: "the broker closed the connection at the first request",
			causes: []Likely{
				likely(CauseTLSRequired, "security.protocol PLAINTEXT or SASL_PLAINTEXT on a TLS port (9094, 9096, 9098)"),
				likely(CauseTooManyConnects, "over MSK's connection limits, non-SASL connections are closed at once"),
				likely(CauseConnectionReset, "a proxy or load balancer in between closes the connection"),
			}},
		{client: "Java client, aws-msk-iam-auth, boto3/botocore, aws-sdk-go-v2", needles: []string{"Failed to find AWS IAM Credentials", "Unable to locate credentials", "NoCredentialProviders", "failed to refresh cached credentials", "no EC2 IMDS role found", "Unable to load AWS credentials", "could not find credentials"},
			meaning: "the IAM signer found no AWS credentials",
			causes:  []Likely{likely(CauseCredentials, "no role attached (Lambda execution role, ECS task role, instance profile) and no AWS_PROFILE / access keys")}},
		{client: "AWS SDKs, STS", needles: []string{"ExpiredToken", "security token included in the request is expired", "token has expired"},
			meaning: "the AWS credentials have expired",
			causes: []Likely{
				likely(CauseTokenExpired, "temporary credentials copied into the environment, or a session not refreshed"),
				likely(CauseClockSkew, "a clock far ahead makes fresh credentials look expired"),
			}},
		{client: "Go (franz-go, sarama, segmentio), librdkafka, Java, Python", needles: []string{"no such host", "Failed to resolve", "Name or service not known", "nodename nor servname", "getaddrinfo", "UnknownHostException", "DNS resolution failed", "Temporary failure in name resolution"},
			meaning: "a broker host name does not resolve",
			causes: []Likely{
				likely(CauseDNS, "MSK's private names resolve only inside the cluster's VPC (or peered VPCs with DNS resolution); a typo in the bootstrap string"),
				likely(CauseAdvertisedUnreachable, "the bootstrap address resolves (a tunnel, an IP) but the advertised names do not"),
			}},
		{client: "Go, librdkafka, Java, Python", needles: []string{"connection refused", "ECONNREFUSED", "Connection refused"},
			meaning: "the host answered but nothing listens on that port",
			causes: []Likely{
				likely(CauseTCPRefused, "the listener of that port is not enabled (IAM access control off: no 9098), or the wrong port for the auth mode"),
				likely(CauseAdvertisedUnreachable, "a broker from Metadata is down or restarting"),
			}},
		{client: "Java client, librdkafka, franz-go, sarama, segmentio/kafka-go, kafka-python", needles: []string{
			"i/o timeout", "Connection setup timed out", "timed out in state CONNECT", "could not be established", "Timed out waiting for a node assignment",
			"Failed to update metadata", "not present in metadata", "NoBrokersAvailable", "run out of available brokers", "All broker connections are down",
			"context deadline exceeded", "failed to dial", "Connection timed out", "Local: Broker transport failure"},
			meaning: "the client reached no broker in time",
			causes:  unreachableCauses()},
		{client: "Java client, franz-go, sarama, segmentio/kafka-go, librdkafka, kafka-python", needles: []string{"TOPIC_AUTHORIZATION_FAILED", "TopicAuthorization", "Not authorized to access topics", "not authorized to access this topic", "Topic Authorization Failed", "not authorized to access the requested topic"},
			meaning: "the principal may connect but not use the topic",
			causes:  []Likely{likely(CauseAuthzTopic, "the policy lacks kafka-cluster:DescribeTopic and WriteData (produce) or ReadData (consume) on the topic ARN, or names the wrong cluster UUID")}},
		{client: "Java client, franz-go, sarama, segmentio/kafka-go, librdkafka", needles: []string{"CLUSTER_AUTHORIZATION_FAILED", "ClusterAuthorization", "Cluster authorization failed", "not authorized to send this request type", "Cluster Authorization Failed"},
			meaning: "a cluster-level action was denied; for a producer that is InitProducerId of the idempotent producer",
			causes:  []Likely{likely(CauseAuthzIdempotent, "the policy lacks kafka-cluster:WriteDataIdempotently on the cluster ARN (idempotence is on by default in franz-go, Java 3.0+ and librdkafka with enable.idempotence)")}},
		{client: "Java client, franz-go, sarama, segmentio/kafka-go, librdkafka", needles: []string{"GROUP_AUTHORIZATION_FAILED", "GroupAuthorization", "Not authorized to access group", "not authorized to access this group", "Group Authorization Failed"},
			meaning: "the consumer group's actions were denied",
			causes:  []Likely{likely(CauseAuthzGroup, "the policy lacks kafka-cluster:DescribeGroup and AlterGroup on the group ARN")}},
		{client: "librdkafka, Java client, franz-go", needles: []string{"Message timed out", "REQUEST_TIMED_OUT", "record timed out", "records have timed out", "Expiring", "TimeoutException"},
			meaning: "requests were sent but not answered in time",
			causes: []Likely{
				likely(CauseBrokerTimeout, "the broker is slow or overloaded, or the delivery timeout is shorter than a cold connection takes"),
				likely(CauseTCPTimeout, "the leader's broker is not reachable while the bootstrap one is"),
			}},
		{client: "Go, librdkafka, Java, Python", needles: []string{"connection reset by peer", "socket disconnected", "Receive failed: Disconnected", "Broken pipe", "unexpected EOF", "EOF", "Connection reset"},
			meaning: "the broker (or something in between) closed the connection",
			causes: []Likely{
				likely(CauseConnectionReset, "a broker restart, MSK's idle connection close (10 minutes), or a proxy"),
				likely(CauseAuthDenied, "clients that use SaslHandshake v0 see a rejected authentication as a closed connection"),
				likely(CauseTLSRequired, "a plaintext client on a TLS port is disconnected at the first request"),
				likely(CauseTooManyConnects, "over MSK's connection limits, connections are closed"),
			}},
	}...)
}

// Explain returns what an error message from a Kafka client means and its
// likely causes, for every known fragment the text contains, most specific
// first. It returns nil for text it does not know. Matching ignores case.
//
// A text in which msklink names a cause code ("(cause tcp_refused ...",
// the proxy's "cause=auth_denied") is explained first by that cause.
func Explain(text string) []Explanation {
	lower := strings.ToLower(text)
	var out []Explanation
	seen := map[string]bool{}
	for _, m := range namedCause.FindAllStringSubmatch(text, -1) {
		d, ok := CauseInfo(m[1])
		if !ok || m[1] == CauseOK || seen["cause "+m[1]] {
			continue
		}
		seen["cause "+m[1]] = true
		out = append(out, Explanation{Client: "msklink (produce, consume, publish, proxy logs)", Matched: m[0],
			Meaning: "msklink named the cause: " + d.Meaning, Causes: []Likely{likely(m[1], d.Fix)}})
	}
rules:
	for _, r := range rules() {
		for _, u := range r.unless {
			if strings.Contains(lower, strings.ToLower(u)) {
				continue rules
			}
		}
		for _, n := range r.needles {
			if strings.Contains(lower, strings.ToLower(n)) {
				key := r.meaning
				if !seen[key] {
					seen[key] = true
					out = append(out, Explanation{Client: r.client, Matched: n, Meaning: r.meaning, Causes: r.causes})
				}
				break
			}
		}
	}
	return out
}
