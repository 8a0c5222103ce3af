package proxy

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/internal/testutil"
)

// pki is a CA, a server certificate for 127.0.0.1 and a client
// certificate (CN=alice), in memory and as PEM files in dir.
type pki struct {
	dir                                       string
	pool                                      *x509.CertPool
	server, client                            tls.Certificate
	caFile, serverCert, serverKey, clientCert string
	clientKey                                 string
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "proxy test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (tls.Certificate, string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: ips, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
			p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p.server, p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.client, p.clientCert, p.clientKey = leaf("alice", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func (p *pki) write(t *testing.T, name, kind string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// roundTrip produces one record and reads the topic's metadata with cl.
func roundTrip(ctx context.Context, cl *kgo.Client) error {
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	_, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	return err
}

// TestClientAuthSCRAM: with client authentication scram, franz-go, kcat
// and kafka-python (SaslHandshake v0 and raw SASL bytes) authenticate with
// SCRAM and round-trip; a wrong password gets Kafka's SCRAM failure, and a
// client without SASL is closed at its first request after ApiVersions.
func TestClientAuthSCRAM(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithClientAuth(ClientAuthSCRAM), WithSCRAMUsers(SCRAMUser{"alice", "alice-secret"}))
	for _, tc := range []struct {
		name string
		mech sasl.Mechanism
		want string // "" ok, else a fragment of the error
	}{
		{"SCRAM-SHA-512", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism(), ""},
		{"SCRAM-SHA-256", scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism(), ""},
		{"wrong password", scram.Auth{User: "alice", Pass: "nope"}.AsSha512Mechanism(), "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"},
		{"PLAIN", plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism(), "UNSUPPORTED_SASL_MECHANISM"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cl := plainClient(t, p, kgo.SASL(tc.mech))
			if tc.want == "" {
				if err := roundTrip(ctx, cl); err != nil {
					t.Fatal(err)
				}
				return
			}
			// Metadata, not produce: a producer retries until its deadline.
			if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Metadata: %v, want %q", err, tc.want)
			}
		})
	}
	waitLog(t, logs, `reason="SCRAM: SCRAM authentication failed: wrong password for user \"alice\""`)

	// No SASL: ApiVersions is answered, the next request closes.
	r, err := rawRequest(t, p.Addr(), apiVersions(3))
	if err != nil || r.(*kmsg.ApiVersionsResponse).ErrorCode != 0 || len(r.(*kmsg.ApiVersionsResponse).ApiKeys) == 0 {
		t.Fatalf("ApiVersions before authentication: %+v, %v", r, err)
	}
	if _, err := rawRequest(t, p.Addr(), kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("Metadata before authentication was answered")
	}
	waitLog(t, logs, `reason="Metadata before SASL authentication (client auth scram): closed, as Kafka does"`)

	t.Run("kcat", func(t *testing.T) {
		testutil.KcatRoundTrip(t, p.Addr(), "orders", "kcat-scram", "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=alice", "-X", "sasl.password=alice-secret")
	})
	t.Run("kafka-python", func(t *testing.T) {
		r := kafkaPython(t, "--bootstrap", p.Addr(), "--protocol", "SASL_PLAINTEXT", "--mechanism", "SCRAM-SHA-512",
			"--user", "alice", "--password", "alice-secret", "--topic", "orders")
		if !r.OK || len(r.Consumed) != 3 {
			t.Fatalf("kafka-python SCRAM round trip failed: %s\n%s", r.Error, r.Log)
		}
	})
	noSecrets(t, logs.String(), "alice-secret", emulator.DefaultSecretAccessKey)
}

// noSecrets fails t if the log holds any of the secrets.
func noSecrets(t *testing.T, log string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(log, s) {
			t.Errorf("the log holds the secret %q", s)
		}
	}
}

// TestClientAuthTLS: with mutual TLS, a client with a certificate of the
// client CA round-trips (franz-go, kcat); one without is refused in the
// handshake.
func TestClientAuthTLS(t *testing.T) {
	pk := newPKI(t)
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithClientAuth(ClientAuthTLS),
		WithListenTLS(&tls.Config{Certificates: []tls.Certificate{pk.server}}), WithClientCAs(pk.pool))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	withCert := plainClient(t, p, kgo.DialTLSConfig(&tls.Config{RootCAs: pk.pool, Certificates: []tls.Certificate{pk.client}}))
	if err := roundTrip(ctx, withCert); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	waitLog(t, logs, `principal="CN=alice"`)

	tc, err := tls.Dial("tcp", p.Addr(), &tls.Config{RootCAs: pk.pool})
	if err == nil {
		tc.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = tc.Read(make([]byte, 1)) // TLS 1.3 reports the refusal on the first read
		tc.Close()
	}
	if err == nil {
		t.Fatal("a client without a certificate got through")
	}
	waitLog(t, logs, `reason="TLS handshake: tls: client didn't provide a certificate"`)

	t.Run("kcat", func(t *testing.T) {
		testutil.KcatRoundTrip(t, p.Addr(), "orders", "kcat-mtls", "-X", "security.protocol=SSL", "-X", "ssl.ca.location="+pk.caFile,
			"-X", "ssl.certificate.location="+pk.clientCert, "-X", "ssl.key.location="+pk.clientKey)
	})
}

