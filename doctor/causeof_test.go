package doctor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// TestCauseOf classifies errors made by real operations on loopback where
// it can (dials, TLS handshakes) and the error values a SASL exchange
// produces.
func TestCauseOf(t *testing.T) {
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	// serve accepts one connection and answers with answer, then closes.
	serve := func(answer []byte) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.ReadFull(c, make([]byte, 5))
			c.Write(answer)
			c.Close()
		}()
		return ln.Addr().String()
	}
	tlsDial := func(addr string, cfg *tls.Config) error {
		d := tls.Dialer{Config: cfg}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
		}
		return err
	}
	_, dialErr := net.DialTimeout("tcp", closedPort(), time.Second)
	_, dnsErr := net.DefaultResolver.LookupHost(context.Background(), "b-1.nosuch.invalid")
	plainErr := tlsDial(serve([]byte("\x00\x00\x00\x10not a tls answer")), &tls.Config{ServerName: "x"})
	tlsAddr := startCluster(t, emulator.WithListeners(emulator.TLS)).BootstrapAddrs(emulator.TLS)[0]
	untrustedErr := tlsDial(tlsAddr, &tls.Config{ServerName: "127.0.0.1"}) // the emulator's CA is not in the system pool
	c, err := net.Dial("tcp", serve(nil))
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("hello"))
	_, resetErr := io.ReadFull(c, make([]byte, 4))
	c.Close()
	c, err = net.Dial("tcp", tlsAddr) // a TLS listener waits for a ClientHello
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_, timeoutErr := c.Read(make([]byte, 1))
	c.Close()
	dialResetErr := dialReset(t, resettingListener(t))
	_, cfgErr := kafkaconn.Config{Brokers: []string{"b-1.demo.abc.c3.kafka.us-east-1.amazonaws.com:9096"}}.Validate()

	for _, tc := range []struct {
		name    string
		err     error
		want    string
		refused bool // kafkaconn.Refused: the same error types, classified for callers that stop at a refusal
	}{
		{"nil", nil, CauseOK, false},
		{"config", fmt.Errorf("proxy: %w", cfgErr), CauseConfig, false},
		{"credentials", &iamauth.CredentialsError{Source: "the default credential chain", Err: iamauth.ErrNoCredentials}, CauseCredentials, true},
		{"dns", dnsErr, CauseDNS, false},
		{"refused", dialErr, CauseTCPRefused, false},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, CauseTCPTimeout, false},
		{"tls to plaintext", plainErr, CauseTLSNotOffered, true},
		{"tls untrusted", untrustedErr, CauseTLSUntrusted, true},
		{"sasl denied", fmt.Errorf("upstream: %w: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]: Access denied", kerr.SaslAuthenticationFailed), CauseAuthDenied, true},
		{"too many connects", fmt.Errorf("b-1:9098 rejected the proxy's OAUTHBEARER authentication: %w: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]: Too many connects", kerr.SaslAuthenticationFailed), CauseTooManyConnects, true},
		{"session too short", fmt.Errorf("%w: [6ba7b810-9dad-11d1-80b4-00c04fd430c8]: Session too short", kerr.SaslAuthenticationFailed), CauseTokenExpired, true},
		{"mechanism", fmt.Errorf("%w: the listener offers [SCRAM-SHA-512]", kerr.UnsupportedSaslMechanism), CauseAuthMechanism, true},
		{"reset", resetErr, CauseConnectionReset, false},
		{"reset during connect", dialResetErr, CauseConnectionReset, false},
		{"request timeout", timeoutErr, CauseBrokerTimeout, false},
		{"other", errors.New("something else"), CauseConnectionReset, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "nil" && tc.err == nil {
				t.Fatal("the operation did not fail")
			}
			if got := CauseOf(tc.err); got != tc.want {
				t.Errorf("CauseOf(%v) = %s, want %s", tc.err, got, tc.want)
			}
			if got := kafkaconn.Refused(tc.err); got != tc.refused {
				t.Errorf("kafkaconn.Refused(%v) = %v, want %v (cause %s)", tc.err, got, tc.refused, tc.want)
			}
		})
	}
}

// resettingListener accepts connections and resets each at once (SetLinger
// 0, then Close: a TCP RST), as a broker or load balancer that drops
// connections does.
func resettingListener(t testing.TB) string {
	t.Helper()
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
	return ln.Addr().String()
}

// dialReset dials addr (a resettingListener) until the reset arrives
// before the connect returns: the dial itself fails with "connect:
// connection reset by peer" (a *net.OpError with Op "dial"). On Linux
// loopback about one dial in six does; the loop is bounded.
func dialReset(t testing.TB, addr string) error {
	t.Helper()
	for range 5000 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			c.Close()
			continue
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNRESET) {
			return err
		}
		t.Fatalf("dial %s: %v, want a reset or a connection", addr, err)
	}
	t.Fatalf("5000 dials of %s: none was reset during the connect", addr)
	return nil
}
