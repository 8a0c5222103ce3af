package proxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// rawRequest sends req on a new plaintext connection to addr and returns
// the answer, or the error that ended the connection.
func rawRequest(t *testing.T, addr string, req kmsg.Request) (kmsg.Response, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
	if _, err := nc.Write(f.AppendRequest(nil, req, 7)); err != nil {
		return nil, err
	}
	body, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame)
	if err != nil {
		return nil, err
	}
	return kafkawire.DecodeResponse(kafkawire.Header{Key: req.Key(), Version: req.GetVersion(), Corr: 7, Flexible: req.IsFlexible()}, body)
}

func apiVersions(v int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(v)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
	return req
}

// waitLog waits until the log holds every fragment.
func waitLog(t *testing.T, logs *testutil.SyncBuffer, fragments ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		all := true
		for _, f := range fragments {
			if !strings.Contains(logs.String(), f) {
				all = false
			}
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log lacks %q:\n%s", fragments, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestUpstreamRefusesIdentity: when MSK refuses the proxy's identity (here
// a wrong secret key), Start still serves; a client's ApiVersions is
// answered SASL_AUTHENTICATION_FAILED, kcat prints it, and the proxy logs
// the failure with the doctor's cause code.
func TestUpstreamRefusesIdentity(t *testing.T) {
	c, _ := startCluster(t)
	cfg := iamConfig(c)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, "not-the-secret", "")
	p, logs := startProxy(t, cfg)
	waitLog(t, logs, `stage=discover cause=auth_denied`)

	for _, v := range []int16{0, 3} {
		r, err := rawRequest(t, p.Addr(), apiVersions(v))
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.SaslAuthenticationFailed.Code {
			t.Errorf("ApiVersions v%d answered %v, want SASL_AUTHENTICATION_FAILED", v, kerr.ErrorForCode(code))
		}
	}
	waitLog(t, logs, `stage=connect cause=auth_denied`, `reason="upstream connect failed (cause auth_denied): answered ApiVersions with SASL_AUTHENTICATION_FAILED`)

	kcat := testutil.NeedTool(t, "/usr/bin/kcat", "apt-get install kcat")
	out, err := testutil.Run(t, "", kcat, "-b", p.Addr(), "-L", "-m", "3")
	if err == nil || !strings.Contains(out, "SASL Authentication failed") {
		t.Errorf("kcat did not report the refusal (err %v):\n%s", err, out)
	}
}

// TestUpstreamUnreachable: with every broker down, a client's ApiVersions
// is answered BROKER_NOT_AVAILABLE (retriable) and the log says
// tcp_refused; once the brokers are back, the same proxy serves again.
func TestUpstreamUnreachable(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c))
	for i := range int32(3) {
		c.Broker(i).Down()
	}
	for _, addr := range []string{p.Addr(), p.Brokers()[1].Local} {
		r, err := rawRequest(t, addr, apiVersions(3))
		if err != nil {
			t.Fatalf("ApiVersions to %s: %v", addr, err)
		}
		if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.BrokerNotAvailable.Code {
			t.Errorf("ApiVersions to %s answered %v, want BROKER_NOT_AVAILABLE", addr, kerr.ErrorForCode(code))
		}
	}
	waitLog(t, logs, `stage=connect cause=tcp_refused`)
	for i := range int32(3) {
		if err := c.Broker(i).Up(); err != nil {
			t.Fatal(err)
		}
	}
	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("back")}).FirstErr(); err != nil {
		t.Fatalf("produce after the brokers came back: %v", err)
	}
}

// TestSASLClientToldWhy: a SCRAM client of the proxy learns in its
// SaslAuthenticate answer why the proxy could not reach MSK (cause in the
// message), not from a dropped connection.
func TestSASLClientToldWhy(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c), WithClientAuth(ClientAuthSCRAM), WithSCRAMUsers(SCRAMUser{"alice", "alice-secret"}))
	for i := range int32(3) {
		c.Broker(i).Down()
	}
	cl := plainClient(t, p, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), "cause tcp_refused") {
		t.Fatalf("Metadata: %v, want SASL_AUTHENTICATION_FAILED naming cause tcp_refused", err)
	}
}

