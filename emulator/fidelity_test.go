package emulator

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/internal/kafkawire"
)

// MSK's SaslAuthenticate error messages, as MSK sends them: the request id
// in brackets, then one short text and nothing else. The texts are those
// users report from MSK (aws/aws-msk-iam-auth#28 and #45 "Too many
// connects", #176 "Session too short", aws/aws-sdk-net#4020 "Invalid
// authentication payload", dpkp/kafka-python#2638 "Access denied").
var mskMessage = regexp.MustCompile(`^\[([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})\]: (.*)$`)

// Apache Kafka's SCRAM failure message (SaslServerAuthenticator), what
// MSK's SCRAM listener sends.
const kafkaSCRAMMessage = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"

// authCase is one rejected authentication on a raw connection.
type authCase struct {
	name string
	kind ListenerKind
	mech string
	msg  func(t *testing.T, c *Cluster) []byte
	want string // MSK's text after "[<id>]: ", or Kafka's whole message on SCRAM
	// reason is a word of the emulator's reason, which the log line, the
	// admin endpoint and verbose messages carry.
	reason string
}

// The clusters of the cases run on a clock frozen at authNow, so that
// tokens and expiries are exact whatever the machine's load.
var authNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func authCases() []authCase {
	oauthAt := func(ak, sk, region string, at time.Time) func(*testing.T, *Cluster) []byte {
		return func(t *testing.T, c *Cluster) []byte {
			t.Helper()
			tok, err := iamauth.NewToken(aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, region, at, "raw")
			if err != nil {
				t.Fatal(err)
			}
			return []byte("n,,\x01auth=Bearer " + string(tok) + "\x01\x01")
		}
	}
	raw := func(b string) func(*testing.T, *Cluster) []byte {
		return func(*testing.T, *Cluster) []byte { return []byte(b) }
	}
	return []authCase{
		{"wrong region", IAM, mechOAuth, oauthAt(DefaultAccessKeyID, DefaultSecretAccessKey, "eu-west-1", authNow), mskAccessDenied, "region"},
		{"wrong secret", IAM, mechOAuth, oauthAt(DefaultAccessKeyID, "wrong", "us-east-1", authNow), mskAccessDenied, "signature"},
		{"unknown access key", IAM, mechOAuth, oauthAt("AKIAUNKNOWNKEY000000", "x", "us-east-1", authNow), mskAccessDenied, "not known"},
		{"expired token", IAM, mechOAuth, oauthAt(DefaultAccessKeyID, DefaultSecretAccessKey, "us-east-1", authNow.Add(-20*time.Minute)), mskAccessDenied, "expired"},
		{"token from the future", IAM, mechOAuth, oauthAt(DefaultAccessKeyID, DefaultSecretAccessKey, "us-east-1", authNow.Add(time.Hour)), mskAccessDenied, "ahead"},
		{"no Connect permission", IAM, mechOAuth, oauthAt("AKIANOCONNECT0000000", "secret-2", "us-east-1", authNow), mskAccessDenied, "kafka-cluster:Connect"},
		{"expired credentials", IAM, mechOAuth, oauthAt("ASIAEXPIRED000000000", "secret-3", "us-east-1", authNow), mskAccessDenied, "expired"},
		{"credentials expiring at once", IAM, mechOAuth, oauthAt("ASIAEXPIRING00000000", "secret-4", "us-east-1", authNow), mskSessionTooShort, "expire"},
		{"not an OAUTHBEARER message", IAM, mechOAuth, raw("n,,\x01auth=Basic dXNlcg==\x01\x01"), mskInvalidPayload, "Bearer"},
		{"token not base64", IAM, mechOAuth, raw("n,,\x01auth=Bearer ***\x01\x01"), mskInvalidPayload, "malformed"},
		{"AWS_MSK_IAM payload not JSON", IAM, mechMSKIAM, raw("{not json"), mskInvalidPayload, "malformed"},
		{"SCRAM unknown user", SCRAM, mechSCRAM512, raw("n,,n=nobody,r=abc"), kafkaSCRAMMessage, "nobody"},
	}
}

