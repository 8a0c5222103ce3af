package doctor

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"

	"github.com/msklink/msklink/internal/testutil"
)

// Each case is a real client's text, with where it comes from, and the cause
// Explain must list first (and any others it must list).
var explainCases = []struct {
	name, text, source string
	first              string
	also               []string
}{
	// kafka-python 2.0.2, kafka/conn.py BrokerConnection._recv_bytes_blocking
	// (raised during the v0 SASL exchange): raise ConnectionError('Connection reset during recv').
	{"kafka-python reset", "ConnectionError: Connection reset during recv", "dpkp/kafka-python 2.0.2 kafka/conn.py", CauseAuthDenied, []string{CauseTokenRegion, CauseAuthMechanism, CauseTooManyConnects}},
	// kafka-python kafka/errors.py NoBrokersAvailable; with a failed SASL it
	// is all kafka-python says (Yelp/kafka-python PR #74 notes it).
	{"kafka-python no brokers", "kafka.errors.NoBrokersAvailable: NoBrokersAvailable", "dpkp/kafka-python kafka/errors.py; Yelp/kafka-python#74", CauseTCPTimeout, []string{CauseAuthDenied}},
	// kafka-python kafka/producer/kafka.py _wait_on_metadata.
	{"kafka-python metadata", "kafka.errors.KafkaTimeoutError: KafkaTimeoutError: Failed to update metadata after 60.0 secs.", "dpkp/kafka-python kafka/producer/kafka.py", CauseTCPTimeout, nil},
	// kafka-python kafka/conn.py: KafkaConnectionError('socket disconnected'), seen with MSK Serverless in dpkp/kafka-python PR #2255.
	{"kafka-python socket disconnected", "Closing connection. KafkaConnectionError: socket disconnected", "dpkp/kafka-python#2255", CauseConnectionReset, []string{CauseAuthDenied}},
	// aws/aws-msk-iam-auth issue #28: the Java client's SaslAuthenticationException.
	{"java too many connects", "org.apache.kafka.common.errors.SaslAuthenticationException: [2a1e5f3c-7f6b-4a55-9b1f-bb1c0e3e9d4a]: Too many connects", "aws/aws-msk-iam-auth#28", CauseTooManyConnects, nil},
	// Java client with MSK IAM: the broker's message (FACTS.md: "[<uuid>]: Access denied").
	{"java access denied", "org.apache.kafka.common.errors.SaslAuthenticationException: [4c2d1e0f-9a7b-4c3d-8e2f-1a0b9c8d7e6f]: Access denied", "Apache Kafka SaslAuthenticationException; MSK message", CauseAuthDenied, []string{CauseTokenRegion, CauseTokenExpired, CauseClockSkew}},
	// librdkafka rdkafka_sasl.c: "SASL authentication error: %s".
	{"librdkafka access denied", "%3|1700000000.123|FAIL|rdkafka#producer-1| [thrd:sasl_ssl://b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098/bootstrap]: SASL authentication error: [c1f2]: Access denied (after 312ms in state AUTH_REQ)", "confluentinc/librdkafka src/rdkafka_sasl.c", CauseAuthDenied, nil},
	// librdkafka rdkafka_broker.c ApiVersion failure hint (confluentinc/librdkafka#4995).
	{"librdkafka apiversion", "b-1.demo:9098/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 1ms in state APIVERSION_QUERY)", "confluentinc/librdkafka#4995", CauseTLSRequired, nil},
	// librdkafka rdkafka_ssl.c: extra = ": connecting to a PLAINTEXT broker listener?".
	// kcat (librdkafka 2.0.2) against the emulator's plaintext listener
	// with security.protocol=ssl, when it adds no guess (seen in CI).
	{"librdkafka ssl on plaintext, no hint", "%3|1795913045.325|FAIL|rdkafka#producer-1| [thrd:ssl://127.0.0.1:45075/bootstrap]: ssl://127.0.0.1:45075/bootstrap: Disconnected (after 0ms in state SSL_HANDSHAKE)\n% ERROR: Failed to acquire metadata: Local: Broker transport failure (Are the brokers reachable? Also try increasing the metadata timeout with -m <timeout>?)", "kcat output in this repository's CI", CauseTLSNotOffered, nil},
	{"librdkafka ssl on plaintext", "sasl_ssl://localhost:9092/bootstrap: SSL handshake failed: Disconnected: connecting to a PLAINTEXT broker listener? (after 27ms in state SSL_HANDSHAKE)", "confluentinc/librdkafka src/rdkafka_ssl.c", CauseTLSNotOffered, nil},
	// librdkafka rdkafka_ssl.c certificate verification failure.
	{"librdkafka untrusted", "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed", "confluentinc/librdkafka src/rdkafka_ssl.c", CauseTLSUntrusted, nil},
	// librdkafka connect failures (rdkafka_broker.c "Connect to %s failed: %s", "Connection setup timed out in state %s").
	{"librdkafka refused", "b-1.demo:9098/bootstrap: Connect to ipv4#10.0.1.5:9098 failed: Connection refused (after 0ms in state CONNECT)", "confluentinc/librdkafka src/rdkafka_broker.c", CauseTCPRefused, nil},
	{"librdkafka timeout", "b-1.demo:9098/bootstrap: Connection setup timed out in state CONNECT (after 30029ms in state CONNECT)", "confluentinc/librdkafka src/rdkafka_broker.c", CauseTCPTimeout, nil},
	{"librdkafka resolve", "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098/bootstrap: Failed to resolve 'b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098': Name or service not known (after 3ms in state CONNECT)", "confluentinc/librdkafka src/rdkafka_broker.c", CauseDNS, nil},
	{"librdkafka all down", "Local: All broker connections are down", "confluentinc/librdkafka RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN", CauseTCPTimeout, nil},
	{"librdkafka message timeout", "Delivery failed: Local: Message timed out", "confluentinc/librdkafka RD_KAFKA_RESP_ERR__MSG_TIMED_OUT", CauseBrokerTimeout, nil},
	// Java client NetworkClient and clients.
	{"java node unavailable", "[Producer clientId=producer-1] Connection to node -1 (b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com/10.0.1.5:9098) could not be established. Node may not be available.", "apache/kafka clients NetworkClient", CauseTCPTimeout, nil},
	{"java node assignment", "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. Call: listTopics", "apache/kafka clients KafkaAdminClient", CauseTCPTimeout, []string{CauseBrokerTimeout}},
	{"java pkix", "javax.net.ssl.SSLHandshakeException: PKIX path building failed: sun.security.provider.certpath.SunCertPathBuilderException: unable to find valid certification path to requested target", "JDK JSSE", CauseTLSUntrusted, nil},
	{"java mechanism", "org.apache.kafka.common.errors.UnsupportedSaslMechanismException: Client SASL mechanism 'AWS_MSK_IAM' not enabled in the server, enabled mechanisms are [SCRAM-SHA-512]", "apache/kafka SaslClientAuthenticator", CauseAuthMechanism, nil},
	{"java topic authz", "org.apache.kafka.common.errors.TopicAuthorizationException: Not authorized to access topics: [orders]", "apache/kafka TopicAuthorizationException", CauseAuthzTopic, nil},
	{"java cluster authz", "org.apache.kafka.common.errors.ClusterAuthorizationException: Cluster authorization failed.", "apache/kafka ClusterAuthorizationException", CauseAuthzIdempotent, nil},
	{"java group authz", "org.apache.kafka.common.errors.GroupAuthorizationException: Not authorized to access group: my-group", "apache/kafka GroupAuthorizationException", CauseAuthzGroup, nil},
	{"aws-msk-iam-auth credentials", "software.amazon.msk.auth.iam.internals.IAMSaslClient$IAMSaslClientException: Failed to find AWS IAM Credentials", "aws/aws-msk-iam-auth IAMSaslClient", CauseCredentials, nil},
	// franz-go: kerr texts (pkg/kerr/kerr.go) wrapped by kgo errCodeMessage "%w: %s"; "unable to dial: %w" (kgo/broker.go).
	{"franz-go sasl", "SASL_AUTHENTICATION_FAILED: SASL Authentication failed.: [d1f0]: Access denied", "twmb/franz-go pkg/kerr, pkg/kgo/errors.go", CauseAuthDenied, nil},
	{"franz-go mechanism", "UNSUPPORTED_SASL_MECHANISM: The broker does not support the requested SASL mechanism.", "twmb/franz-go pkg/kerr", CauseAuthMechanism, nil},
	{"franz-go dial timeout", "unable to dial: dial tcp 10.0.1.5:9098: i/o timeout", "twmb/franz-go pkg/kgo/broker.go", CauseTCPTimeout, nil},
	{"franz-go topic", "TOPIC_AUTHORIZATION_FAILED: Not authorized to access topics: [Topic authorization failed.]", "twmb/franz-go pkg/kerr", CauseAuthzTopic, nil},
	{"franz-go idempotent", "CLUSTER_AUTHORIZATION_FAILED: Cluster authorization failed.", "twmb/franz-go pkg/kerr", CauseAuthzIdempotent, nil},
	// kgo.ErrRecordTimeout (pkg/kgo/errors.go), alone when no request error was seen.
	{"franz-go record timeout", "records have timed out before they were able to be produced", "twmb/franz-go pkg/kgo/errors.go", CauseBrokerTimeout, []string{CauseTCPTimeout}},
	{"franz-go x509", "tls: failed to verify certificate: x509: certificate signed by unknown authority", "Go crypto/tls", CauseTLSUntrusted, nil},
	{"go dns", "unable to dial: dial tcp: lookup b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com: no such host", "Go net", CauseDNS, nil},
	// IBM/sarama errors.go (v1.46.3): ErrOutOfBrokers and KError strings.
	{"sarama out of brokers", "kafka: client has run out of available brokers to talk to: 3 errors occurred:\n\t* unexpected EOF\n\t* unexpected EOF\n\t* unexpected EOF", "IBM/sarama errors.go; IBM/sarama#3037", CauseTCPTimeout, []string{CauseConnectionReset}},
	{"sarama sasl", "kafka server: SASL Authentication failed", "IBM/sarama errors.go", CauseAuthDenied, nil},
	{"sarama topic", "kafka server: The client is not authorized to access this topic", "IBM/sarama errors.go", CauseAuthzTopic, nil},
	{"sarama cluster", "kafka server: The client is not authorized to send this request type", "IBM/sarama errors.go", CauseAuthzIdempotent, nil},
	{"sarama mechanism", "kafka server: The broker does not support the requested SASL mechanism", "IBM/sarama errors.go", CauseAuthMechanism, nil},
	// segmentio/kafka-go protocol errors: "[%d] %s: %s" (Error.Error in error.go).
	{"segmentio sasl", "[58] SASL Authentication Failed: SASL Authentication failed", "segmentio/kafka-go error.go", CauseAuthDenied, nil},
	{"segmentio topic", "[29] Topic Authorization Failed: the client is not authorized to access the requested topic", "segmentio/kafka-go error.go", CauseAuthzTopic, nil},
	{"segmentio dial", "failed to dial: failed to open connection to b-1.demo:9098: dial tcp 10.0.1.5:9098: i/o timeout", "segmentio/kafka-go dialer.go", CauseTCPTimeout, nil},
	// Lambda event source mapping LastProcessingResult (AWS Lambda developer
	// guide, "Troubleshooting Kafka event source mapping errors").
	{"lambda connection", "PROBLEM: Connection error. Your VPC must be able to connect to Lambda and STS, as well as Secrets Manager if authentication is required. You can provide access by configuring PrivateLink or a NAT Gateway.", "AWS Lambda developer guide, with-kafka-troubleshoot", CauseTCPTimeout, nil},
	{"lambda authz", "PROBLEM: Cluster failed to authorize Lambda.", "AWS Lambda developer guide, with-kafka-troubleshoot", CauseAuthzGroup, []string{CauseAuthzTopic}},
	{"lambda sasl", "PROBLEM: SASL authentication failed.", "AWS Lambda developer guide, with-kafka-troubleshoot", CauseAuthDenied, nil},
}

