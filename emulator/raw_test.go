package emulator

import (
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/internal/kafkawire"
)

// rawConn is a hand-driven Kafka client connection.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, c *Cluster, kind ListenerKind, broker int32) *rawConn {
	t.Helper()
	addr := c.Listener(broker, kind).Addr()
	var nc net.Conn
	var err error
	d := &net.Dialer{Timeout: 3 * time.Second}
	if kind.tls() {
		nc, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig(c))
	} else {
		nc, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, c: nc}
}

func (r *rawConn) send(req kmsg.Request) error {
	r.corr++
	b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, r.corr)
	_, err := r.c.Write(b)
	return err
}

func (r *rawConn) recv(req kmsg.Request) (kmsg.Response, error) {
	body, err := kafkawire.ReadFrame(r.c, kafkawire.MaxFrame)
	if err != nil {
		return nil, err
	}
	h := kafkawire.Header{Key: req.Key(), Version: req.GetVersion(), Flexible: req.IsFlexible()}
	if got := int32(binary.BigEndian.Uint32(body)); got != r.corr {
		r.t.Fatalf("correlation id %d, want %d", got, r.corr)
	}
	return kafkawire.DecodeResponse(h, body)
}

func (r *rawConn) do(req kmsg.Request) (kmsg.Response, error) {
	if err := r.send(req); err != nil {
		return nil, err
	}
	return r.recv(req)
}

// closed reports whether the server closed the connection (within 3s).
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := r.c.Read(make([]byte, 1))
	return err != nil && !errors.Is(err, errTimeout(err))
}

func errTimeout(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return errors.New("not a timeout")
}

func oauthMsg(t *testing.T, c *Cluster, ak, sk string, at time.Time) []byte {
	t.Helper()
	tok, err := iamauth.NewToken(aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, c.Region(), at, "raw")
	if err != nil {
		t.Fatal(err)
	}
	return []byte("n,,\x01auth=Bearer " + string(tok) + "\x01\x01")
}

func (r *rawConn) auth(mech string, msg []byte) *kmsg.SASLAuthenticateResponse {
	r.t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech
	resp, err := r.do(hs)
	if err != nil {
		r.t.Fatal(err)
	}
	if hr := resp.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		r.t.Fatalf("handshake: %v (supported %v)", kerr.ErrorForCode(hr.ErrorCode), hr.SupportedMechanisms)
	}
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.Version, a.SASLAuthBytes = 2, msg
	resp, err = r.do(a)
	if err != nil {
		r.t.Fatal(err)
	}
	return resp.(*kmsg.SASLAuthenticateResponse)
}

func TestApiVersionsV0AndCaps(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	for _, v := range []int16{0, 3} {
		r := dialRaw(t, c, IAM, 0)
		req := kmsg.NewPtrApiVersionsRequest()
		req.Version = v
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		resp, err := r.do(req)
		if err != nil {
			t.Fatal(err)
		}
		got := map[int16][2]int16{}
		for _, k := range resp.(*kmsg.ApiVersionsResponse).ApiKeys {
			got[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		if got[17] != [2]int16{0, 1} || got[36] != [2]int16{0, 2} {
			t.Errorf("v%d: SaslHandshake %v SaslAuthenticate %v", v, got[17], got[36])
		}
		if got[0][1] > 9 || got[1][1] > 15 {
			t.Errorf("v%d: Produce max %d, Fetch max %d: not capped", v, got[0][1], got[1][1])
		}
	}
}

func TestSASLHandshakeV0Raw(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	hs := func(r *rawConn) {
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 0, "OAUTHBEARER"
		resp, err := r.do(req)
		if err != nil {
			t.Fatal(err)
		}
		hr := resp.(*kmsg.SASLHandshakeResponse)
		if hr.ErrorCode != 0 || len(hr.SupportedMechanisms) != 2 {
			t.Fatalf("handshake v0: %+v", hr)
		}
	}
	// Success: raw frame in, empty raw frame out, then Kafka requests work.
	r := dialRaw(t, c, IAM, 1)
	hs(r)
	r.c.Write(kafkawire.AppendFrame(nil, oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())))
	b, err := kafkawire.ReadFrame(r.c, 1024)
	if err != nil || len(b) != 0 {
		t.Fatalf("raw answer %q, %v", b, err)
	}
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata after raw auth: %v", err)
	}
	// Failure: the socket is closed without an answer (kafka-python 2.0.2:
	// "Connection reset during recv").
	r = dialRaw(t, c, IAM, 1)
	hs(r)
	r.c.Write(kafkawire.AppendFrame(nil, oauthMsg(t, c, DefaultAccessKeyID, "wrong", time.Now())))
	if _, err := kafkawire.ReadFrame(r.c, 1024); err == nil {
		t.Fatal("got an answer to a bad raw token")
	}
}