// TestClientSASLAnswered: with no client authentication, clients set up
// for SASL work unchanged: the proxy answers PLAIN, OAUTHBEARER and
// AWS_MSK_IAM (with MSK's JSON answer) itself, and nothing of the client's
// SASL reaches MSK.
func TestClientSASLAnswered(t *testing.T) {
	c, clusterLog := startCluster(t)
	p, logs := startProxy(t, iamConfig(c))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Credentials the emulator does not know: they never reach it.
	foreign, err := iamauth.New(ctx, iamauth.WithRegion("eu-west-1"),
		iamauth.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIAFOREIGNFOREIGN00", "foreign", "")))
	if err != nil {
		t.Fatal(err)
	}
	for _, mech := range []sasl.Mechanism{
		plain.Auth{User: "someone", Pass: "anything"}.AsMechanism(),
		oauth.Auth{Token: "not-checked"}.AsMechanism(),
		foreign.MSKIAM(),
	} {
		t.Run(mech.Name(), func(t *testing.T) {
			if err := roundTrip(ctx, plainClient(t, p, kgo.SASL(mech))); err != nil {
				t.Fatal(err)
			}
		})
	}
	if logs := clusterLog.String(); strings.Contains(logs, "AKIAFOREIGN") || strings.Contains(logs, "decision=deny") {
		t.Errorf("a client's SASL reached the emulator:\n%s", logs)
	}
	t.Run("kcat PLAIN", func(t *testing.T) {
		testutil.KcatRoundTrip(t, p.Addr(), "orders", "kcat-plain", "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=someone", "-X", "sasl.password=anything")
	})
	waitLog(t, logs, `msg="client authenticated"`, `mechanism=PLAIN user=someone checked=false`)
	noSecrets(t, logs.String(), "anything", "not-checked", emulator.DefaultSecretAccessKey)
}

// TestProtocolMismatch: TLS to the plaintext listener and plaintext to a
// TLS listener are both closed with a log line that says what to set.
func TestProtocolMismatch(t *testing.T) {
	pk := newPKI(t)
	c, _ := startCluster(t)
	plainP, plainLogs := startProxy(t, iamConfig(c))
	tlsP, tlsLogs := startProxy(t, iamConfig(c), WithListenTLS(&tls.Config{Certificates: []tls.Certificate{pk.server}}))

	tc, err := tls.Dial("tcp", plainP.Addr(), &tls.Config{RootCAs: pk.pool})
	if err == nil {
		tc.Close()
		t.Fatal("a TLS handshake with the plaintext listener succeeded")
	}
	waitLog(t, plainLogs, "the client speaks TLS to this plaintext listener (cause tls_not_offered): use security.protocol PLAINTEXT")

	if _, err := rawRequest(t, tlsP.Addr(), apiVersions(3)); err == nil {
		t.Fatal("a plaintext request to the TLS listener was answered")
	}
	waitLog(t, tlsLogs, "the client speaks plaintext to this TLS listener (cause tls_required): use security.protocol SSL")

	// With TLS and no client authentication, TLS clients work.
	cl := plainClient(t, tlsP, kgo.DialTLSConfig(&tls.Config{RootCAs: pk.pool}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := roundTrip(ctx, cl); err != nil {
		t.Fatal(err)
	}
}

// TestSCRAMNothingUpstreamBeforeAuth: with client authentication scram,
// clients that have not authenticated cause no upstream connection of
// their own, even while the proxy has not learned MSK's API versions yet
// (its discovery at Start failed): their ApiVersions requests are answered
// by the proxy, which learns the versions once for all of them; while MSK
// cannot be reached they are told so, as other clients are.
func TestSCRAMNothingUpstreamBeforeAuth(t *testing.T) {
	c, clusterLog := startCluster(t)
	for i := range int32(3) {
		c.Broker(i).Down()
	}
	p, logs := startProxy(t, iamConfig(c), WithClientAuth(ClientAuthSCRAM), WithSCRAMUsers(SCRAMUser{"alice", "alice-secret"}))
	waitLog(t, logs, "stage=discover cause=tcp_refused")
	for range 3 {
		r, err := rawRequest(t, p.Addr(), apiVersions(3))
		if err != nil {
			t.Fatalf("ApiVersions while MSK is down: %v", err)
		}
		if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.BrokerNotAvailable.Code {
			t.Errorf("ApiVersions while MSK is down: %v, want BROKER_NOT_AVAILABLE", kerr.ErrorForCode(code))
		}
	}
	for i := range int32(3) {
		if err := c.Broker(i).Up(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(relearnEvery) // the last failed attempt is not repeated sooner
	before := strings.Count(clusterLog.String(), "reason=authenticated")
	for range 5 {
		r, err := rawRequest(t, p.Addr(), apiVersions(3))
		if err != nil {
			t.Fatalf("ApiVersions before authentication: %v", err)
		}
		if av := r.(*kmsg.ApiVersionsResponse); av.ErrorCode != 0 || len(av.ApiKeys) == 0 {
			t.Fatalf("ApiVersions before authentication: %v, %d keys", kerr.ErrorForCode(av.ErrorCode), len(av.ApiKeys))
		}
	}
	if n := strings.Count(clusterLog.String(), "reason=authenticated") - before; n > 1 {
		t.Errorf("5 unauthenticated clients caused %d upstream authentications, want at most the proxy's one discovery", n)
	}
	if strings.Contains(logs.String(), "stage=connect") {
		t.Errorf("an unauthenticated client made the proxy connect upstream:\n%s", logs.String())
	}
	// Authenticated clients work as before.
	cl := plainClient(t, p, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := roundTrip(ctx, cl); err != nil {
		t.Fatal(err)
	}
}

// scramFirst sends SaslHandshake v1 for mech and a client-first message
// for user on nc, and returns the server-first message.
func scramFirst(t *testing.T, nc net.Conn, mech, user string, corr int32) string {
	t.Helper()
	f := kmsg.NewRequestFormatter()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = mech
	au := kmsg.NewPtrSASLAuthenticateRequest()
	au.SetVersion(1)
	au.SASLAuthBytes = []byte("n,,n=" + user + ",r=clientnonce")
	if _, err := nc.Write(append(f.AppendRequest(nil, hs, corr), f.AppendRequest(nil, au, corr+1)...)); err != nil {
		t.Fatal(err)
	}
	if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
		t.Fatalf("SaslHandshake: %v", err)
	}
	body, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame)
	if err != nil {
		t.Fatalf("SaslAuthenticate: %v", err)
	}
	r, err := kafkawire.DecodeResponse(kafkawire.Header{Key: 36, Version: 1, Corr: corr + 1}, body)
	if err != nil {
		t.Fatal(err)
	}
	ar := r.(*kmsg.SASLAuthenticateResponse)
	if ar.ErrorCode != 0 {
		t.Fatalf("client-first for %s: %v", user, kerr.ErrorForCode(ar.ErrorCode))
	}
	return string(ar.SASLAuthBytes)
}

// TestSCRAMStoredCredentials: the proxy salts each SCRAM user's password
// once, as Kafka stores SCRAM credentials, not for every client-first
// message: PBKDF2's 4096 iterations cost milliseconds, and a client that
// has not authenticated could restart the exchange on one connection
// without end to keep the proxy's CPUs busy. A user's salt is the same
// in every exchange, for each mechanism.
func TestSCRAMStoredCredentials(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c), WithClientAuth(ClientAuthSCRAM), WithSCRAMUsers(SCRAMUser{"alice", "alice-secret"}))
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	salt := func(serverFirst string) string {
		for _, kv := range strings.Split(serverFirst, ",") {
			if strings.HasPrefix(kv, "s=") {
				return kv
			}
		}
		t.Fatalf("server-first %q has no salt", serverFirst)
		return ""
	}
	for _, mech := range []string{"SCRAM-SHA-512", "SCRAM-SHA-256"} {
		first := salt(scramFirst(t, nc, mech, "alice", 10))
		for i := range int32(3) {
			if again := salt(scramFirst(t, nc, mech, "alice", 20+2*i)); again != first {
				t.Fatalf("%s: salt %s, then %s: the password is salted anew for every exchange", mech, first, again)
			}
		}
	}
	// And the stored credentials authenticate.
	cl := plainClient(t, p, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := roundTrip(ctx, cl); err != nil {
		t.Fatal(err)
	}
}