func startAuthCluster(t *testing.T, opts ...Opt) (*Cluster, *logBuf) {
	t.Helper()
	noConnect := Identity{Name: "noconnect", ARN: "arn:aws:iam::000000000000:user/noconnect",
		AccessKeyID: "AKIANOCONNECT0000000", SecretAccessKey: "secret-2",
		Policies: []json.RawMessage{json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kafka-cluster:Connect","Resource":"*"}]}`)}}
	expired := Identity{Name: "expired", ARN: "arn:aws:sts::000000000000:assumed-role/r/expired",
		AccessKeyID: "ASIAEXPIRED000000000", SecretAccessKey: "secret-3", Expires: authNow.Add(-time.Minute),
		Policies: []json.RawMessage{json.RawMessage(AllowAllPolicy)}}
	expiring := Identity{Name: "expiring", ARN: "arn:aws:sts::000000000000:assumed-role/r/expiring",
		AccessKeyID: "ASIAEXPIRING00000000", SecretAccessKey: "secret-4", Expires: authNow.Add(minSessionLifetime / 2),
		Policies: []json.RawMessage{json.RawMessage(AllowAllPolicy)}}
	return startCluster(t, append([]Opt{WithClock(func() time.Time { return authNow }),
		WithIdentity(noConnect), WithIdentity(expired), WithIdentity(expiring)}, opts...)...)
}

// TestMSKAuthMessages compares every default SaslAuthenticate failure with
// MSK's own text, exactly, and checks that the reason is in the log line
// and the admin endpoint under the same request id, and nowhere the
// client sees it.
func TestMSKAuthMessages(t *testing.T) {
	t.Parallel()
	c, lb := startAuthCluster(t)
	admin := httptest.NewServer(c.AdminHandler())
	defer admin.Close()
	for _, tc := range authCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, c, tc.kind, 0)
			ar := r.auth(tc.mech, tc.msg(t, c))
			if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil {
				t.Fatalf("got %+v, want SASL_AUTHENTICATION_FAILED", ar)
			}
			msg := *ar.ErrorMessage
			id := ""
			if tc.kind == SCRAM {
				if msg != tc.want {
					t.Fatalf("message %q, want Kafka's %q exactly", msg, tc.want)
				}
			} else {
				m := mskMessage.FindStringSubmatch(msg)
				if m == nil || m[2] != tc.want {
					t.Fatalf("message %q, want MSK's \"[<uuid>]: %s\" exactly", msg, tc.want)
				}
				id = m[1]
			}
			if !r.closed() {
				t.Error("the connection stays open after a failed authentication")
			}
			f := findFailure(t, c.AuthFailures(), msg)
			if !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("recorded reason %q lacks %q", f.Reason, tc.reason)
			}
			if id != "" && f.RequestID != id {
				t.Errorf("recorded request id %s, the client was told %s", f.RequestID, id)
			}
			line := logLine(t, lb.String(), f.RequestID)
			if !strings.Contains(line, tc.reason) || !strings.Contains(line, `"decision":"deny"`) {
				t.Errorf("log line of request %s lacks the reason %q: %s", f.RequestID, tc.reason, line)
			}
			resp, err := http.Get(admin.URL + "/v1/auth-failures")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var got struct{ Failures []AuthFailure }
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("admin answer %s: %v", body, err)
			}
			if af := findFailure(t, got.Failures, msg); af.Reason != f.Reason {
				t.Errorf("admin endpoint reason %q, want %q", af.Reason, f.Reason)
			}
		})
	}
	assertNoSecrets(t, lb.String())
}

// TestVerboseAuthErrors: with VerboseAuthErrors the same failures carry the
// reason after MSK's text.
func TestVerboseAuthErrors(t *testing.T) {
	t.Parallel()
	c, _ := startAuthCluster(t, WithVerboseAuthErrors())
	for _, tc := range authCases() {
		t.Run(tc.name, func(t *testing.T) {
			ar := dialRaw(t, c, tc.kind, 0).auth(tc.mech, tc.msg(t, c))
			if ar.ErrorMessage == nil {
				t.Fatalf("%+v", ar)
			}
			msg := *ar.ErrorMessage
			prefix := tc.want + ": "
			if tc.kind != SCRAM {
				m := mskMessage.FindStringSubmatch(msg)
				if m == nil {
					t.Fatalf("message %q does not start with [<uuid>]: ", msg)
				}
				msg = m[2]
			}
			if !strings.HasPrefix(msg, prefix) || !strings.Contains(msg[len(prefix):], tc.reason) {
				t.Errorf("message %q, want %q and the reason (%q)", msg, prefix, tc.reason)
			}
		})
	}
}