func TestSASLRules(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	t.Run("request before auth closes", func(t *testing.T) {
		r := dialRaw(t, c, IAM, 0)
		if _, err := r.do(kmsg.NewPtrMetadataRequest()); err == nil {
			t.Fatal("metadata answered before authentication")
		}
	})
	t.Run("unsupported mechanism", func(t *testing.T) {
		r := dialRaw(t, c, IAM, 0)
		req := kmsg.NewPtrSASLHandshakeRequest()
		req.Version, req.Mechanism = 1, "PLAIN"
		resp, err := r.do(req)
		if err != nil {
			t.Fatal(err)
		}
		hr := resp.(*kmsg.SASLHandshakeResponse)
		if hr.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(hr.SupportedMechanisms, ",") != "AWS_MSK_IAM,OAUTHBEARER" {
			t.Fatalf("%+v", hr)
		}
		if !r.closed() {
			t.Error("connection stays open")
		}
	})
	t.Run("auth failure message", func(t *testing.T) {
		r := dialRaw(t, c, IAM, 0)
		ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, "wrong", time.Now()))
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || ar.ErrorMessage == nil ||
			!strings.HasPrefix(*ar.ErrorMessage, "[") || !strings.HasSuffix(*ar.ErrorMessage, "]: Access denied") {
			t.Fatalf("%+v", ar)
		}
		if !r.closed() {
			t.Error("connection stays open after a failure")
		}
	})
	t.Run("scram wrong password", func(t *testing.T) {
		r := dialRaw(t, c, SCRAM, 0)
		ar := r.auth("SCRAM-SHA-512", []byte("n,,n=nobody,r=abc"))
		if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("%+v", ar)
		}
		// Apache Kafka's SCRAM message, not MSK IAM's "Access denied".
		const kafkaMsg = "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512"
		if ar.ErrorMessage == nil || *ar.ErrorMessage != kafkaMsg {
			t.Errorf("message %v, want %q", ar.ErrorMessage, kafkaMsg)
		}
	})
}

// randomFrame is a 60-byte frame of random bytes with an unknown API key.
func randomFrame() []byte {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	binary.BigEndian.PutUint32(b, 60)
	b[4] = 0x40
	return b
}

type fakeClock struct{ ns atomic.Int64 }

func (f *fakeClock) Now() time.Time       { return time.Unix(0, f.ns.Load()) }
func (f *fakeClock) Add(d time.Duration)  { f.ns.Add(int64(d)) }
func newFakeClock(t time.Time) *fakeClock { f := &fakeClock{}; f.ns.Store(t.UnixNano()); return f }

