package proxy

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
)

// rawConn is one plaintext client connection to the proxy that sends
// requests one at a time.
type rawConn struct {
	t    *testing.T
	nc   net.Conn
	f    *kmsg.RequestFormatter
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raw"))}
}

// do sends req and returns its answer, or the error that ended the
// connection.
func (r *rawConn) do(req kmsg.Request) (kmsg.Response, error) {
	r.corr++
	r.nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := r.nc.Write(r.f.AppendRequest(nil, req, r.corr)); err != nil {
		return nil, err
	}
	body, err := kafkawire.ReadFrame(r.nc, kafkawire.MaxFrame)
	if err != nil {
		return nil, err
	}
	return kafkawire.DecodeResponse(kafkawire.Header{Key: req.Key(), Version: req.GetVersion(), Corr: r.corr, Flexible: req.IsFlexible()}, body)
}

func metadata() *kmsg.MetadataRequest {
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(4)
	return md
}

// TestUpstreamChecks: the emulator closes idle connections after 1s (as
// MSK or a NAT does while a Lambda environment is frozen). Without checks
// the client connection ends with its upstream one; with them, the client
// keeps its connection, and its next request is answered over a new
// upstream connection, or after an ApiVersions check of the old one.
func TestUpstreamChecks(t *testing.T) {
	c, _ := startCluster(t, emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(time.Second)}))
	for _, tc := range []struct {
		name   string
		opts   []Opt
		wait   time.Duration
		want   bool   // the second request is answered
		logged string // in the proxy's log
	}{
		{"no checks", nil, 2 * time.Second, false, "cause=connection_reset"},
		{"closed while idle", []Opt{WithUpstreamChecks(500*time.Millisecond, 5*time.Second)}, 2 * time.Second, true, "upstream closed while idle: the next request reconnects"},
		{"checked and alive", []Opt{WithUpstreamChecks(300*time.Millisecond, 5*time.Second)}, 500 * time.Millisecond, true, "upstream checked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := startProxy(t, iamConfig(c), tc.opts...)
			r := dialRaw(t, p.Addr())
			if _, err := r.do(apiVersions(3)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(tc.wait)
			_, err := r.do(metadata())
			if tc.want && err != nil {
				t.Fatalf("second request after %s: %v", tc.wait, err)
			}
			if !tc.want && err == nil {
				t.Fatalf("second request answered after the upstream's idle close")
			}
			waitLog(t, logs, tc.logged)
		})
	}
}

// TestUpstreamCheckFails: an upstream connection that leads nowhere (the
// emulator drops its requests, as a connection into a NAT's void after a
// thaw) fails its check within the check timeout, and the request goes to
// a new connection (to another bootstrap broker: this one is kept dark).
func TestUpstreamCheckFails(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithUpstreamChecks(200*time.Millisecond, 500*time.Millisecond))
	r := dialRaw(t, p.Addr())
	if _, err := r.do(apiVersions(3)); err != nil {
		t.Fatal(err)
	}
	dark := -1
	for i := range int32(3) {
		if c.Listener(i, emulator.IAM).Conns() > 0 {
			dark = int(i)
			c.Listener(i, emulator.IAM).SetFaults(emulator.Faults{Blackhole: true})
		}
	}
	if dark < 0 {
		t.Fatal("no emulated broker has the upstream connection")
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := r.do(metadata()); err != nil {
		t.Fatalf("request after the failed check: %v", err)
	}
	waitLog(t, logs, "upstream reconnected", "its check failed (cause broker_timeout)")
}

// TestUpstreamDiesUnderRequest: with checks on, a request already
// forwarded when its upstream connection dies (here the emulator resets
// it on reading the request) closes the client connection at once, so
// that the client retries, and the log names the cause; the proxy does
// not resend a request MSK may have processed.
func TestUpstreamDiesUnderRequest(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithUpstreamChecks(time.Minute, time.Second))
	r := dialRaw(t, p.Brokers()[1].Local)
	if _, err := r.do(apiVersions(3)); err != nil {
		t.Fatal(err)
	}
	c.Listener(0, emulator.IAM).SetFaults(emulator.Faults{ResetAfterRequests: 1})
	if _, err := r.do(metadata()); err == nil {
		t.Fatal("the request was answered though its upstream connection was reset under it")
	}
	waitLog(t, logs, "stage=read cause=connection_reset", `reason="upstream 127.0.0.1`)
}

// TestShutdownAnswersInFlight: Shutdown stops accepting, lets the request
// already forwarded be answered (the emulator takes 500 ms), delivers the
// answer, then closes the client connection; it returns within its
// context.
func TestShutdownAnswersInFlight(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c))
	addr := p.Brokers()[1].Local
	r := dialRaw(t, addr)
	if _, err := r.do(apiVersions(3)); err != nil {
		t.Fatal(err)
	}
	c.Listener(0, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 500 * time.Millisecond})
	answered := make(chan error, 1)
	go func() { _, err := r.do(metadata()); answered <- err }()
	time.Sleep(100 * time.Millisecond) // the request is on its way
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-answered; err != nil {
		t.Fatalf("the request in flight at Shutdown: %v", err)
	}
	if _, err := r.do(metadata()); err == nil {
		t.Error("the connection still serves after Shutdown")
	}
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		nc.Close()
		t.Error("the listener still accepts after Shutdown")
	}
}

// TestCheckIdle: after the emulator's idle close, CheckIdle makes the
// client connection replace its upstream connection at once, with no
// request of the client's; without checks it does nothing.
func TestCheckIdle(t *testing.T) {
	c, _ := startCluster(t, emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(time.Second)}))
	p, logs := startProxy(t, iamConfig(c), WithUpstreamChecks(500*time.Millisecond, 5*time.Second))
	r := dialRaw(t, p.Brokers()[1].Local)
	if _, err := r.do(apiVersions(3)); err != nil {
		t.Fatal(err)
	}
	waitLog(t, logs, "upstream closed while idle")
	p.CheckIdle()
	waitLog(t, logs, "upstream reconnected")
	if _, err := r.do(metadata()); err != nil {
		t.Fatalf("request after CheckIdle: %v", err)
	}
}