// TestBadUpstreamSettings: settings that cannot work fail Start with
// kafkaconn's error, naming the field.
func TestBadUpstreamSettings(t *testing.T) {
	_, err := Start(context.Background(), kafkaconn.Config{Brokers: []string{"b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9096"}}, WithListen("127.0.0.1:0"))
	var ce *kafkaconn.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "port 9096 is MSK's scram port") {
		t.Fatalf("Start: %v, want kafkaconn's port/auth error", err)
	}
}

// TestUpstreamConnectReset: an upstream that resets connections (SetLinger
// 0 and Close: a TCP RST) is logged as connection_reset, whether the reset
// arrives during the TCP connect ("connect: connection reset by peer") or
// the TLS handshake after it, never as tcp_timeout.
func TestUpstreamConnectReset(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	p, logs := startProxy(t, kafkaconn.Config{Brokers: []string{ln.Addr().String()}, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")})
	// About one connect in six on loopback sees the reset during the
	// connect itself; the rest during the TLS handshake.
	for i := 0; i < 300 && !strings.Contains(logs.String(), "connect: connection reset by peer"); i++ {
		r, err := rawRequest(t, p.Addr(), apiVersions(3))
		if err != nil {
			t.Fatalf("ApiVersions: %v", err)
		}
		if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.BrokerNotAvailable.Code {
			t.Fatalf("ApiVersions answered %v, want BROKER_NOT_AVAILABLE", kerr.ErrorForCode(code))
		}
	}
	waitLog(t, logs, "connect: connection reset by peer")
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `msg="upstream failed"`) && !strings.Contains(line, "cause=connection_reset") {
			t.Errorf("an upstream reset logged with another cause: %s", line)
		}
	}
}

// TestRefusalRemembered: while MSK's refusal of the proxy's identity is
// remembered, client connections are answered from it: N clients cost MSK
// no more denied logins than the discovery at Start made (one per seed at
// most), where each used to try every seed broker.
func TestRefusalRemembered(t *testing.T) {
	c, _ := startCluster(t)
	cfg := iamConfig(c)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, "not-the-secret", "")
	p, logs := startProxy(t, cfg, WithRefusalMemory(time.Minute)) // longer than the test: no timing in the count
	const n = 30
	for i := range n {
		r, err := rawRequest(t, p.Addr(), apiVersions(3))
		if err != nil {
			t.Fatalf("client %d: ApiVersions: %v", i, err)
		}
		if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("client %d: ApiVersions answered %v, want SASL_AUTHENTICATION_FAILED", i, kerr.ErrorForCode(code))
		}
	}
	waitLog(t, logs, `stage=connect cause=auth_denied`)
	seeds := len(cfg.Brokers)
	got := len(c.AuthFailures())
	t.Logf("%d denied logins for %d client connections", got, n)
	if got == 0 || got > seeds {
		t.Errorf("the emulator recorded %d denied logins for %d client connections, want 1 to %d (the discovery's)", got, n, seeds)
	}
}

// swapCredentials is a credentials provider whose keys the test changes:
// a role fixed while the proxy runs. Its credentials expire a minute and a
// few seconds on (the token provider renews them a minute early), so the
// proxy signs with the new keys within seconds.
type swapCredentials struct{ secret atomic.Pointer[string] }

func (s *swapCredentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: *s.secret.Load(),
		CanExpire: true, Expires: time.Now().Add(time.Minute + 3*time.Second)}, nil
}

// TestRefusalForgotten: a remembered refusal is forgotten after the
// window, so once the identity is fixed the same proxy serves again.
func TestRefusalForgotten(t *testing.T) {
	c, _ := startCluster(t)
	cfg := iamConfig(c)
	var creds swapCredentials
	bad := "not-the-secret"
	creds.secret.Store(&bad)
	cfg.Credentials = &creds
	p, _ := startProxy(t, cfg, WithRefusalMemory(500*time.Millisecond))
	r, err := rawRequest(t, p.Addr(), apiVersions(3))
	if err != nil {
		t.Fatal(err)
	}
	if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("ApiVersions answered %v, want SASL_AUTHENTICATION_FAILED", kerr.ErrorForCode(code))
	}
	good := emulator.DefaultSecretAccessKey
	creds.secret.Store(&good)
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := rawRequest(t, p.Addr(), apiVersions(3))
		if err != nil {
			t.Fatal(err)
		}
		if r.(*kmsg.ApiVersionsResponse).ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused 30 s after the identity was fixed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("fixed")}).FirstErr(); err != nil {
		t.Fatalf("produce once the identity was fixed: %v", err)
	}
}