func TestSessionLifetime(t *testing.T) {
	t.Parallel()
	start := time.Now()
	clk := newFakeClock(start)
	c, lb := startCluster(t, WithClock(clk.Now), WithSessionMaxLifetime(time.Hour),
		WithIdentity(Identity{Name: "temp", ARN: "arn:aws:sts::000000000000:assumed-role/r/s1",
			AccessKeyID: "ASIATEMP000000000000", SecretAccessKey: "secret-2", Expires: start.Add(10 * time.Minute),
			Policies: []json.RawMessage{json.RawMessage(AllowAllPolicy)}}))

	r := dialRaw(t, c, IAM, 0)
	ar := r.auth("OAUTHBEARER", oauthMsg(t, c, "ASIATEMP000000000000", "secret-2", start))
	if ar.ErrorCode != 0 {
		t.Fatalf("auth: %v", *ar.ErrorMessage)
	}
	if d := time.Duration(ar.SessionLifetimeMillis) * time.Millisecond; d < 9*time.Minute || d > 10*time.Minute {
		t.Fatalf("session lifetime %v, want the credentials' 10m", d)
	}
	// Re-authentication as another principal is rejected.
	ar = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, start))
	if ar.ErrorCode != kerr.SaslAuthenticationFailed.Code || !strings.Contains(*ar.ErrorMessage, "Cannot change principals during re-authentication") {
		t.Fatalf("re-auth as another principal: %+v", ar)
	}

	// Default identity, max lifetime 1h: after it, requests close the
	// connection; re-authentication keeps it.
	r = dialRaw(t, c, IAM, 0)
	ar = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, start))
	if ar.ErrorCode != 0 || ar.SessionLifetimeMillis != time.Hour.Milliseconds() {
		t.Fatalf("auth: %+v", ar)
	}
	clk.Add(time.Hour - time.Minute)
	ar = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, clk.Now()))
	if ar.ErrorCode != 0 {
		t.Fatalf("re-auth: %+v", ar)
	}
	clk.Add(2 * time.Minute)
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err != nil {
		t.Fatalf("metadata after re-auth: %v", err)
	}
	clk.Add(time.Hour)
	if _, err := r.do(kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("metadata answered after the session expired")
	}
	if !strings.Contains(lb.String(), "session expired") {
		t.Error("no session expired log line")
	}

	// After expiry even ApiVersions closes the connection (Kafka accepts
	// only a re-authentication then); a re-authentication still works.
	for _, reauth := range []bool{false, true} {
		r = dialRaw(t, c, IAM, 0)
		if ar = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, clk.Now())); ar.ErrorCode != 0 {
			t.Fatalf("auth: %+v", ar)
		}
		clk.Add(2 * time.Hour)
		if reauth {
			if ar = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, clk.Now())); ar.ErrorCode != 0 {
				t.Fatalf("re-auth after expiry: %+v", ar)
			}
			continue
		}
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Error("ApiVersions answered after the session expired")
		}
	}
}

func TestGarbageClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	for _, kind := range []ListenerKind{Plaintext, TLS, SCRAM, IAM} {
		// A half frame held open must not block others.
		half := dialRaw(t, c, kind, 0)
		half.c.Write([]byte{0, 0, 1, 0, 0, 18})
		for i, garbage := range [][]byte{
			{0xff, 0xff, 0xff, 0xff},       // negative size
			{0x7f, 0, 0, 0, 1, 2, 3},       // huge size, truncated
			{0, 0, 0, 4, 0x7f, 0x7f, 0, 0}, // unknown key
			randomFrame(),
		} {
			r := dialRaw(t, c, kind, 0)
			r.c.Write(garbage)
			if kind == Plaintext || i != 1 {
				if !r.closed() {
					t.Errorf("%s: garbage %d: connection stays open", kind, i)
				}
			}
		}
		r := dialRaw(t, c, kind, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Errorf("%s: a good client is blocked: %v", kind, err)
		}
	}
}

const manyConns = 500

func TestManyConnections(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	const n = manyConns
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	msgs := make([][]byte, 0, n)
	for range n {
		msgs = append(msgs, oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now()))
	}
	conns := make([]net.Conn, n)
	// Every connection stays open to the end; only the handshakes in
	// progress are bounded, so that 500 TLS handshakes at once on a
	// loaded 2-core machine (with -race) do not run into the dial
	// timeout. What is tested is 500 connections open together.
	dialing := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dialing <- struct{}{}
			d := &net.Dialer{Timeout: 30 * time.Second}
			nc, err := tls.DialWithDialer(d, "tcp", c.Listener(int32(i%3), IAM).Addr(), tlsConfig(c))
			<-dialing
			if err != nil {
				errs <- err
				return
			}
			conns[i] = nc
			nc.SetDeadline(time.Now().Add(20 * time.Second))
			f := kmsg.NewRequestFormatter()
			hs := kmsg.NewPtrSASLHandshakeRequest()
			hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
			a := kmsg.NewPtrSASLAuthenticateRequest()
			a.Version, a.SASLAuthBytes = 1, msgs[i]
			md := kmsg.NewPtrMetadataRequest()
			md.Version = 9
			var b []byte
			// Pipelined; AppendRequest sizes from the start of dst.
			b = append(b, f.AppendRequest(nil, hs, 1)...)
			b = append(b, f.AppendRequest(nil, a, 2)...)
			b = append(b, f.AppendRequest(nil, md, 3)...)
			if _, err := nc.Write(b); err != nil {
				errs <- err
				return
			}
			for range 3 {
				if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d authenticated connections, each with a pipelined Metadata, in %v", n, time.Since(start))
	for _, nc := range conns {
		if nc != nil {
			nc.Close()
		}
	}
}

