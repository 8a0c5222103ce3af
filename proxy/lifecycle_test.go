package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// stallingBroker is a TLS "broker" that reads the first request of each
// connection (the proxy's SaslHandshake), reports it on the returned
// channel and never answers. Its first connection, the proxy's discovery
// at Start, is closed at once so that Start does not wait.
func stallingBroker(t *testing.T, pk *pki) (string, <-chan struct{}) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pk.server}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				nc.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
					return
				}
				got <- struct{}{}
				io.Copy(io.Discard, nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), got
}

// TestConnectStuckInSASL: an upstream connect that hangs in the SASL
// exchange (a broker that accepted TLS and stopped answering) ends as soon
// as its client leaves, and does not hold Close: the exchange is bounded
// by the connection's context, not only by the dial deadline (here over a
// minute).
func TestConnectStuckInSASL(t *testing.T) {
	pk := newPKI(t)
	addr, got := stallingBroker(t, pk)
	cfg := kafkaconn.Config{Brokers: []string{addr}, TLSCAFile: pk.caFile, Region: "us-east-1", RequestTimeout: time.Minute,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	p, _ := startProxy(t, cfg)
	waitSASL := func() {
		t.Helper()
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatal("the proxy sent no SaslHandshake upstream")
		}
	}

	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	waitSASL()
	nc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for p.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the client left, its upstream connect still holds the connection", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}

	nc, err = net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitSASL()
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close waits for an upstream connect stuck in SASL")
	}
}

// proxyGoroutines returns the stacks of the goroutines running the
// proxy's own code whose stack holds one of the frames.
func proxyGoroutines(frames ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, f := range frames {
			if strings.Contains(g, "msklink/msklink/proxy."+f) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}

// waitGoroutines waits until no goroutine runs any of frames.
func waitGoroutines(t *testing.T, what string, frames ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		gs := proxyGoroutines(frames...)
		if len(gs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d goroutines left:\n%s", what, len(gs), strings.Join(gs, "\n\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoGoroutineLeak ends client connections in every way (a client
// that leaves after a round trip, one that leaves halfway through a
// request, a frame over the limit, the idle timeout, the broker resetting
// the upstream connection, a refused SASL mechanism), then closes the
// proxy with a client still connected: no goroutine of a connection is
// left after each, and none of the proxy's after Close.
func TestNoGoroutineLeak(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c), WithIdleTimeout(time.Second))
	conns := []string{"(*clientConn)", "(*upstream)"}
	dial := func(addr string) net.Conn {
		t.Helper()
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		return nc
	}
	f := kmsg.NewRequestFormatter()
	av := f.AppendRequest(nil, apiVersions(3), 1)
	broker0 := p.Brokers()[1].Local

	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	waitGoroutines(t, "a client that left", conns...)

	nc := dial(broker0)
	nc.Write(av[:len(av)/2])
	time.Sleep(50 * time.Millisecond)
	nc.Close()
	waitGoroutines(t, "a client that left mid-request", conns...)

	nc = dial(p.Addr())
	nc.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	io.Copy(io.Discard, nc)
	nc.Close()
	waitGoroutines(t, "a frame over the limit", conns...)

	nc = dial(broker0)
	nc.Write(av)
	io.Copy(io.Discard, nc) // the answer, then the idle timeout's close
	nc.Close()
	waitGoroutines(t, "an idle client", conns...)

	nc = dial(broker0)
	nc.Write(av)
	if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
		t.Fatal(err)
	}
	c.Listener(0, emulator.IAM).ResetConnections()
	io.Copy(io.Discard, nc)
	nc.Close()
	waitGoroutines(t, "a reset upstream", conns...)

	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "GSSAPI"
	nc = dial(broker0)
	nc.Write(f.AppendRequest(nil, hs, 2))
	io.Copy(io.Discard, nc)
	nc.Close()
	waitGoroutines(t, "a refused mechanism", conns...)

	nc = dial(broker0)
	defer nc.Close()
	nc.Write(av)
	if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
		t.Fatal(err)
	}
	p.Close()
	waitGoroutines(t, "Close", "(*clientConn)", "(*upstream)", "(*Proxy)")
}

// TestBrokerPortTaken: broker listeners take the ports after the bootstrap
// one in node order; one that is taken gets an ephemeral port instead (and
// a warning), and the brokers after it keep counting from the next port.
func TestBrokerPortTaken(t *testing.T) {
	c, _ := startCluster(t)
	var (
		p    *Proxy
		logs testutil.SyncBuffer
		held net.Listener
		base int
	)
	for attempt := 0; p == nil; attempt++ {
		// A free port, and the next one held here.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if held, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+1))); err != nil {
			continue
		}
		p, err = Start(context.Background(), iamConfig(c), WithListen(net.JoinHostPort("127.0.0.1", strconv.Itoa(base))),
			WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		if err != nil {
			held.Close()
			if attempt == 5 {
				t.Fatal(err)
			}
			continue
		}
	}
	defer held.Close()
	defer p.Close()
	b := p.Brokers()
	if len(b) != 4 {
		t.Fatalf("listeners %+v, want bootstrap and 3 brokers", b)
	}
	port := func(i int) int {
		_, s, _ := net.SplitHostPort(b[i].Local)
		n, _ := strconv.Atoi(s)
		return n
	}
	if port(0) != base || port(1) == base+1 {
		t.Errorf("listeners %+v: want the bootstrap on %d, broker 0 off the taken %d", b, base, base+1)
	}
	if !strings.Contains(logs.String(), "sequential broker port taken: using an ephemeral port") {
		t.Errorf("no warning for the taken port:\n%s", logs.String())
	}
	// Brokers 1 and 2 asked for base+2 and base+3: free unless another
	// process took them meanwhile.
	for i, want := range map[int]int{2: base + 2, 3: base + 3} {
		if port(i) != want && !strings.Contains(logs.String(), "port="+strconv.Itoa(want)) {
			t.Errorf("broker %d on %s, want port %d", i-1, b[i].Local, want)
		}
	}
	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}
