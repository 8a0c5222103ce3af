package emulator

import (
	"context"
	"crypto/tls"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	l := c.Listener(0, Plaintext)

	t.Run("latency", func(t *testing.T) {
		l.SetFaults(Faults{RequestLatency: 100 * time.Millisecond, ResponseLatency: 100 * time.Millisecond})
		defer l.SetFaults(Faults{})
		r := dialRaw(t, c, Plaintext, 0)
		start := time.Now()
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Errorf("round trip %v, want >= 200ms", d)
		}
	})
	t.Run("reset now", func(t *testing.T) {
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		if n := l.ResetConnections(); n < 1 {
			t.Errorf("reset %d connections", n)
		}
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Fatal("answered after reset")
		}
	})
	t.Run("reset after requests", func(t *testing.T) {
		l.SetFaults(Faults{ResetAfterRequests: 2})
		defer l.SetFaults(Faults{})
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Fatal("second request answered")
		}
	})
	t.Run("reset probability 1", func(t *testing.T) {
		l.SetFaults(Faults{ResetProbability: 1})
		defer l.SetFaults(Faults{})
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Fatal("answered")
		}
	})
	t.Run("blackhole", func(t *testing.T) {
		l.SetFaults(Faults{Blackhole: true})
		defer l.SetFaults(Faults{})
		r := dialRaw(t, c, Plaintext, 0)
		r.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := r.do(kmsg.NewPtrApiVersionsRequest())
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("got %v, want a timeout", err)
		}
	})
	t.Run("stop start", func(t *testing.T) {
		l.Stop()
		if nc, err := net.DialTimeout("tcp", l.Addr(), time.Second); err == nil {
			nc.Close()
			t.Fatal("dial succeeded while stopped")
		}
		if err := l.Start(); err != nil {
			t.Fatal(err)
		}
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("broker down up", func(t *testing.T) {
		b := c.Broker(1)
		r := dialRaw(t, c, TLS, 1)
		b.Down()
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err == nil {
			t.Fatal("answered while down")
		}
		if nc, err := net.DialTimeout("tcp", b.Listener(IAM).Addr(), time.Second); err == nil {
			nc.Close()
			t.Fatal("dial succeeded while down")
		}
		if err := b.Up(); err != nil {
			t.Fatal(err)
		}
		r = dialRaw(t, c, TLS, 1)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("kfake leader move", func(t *testing.T) {
		if err := c.Kfake().MoveTopicPartition("t", 0, 2); err != nil {
			t.Fatal(err)
		}
		r := dialRaw(t, c, Plaintext, 0)
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 7
		resp, err := r.do(md)
		if err != nil {
			t.Fatal(err)
		}
		for _, tp := range resp.(*kmsg.MetadataResponse).Topics {
			for _, p := range tp.Partitions {
				if p.Partition == 0 && p.Leader != 2 {
					t.Errorf("leader %d, want 2", p.Leader)
				}
			}
		}
	})
}

func TestLimits(t *testing.T) {
	t.Parallel()
	t.Run("max connections", func(t *testing.T) {
		c, lb := startCluster(t, WithLimits(Limits{MaxConnections: 1}))
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		r2 := dialRaw(t, c, Plaintext, 0)
		if !r2.closed() {
			t.Error("second connection stays open")
		}
		if !strings.Contains(lb.String(), "too many connections") {
			t.Error("not logged")
		}
	})
	t.Run("too many connects", func(t *testing.T) {
		c, _ := startCluster(t, WithLimits(Limits{NewConnectionsPerSecond: 1}))
		var last *kmsg.SASLAuthenticateResponse
		for range 3 { // at most 2 can fall in the same second boundary... the third is over in any second
			r := dialRaw(t, c, IAM, 0)
			last = r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now()))
			if last.ErrorCode != 0 {
				break
			}
		}
		if last.ErrorCode != kerr.SaslAuthenticationFailed.Code || !strings.Contains(*last.ErrorMessage, "Too many connects") {
			t.Fatalf("%+v", last)
		}
	})
	t.Run("rate follows wall time, not WithClock", func(t *testing.T) {
		frozen := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		c, _ := startCluster(t, WithLimits(Limits{NewConnectionsPerSecond: 1}), WithClock(func() time.Time { return frozen }))
		for i := range 2 {
			if i > 0 { // the next wall-clock second
				next := time.Now().Truncate(time.Second).Add(time.Second)
				time.Sleep(time.Until(next) + 10*time.Millisecond)
			}
			r := dialRaw(t, c, Plaintext, 0)
			if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
				t.Fatalf("connection %d in its own second: %v", i+1, err)
			}
		}
	})
	t.Run("idle timeout", func(t *testing.T) {
		c, _ := startCluster(t, WithLimits(Limits{IdleTimeout: Duration(100 * time.Millisecond)}))
		r := dialRaw(t, c, Plaintext, 0)
		if !r.closed() {
			t.Error("idle connection stays open")
		}
	})
}