func TestApiVersionsTooNew(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	r := dialRaw(t, c, IAM, 0)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = req.MaxVersion()
	b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw")).AppendRequest(nil, req, 7)
	binary.BigEndian.PutUint16(b[6:], uint16(req.MaxVersion()+1)) // a version from the future
	r.c.Write(b)
	body, err := kafkawire.ReadFrame(r.c, kafkawire.MaxFrame)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := kafkawire.DecodeResponse(kafkawire.Header{Key: 18}, body)
	if err != nil {
		t.Fatal(err)
	}
	ar := resp.(*kmsg.ApiVersionsResponse)
	if ar.ErrorCode != kerr.UnsupportedVersion.Code || len(ar.ApiKeys) != 1 || ar.ApiKeys[0].MaxVersion != req.MaxVersion() {
		t.Fatalf("%+v", ar)
	}
}

func TestMSKIAMAnswer(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t)
	host, _, _ := net.SplitHostPort(c.Listener(1, IAM).Addr())
	creds := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	payload, err := iamauth.NewPayload(creds, c.Region(), host, time.Now(), "raw")
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, c, IAM, 1)
	ar := r.auth("AWS_MSK_IAM", payload)
	if ar.ErrorCode != 0 {
		t.Fatalf("%+v", ar)
	}
	var ans struct {
		Version   string `json:"version"`
		RequestID string `json:"request-id"`
	}
	if err := json.Unmarshal(ar.SASLAuthBytes, &ans); err != nil || ans.Version != "2020_10_22" || len(ans.RequestID) != 36 {
		t.Fatalf("answer %q: %v", ar.SASLAuthBytes, err)
	}
	// Signed for another host: rejected.
	payload, _ = iamauth.NewPayload(creds, c.Region(), "b-9.other.example", time.Now(), "raw")
	r = dialRaw(t, c, IAM, 1)
	if ar := r.auth("AWS_MSK_IAM", payload); ar.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("%+v", ar)
	}
	if !strings.Contains(lb.String(), `"mechanism":"AWS_MSK_IAM","decision":"deny"`) {
		t.Error("no deny audit line")
	}
	// Re-authentication must keep the mechanism (Kafka, KIP-368).
	r = dialRaw(t, c, IAM, 1)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("%+v", ar)
	}
	payload, _ = iamauth.NewPayload(creds, c.Region(), host, time.Now(), "raw")
	if ar := r.auth("AWS_MSK_IAM", payload); ar.ErrorCode != kerr.SaslAuthenticationFailed.Code ||
		!strings.Contains(*ar.ErrorMessage, "not supported for re-authentication of mechanism 'OAUTHBEARER'") {
		t.Errorf("re-auth with another mechanism: %+v", ar)
	}
}

// Response hooks that filter by policy (Metadata of every topic,
// ListGroups) run in the write loop while the read loop may be
// re-authenticating the same connection: run with -race.
func TestReauthDuringFilteredResponses(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t)
	r := dialRaw(t, c, IAM, 0)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	defer func() {
		if t.Failed() {
			t.Log(lb.String())
		}
	}()
	for range 20 {
		md := kmsg.NewPtrMetadataRequest() // null topics: every topic, filtered
		md.Version = 12
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, "OAUTHBEARER"
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 2, oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())
		// Pipelined: the re-authentication is read while the Metadata
		// answer is being filtered.
		b := kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))
		var buf []byte
		for i, req := range []kmsg.Request{md, hs, au} {
			buf = append(buf, b.AppendRequest(nil, req, r.corr+int32(i)+1)...)
		}
		if _, err := r.c.Write(buf); err != nil {
			t.Fatal(err)
		}
		for _, req := range []kmsg.Request{md, hs, au} {
			r.corr++
			if _, err := r.recv(req); err != nil {
				t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
			}
		}
	}
}