func TestExplain(t *testing.T) {
	for _, tc := range explainCases {
		t.Run(tc.name, func(t *testing.T) {
			ex := Explain(tc.text)
			if len(ex) == 0 || len(ex[0].Causes) == 0 {
				t.Fatalf("%q (%s): no explanation", tc.text, tc.source)
			}
			if got := ex[0].Causes[0].Cause; got != tc.first {
				t.Errorf("%q: first cause %s, want %s (%+v)", tc.text, got, tc.first, ex[0])
			}
			all := map[string]bool{}
			for _, e := range ex {
				for _, c := range e.Causes {
					all[c.Cause] = true
					if c.Confirm == "" || c.Why == "" {
						t.Errorf("cause %s without why/confirm", c.Cause)
					}
					if _, ok := CauseInfo(c.Cause); !ok {
						t.Errorf("unknown cause %s", c.Cause)
					}
				}
			}
			for _, want := range tc.also {
				if !all[want] {
					t.Errorf("%q: %s not listed", tc.text, want)
				}
			}
		})
	}
	if ex := Explain("everything is fine"); ex != nil {
		t.Errorf("unknown text explained: %+v", ex)
	}
}

// TestExplainLiveFranzGo feeds Explain the errors franz-go itself returns
// against the emulator, so the franz-go texts above are not only copied.
func TestExplainLiveFranzGo(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	produce := func(cfg kafkaconn.Config) error {
		cfg.DeliveryTimeout = 1500 * time.Millisecond
		cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.DisableClientMetrics(), kgo.RetryTimeout(time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
	}
	cfg := iamConfig(c)
	cfg.Region = "us-west-2"
	err := produce(cfg)
	if err == nil {
		t.Fatal("wrong-region produce succeeded")
	}
	t.Logf("franz-go: %v", err)
	if ex := Explain(err.Error()); len(ex) == 0 || !hasCause(ex, CauseTokenRegion) {
		t.Errorf("franz-go's %q: %+v", err, ex)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg = iamConfig(c)
	cfg.Brokers = []string{addr}
	err = produce(cfg)
	if err == nil {
		t.Fatal("produce to a closed port succeeded")
	}
	t.Logf("franz-go: %v", err)
	if ex := Explain(err.Error()); len(ex) == 0 || ex[0].Causes[0].Cause != CauseTCPRefused {
		t.Errorf("franz-go's %q: %+v", err, ex)
	}
	_ = emulator.IAM
}

func hasCause(ex []Explanation, cause string) bool {
	for _, e := range ex {
		for _, c := range e.Causes {
			if c.Cause == cause {
				return true
			}
		}
	}
	return false
}

// TestExplainLiveKcat runs kcat (librdkafka) against the emulator in the
// failure modes the doctor diagnoses and feeds Explain exactly what kcat
// prints, so the librdkafka entries are checked against the real client.
func TestExplainLiveKcat(t *testing.T) {
	kcat := testutil.LookTool(t, "kcat", "apt-get install kcat")
	c := startCluster(t)
	ca := "ssl.ca.location=" + c.CAFile()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"TLS client, plaintext listener", []string{"-b", c.Bootstrap(emulator.Plaintext), "-X", "security.protocol=ssl", "-X", ca}, CauseTLSNotOffered},
		{"plaintext client, TLS listener", []string{"-b", c.Bootstrap(emulator.TLS)}, CauseTLSRequired},
		{"untrusted CA", []string{"-b", c.Bootstrap(emulator.TLS), "-X", "security.protocol=ssl"}, CauseTLSUntrusted},
		{"wrong SCRAM password", []string{"-b", c.Bootstrap(emulator.SCRAM), "-X", "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=" + emulator.DefaultSCRAMUser, "-X", "sasl.password=wrong", "-X", ca}, CauseAuthDenied},
		{"SCRAM on the IAM listener", []string{"-b", c.Bootstrap(emulator.IAM), "-X", "security.protocol=sasl_ssl", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=" + emulator.DefaultSCRAMUser, "-X", "sasl.password=" + emulator.DefaultSCRAMPassword, "-X", ca}, CauseAuthMechanism},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, kcat, append([]string{"-L", "-m", "2"}, tc.args...)...).CombinedOutput()
			if err == nil {
				t.Fatalf("kcat succeeded:\n%s", out)
			}
			ex := Explain(string(out))
			if len(ex) == 0 || ex[0].Causes[0].Cause != tc.want {
				t.Errorf("kcat printed:\n%s\nexplained as %+v, want %s first", out, ex, tc.want)
			}
		})
	}
}