func TestFaultsAtStart(t *testing.T) {
	t.Parallel()
	cfg, err := ParseConfig([]byte(`{"faults": [{"request_latency": "5ms"}, {"broker": 1, "listener": "tls", "blackhole": true}]}`))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := startCluster(t, WithConfig(cfg), Ephemeral(), WithFaults(2, Faults{ResetAfterRequests: 3}, IAM))
	if f := c.Listener(1, TLS).Faults(); !f.Blackhole {
		t.Errorf("broker 1 tls: %+v", f)
	}
	if f := c.Listener(0, Plaintext).Faults(); f.RequestLatency != 5*time.Millisecond || f.Blackhole {
		t.Errorf("broker 0 plaintext: %+v", f)
	}
	if f := c.Listener(2, IAM).Faults(); f.ResetAfterRequests != 3 {
		t.Errorf("broker 2 iam: %+v", f)
	}
}

func TestBlackholeTLSHandshake(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t, WithFaults(0, Faults{Blackhole: true}, IAM))
	d := &net.Dialer{Timeout: time.Second}
	nc, err := d.Dial("tcp", c.Listener(0, IAM).Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tc := tls.Client(nc, tlsConfig(c))
	tc.SetDeadline(time.Now().Add(200 * time.Millisecond))
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS handshake answered by a blackholed listener")
	}
	c.Listener(0, IAM).ResetConnections() // frees the blackholed connection
}

// Close returns once every connection goroutine has ended, the write loops
// too: none may log or touch a connection after Close.
//
// Not parallel: it looks at every goroutine of the test binary.
func TestCloseWaitsForConnections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Start(ctx, Ephemeral(), WithListeners(Plaintext), WithFaults(-1, Faults{ResponseLatency: time.Millisecond}))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		r := dialRaw(t, c, Plaintext, 0)
		if _, err := r.do(kmsg.NewPtrApiVersionsRequest()); err != nil {
			t.Fatal(err)
		}
		r.send(kmsg.NewPtrMetadataRequest()) // answered after Close began, or never
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// A write loop signals serve (and so Close) from its deferred close of
	// wdone, after its last write or log: on a loaded machine it may still
	// be returning when Close does. It must not be anywhere else: blocked
	// on its queue, a latency sleep or a write.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, g := range strings.Split(stacks, "\n\n") {
		if !strings.Contains(g, "emulator.(*conn).writeLoop") {
			continue
		}
		lines := strings.SplitN(g, "\n", 3)
		returning := len(lines) > 1 && (strings.Contains(lines[0], "[runnable]") || strings.Contains(lines[0], "[running]")) &&
			strings.Contains(lines[1], "emulator.(*conn).writeLoop(")
		if !returning {
			t.Fatalf("a write loop is still at work after Close:\n%s", g)
		}
	}
}