// TestMSKTooManyConnects: over the new-connection rate, MSK answers
// "[<id>]: Too many connects".
func TestMSKTooManyConnects(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t, WithLimits(Limits{NewConnectionsPerSecond: 1}))
	for i := range 20 { // at most two of them can be the first of their second
		r := dialRaw(t, c, IAM, 0)
		ar := r.auth(mechOAuth, oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now()))
		if ar.ErrorCode == 0 {
			continue
		}
		if m := mskMessage.FindStringSubmatch(*ar.ErrorMessage); m == nil || m[2] != mskTooManyConnects {
			t.Fatalf("message %q, want \"[<uuid>]: %s\" exactly", *ar.ErrorMessage, mskTooManyConnects)
		}
		t.Logf("connection %d refused", i+1)
		return
	}
	t.Fatal("20 connections, none refused at 1 per second")
}

// TestMSKHandshakeV0Failure: after a v0 SaslHandshake, a failure closes the
// connection without an answer (the SASL bytes have no Kafka framing to
// carry one), as MSK does; the reason is still recorded.
func TestMSKHandshakeV0Failure(t *testing.T) {
	t.Parallel()
	c, _ := startAuthCluster(t)
	r := dialRaw(t, c, IAM, 0)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 0, mechOAuth
	if _, err := r.do(hs); err != nil {
		t.Fatal(err)
	}
	msg := authCases()[0].msg(t, c) // a token for the wrong region
	if _, err := r.c.Write(kafkawire.AppendFrame(nil, msg)); err != nil {
		t.Fatal(err)
	}
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := r.c.Read(make([]byte, 64)); err == nil {
		t.Fatalf("got %d bytes after a failed raw SASL exchange, want the connection closed", n)
	}
	fs := c.AuthFailures()
	if len(fs) == 0 || !strings.Contains(fs[len(fs)-1].Reason, "region") {
		t.Fatalf("failure not recorded: %+v", fs)
	}
}

func findFailure(t *testing.T, fs []AuthFailure, clientMessage string) AuthFailure {
	t.Helper()
	for _, f := range fs {
		if f.ClientMessage == clientMessage {
			return f
		}
	}
	t.Fatalf("no recorded failure with client message %q in %+v", clientMessage, fs)
	return AuthFailure{}
}

// logLine returns the emulator's "authn" log line of request id.
func logLine(t *testing.T, logs, id string) string {
	t.Helper()
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"request_id":"`+id+`"`) {
			return l
		}
	}
	t.Fatalf("no log line with request_id %s", id)
	return ""
}

// TestKafkaClusterID: Metadata and DescribeCluster carry a Kafka-style
// cluster id (16 bytes, unpadded URL-safe base64), the same in both and on
// every run of the same cluster ARN, and the certificate is MSK's wildcard.
func TestKafkaClusterID(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	r := dialRaw(t, c, Plaintext, 1)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	resp, err := r.do(md)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.(*kmsg.MetadataResponse).ClusterID
	if id == nil || !regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`).MatchString(*id) {
		t.Fatalf("Metadata cluster id %v, want 22 base64url characters", id)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version = 0
	resp, err = r.do(dc)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.(*kmsg.DescribeClusterResponse).ClusterID; got != *id {
		t.Errorf("DescribeCluster cluster id %q, Metadata %q", got, *id)
	}
	if want := c.kafkaID; *id != want || want != (&Config{Region: c.Region(), AccountID: "000000000000", ClusterName: "local", ClusterUUID: c.cfg.ClusterUUID}).kafkaClusterID() {
		t.Errorf("cluster id %q, want %q", *id, want)
	}
	if d := c.BrokerDomain(); !regexp.MustCompile(`^local\.[a-z0-9]{6}\.c3\.kafka\.us-east-1\.amazonaws\.com$`).MatchString(d) {
		t.Errorf("broker domain %q", d)
	}
	tc := dialRaw(t, c, TLS, 0).c.(*tls.Conn)
	if cn := tc.ConnectionState().PeerCertificates[0].Subject.CommonName; cn != "*."+c.BrokerDomain() {
		t.Errorf("certificate common name %q, want *.%s", cn, c.BrokerDomain())
	}
}