// kafkaPythonScript connects kafka-python (2.0.x: SaslHandshake v0, raw
// SASL bytes) to the emulator's IAM listener with the OAUTHBEARER token in
// $TOKEN and prints what it logs and raises.
const kafkaPythonScript = `
import logging, os, ssl, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout)
from kafka import KafkaProducer
from kafka.oauth.abstract import AbstractTokenProvider
class P(AbstractTokenProvider):
    def token(self):
        return os.environ["TOKEN"]
ctx = ssl.create_default_context(cafile=os.environ["CA"])
try:
    KafkaProducer(bootstrap_servers=os.environ["BOOTSTRAP"], security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                  sasl_oauth_token_provider=P(), ssl_context=ctx, request_timeout_ms=2000, max_block_ms=2000)
    print("connected")
except Exception as e:
    print("%s: %s" % (type(e).__name__, e))
`

// TestExplainLiveKafkaPython reproduces the symptom users bring: kafka-python
// with a token for the wrong region sees only "Connection reset during
// recv"; Explain lists the region among the causes, and the doctor with the
// same settings names it.
func TestExplainLiveKafkaPython(t *testing.T) {
	py := ""
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(p, "-c", "import kafka").Run(); err == nil {
			py = p
			break
		}
	}
	if py == "" {
		testutil.MissingTool(t, "kafka-python", "apt-get install python3-kafka")
	}
	c := startCluster(t)
	tok, err := iamauth.NewToken(aws.Credentials{AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: emulator.DefaultSecretAccessKey}, "us-west-2", time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "-c", kafkaPythonScript)
	cmd.Env = append(os.Environ(), "TOKEN="+string(tok), "CA="+c.CAFile(), "BOOTSTRAP="+c.Listener(0, emulator.IAM).Addr())
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "Connection reset during recv") {
		t.Fatalf("kafka-python did not print the symptom:\n%s", out)
	}
	ex := Explain(string(out))
	if len(ex) == 0 || ex[0].Causes[0].Cause != CauseAuthDenied || !hasCause(ex, CauseTokenRegion) {
		t.Errorf("explained as %+v", ex)
	}
	cfg := iamConfig(c)
	cfg.Region = "us-west-2"
	diagnose(t, cfg, CauseTokenRegion, testTimeout)
}
