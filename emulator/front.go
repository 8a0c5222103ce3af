package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/internal/kafkawire"
)

// Listener is one listener kind on one broker: it accepts client
// connections, does TLS and SASL, authorizes, injects faults and forwards
// requests to the broker's kfake listener. Methods are safe for concurrent
// use.
type Listener struct {
	b    *Broker
	kind ListenerKind

	mu     sync.Mutex
	addr   string // advertised host:port; the port is fixed by the first Start
	ln     net.Listener
	conns  map[*conn]struct{}
	faults Faults
	closed bool // the cluster is closing: Start fails, new connections close
	wg     sync.WaitGroup
}

// Kind is the listener's kind.
func (l *Listener) Kind() ListenerKind { return l.kind }

// Addr is the advertised host:port (kept while stopped).
func (l *Listener) Addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// Start starts listening (again) on the listener's address. Starting a
// listener that listens is a no-op.
func (l *Listener) Start() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		return nil
	}
	if l.closed {
		return fmt.Errorf("emulator: broker %d %s listener: the cluster is closed", l.b.id, l.kind)
	}
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = ": another process (another msklink local?) uses it; stop it or use ephemeral ports (--ephemeral)"
		} else if errors.Is(err, syscall.EADDRNOTAVAIL) {
			hint = ": this system does not route 127.0.0.N to loopback (macOS: sudo ifconfig lo0 alias 127.0.0.N); or use ephemeral ports (--ephemeral)"
		}
		return fmt.Errorf("emulator: broker %d %s listener: %w%s", l.b.id, l.kind, err, hint)
	}
	l.addr = ln.Addr().String()
	l.ln = ln
	l.wg.Add(1)
	go l.accept(ln)
	return nil
}

// Stop stops accepting connections; open connections stay.
func (l *Listener) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
		l.ln = nil
	}
}

// ResetConnections resets (TCP RST) every open connection and returns how
// many there were.
func (l *Listener) ResetConnections() int {
	l.mu.Lock()
	cs := make([]*conn, 0, len(l.conns))
	for c := range l.conns {
		cs = append(cs, c)
	}
	l.mu.Unlock()
	for _, c := range cs {
		c.reset()
	}
	return len(cs)
}

// Conns returns the number of open client connections.
func (l *Listener) Conns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

func (l *Listener) accept(ln net.Listener) {
	defer l.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.serve(nc)
		}()
	}
}

func (l *Listener) serve(raw net.Conn) {
	cl := l.b.c
	ok, tooMany := l.b.admit()
	if !ok {
		cl.log.Warn("connection refused: too many connections", "broker", l.b.id, "listener", l.kind.String(), "remote", raw.RemoteAddr().String())
		raw.Close()
		return
	}
	defer l.b.release()
	if tooMany && !l.kind.sasl() {
		cl.log.Warn("connection closed: too many connects", "broker", l.b.id, "listener", l.kind.String(), "remote", raw.RemoteAddr().String())
		raw.Close()
		return
	}
	c := &conn{l: l, raw: raw, nc: raw, out: make(chan slot, 64), done: make(chan struct{}), wdone: make(chan struct{}), tooMany: tooMany}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		raw.Close()
		return
	}
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	writing := false
	defer func() {
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
		c.close()
		if writing {
			<-c.wdone // Close waits for serve, so for the write loop too
		}
	}()
	if l.Faults().Blackhole {
		// Accept, never answer, not even the TLS handshake.
		io.Copy(io.Discard, raw)
		return
	}
	if l.kind.tls() {
		tc := tls.Server(raw, cl.certs.server)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			cl.log.Debug("TLS handshake failed", "broker", l.b.id, "listener", l.kind.String(), "remote", raw.RemoteAddr().String(), "err", err)
			return
		}
		c.nc = tc
	}
	writing = true
	go c.writeLoop()
	err := c.readLoop()
	if errors.Is(err, errClose) {
		// Let the answers queued so far reach the client, then close.
		if c.send(slot{local: []byte{}, closeAfter: true}) {
			t := time.NewTimer(10 * time.Second)
			select {
			case <-c.done:
			case <-t.C:
			}
			t.Stop()
		}
	}
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.logIdle("waiting for a request")
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed):
		cl.log.Debug("connection closed", "broker", l.b.id, "listener", l.kind.String(), "remote", raw.RemoteAddr().String(), "reason", err.Error())
	}
}

// logIdle logs a close by Limits.IdleTimeout, at Info as Kafka logs its
// idle closes; while says what the connection was doing.
func (c *conn) logIdle(while string) {
	c.l.b.c.log.Info("connection closed: idle", append(c.logAttrs(),
		"idle_timeout", time.Duration(c.l.b.c.cfg.Limits.IdleTimeout).String(), "while", while)...)
}

// Faults are injected on a listener's connections. The zero value injects
// nothing.
type Faults struct {
	// RequestLatency delays each request before it is handled
	// (client to broker).
	RequestLatency time.Duration
	// ResponseLatency delays each response before it is written
	// (broker to client).
	ResponseLatency time.Duration
	// ResetAfterRequests, if > 0, resets a connection (TCP RST) when its
	// Nth request arrives; that request is not answered.
	ResetAfterRequests int
	// ResetProbability resets a connection on each request with this
	// probability (0 to 1), before handling it.
	ResetProbability float64
	// Blackhole accepts connections and reads requests but never answers:
	// connections accepted while it is set get no TLS handshake either.
	Blackhole bool
}

// SetFaults replaces the listener's faults; they apply from the next
// request of every connection.
func (l *Listener) SetFaults(f Faults) {
	l.mu.Lock()
	l.faults = f
	l.mu.Unlock()
}

// Faults returns the listener's current faults.
func (l *Listener) Faults() Faults {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.faults
}

// slot is one answer in request order: a local frame, or the next backend
// response (with post-processing).
type slot struct {
	h          kafkawire.Header
	local      []byte // full frame; nil: read the backend's response
	closeAfter bool   // close the connection after writing local
	post       []func(kmsg.Response)
}

// conn is one client connection. readLoop runs in the serving goroutine,
// writeLoop in its own; slots pass answers in request order between them.
type conn struct {
	l       *Listener
	raw     net.Conn // TCP
	nc      net.Conn // TCP or TLS
	out     chan slot
	done    chan struct{}
	wdone   chan struct{} // closed when writeLoop returns
	once    sync.Once
	tooMany bool

	beMu sync.Mutex
	be   net.Conn

	nreq          int
	sess          session                    // read loop only
	authn         atomic.Pointer[authnState] // the authenticated principal, for both loops
	fetchSessions fetchSessionSet            // see authz.go
}

func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		// Closing the TCP connection ends TLS too; c.nc is not touched
		// here since serve sets it after the handshake.
		c.raw.Close()
		c.beMu.Lock()
		if c.be != nil {
			c.be.Close()
		}
		c.beMu.Unlock()
	})
}

// reset closes with a TCP RST.
func (c *conn) reset() {
	if tc, ok := c.raw.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.close()
}

func (c *conn) logAttrs() []any {
	return []any{"broker", c.l.b.id, "listener", c.l.kind.String(), "remote", c.raw.RemoteAddr().String()}
}

// send queues an answer; it fails only when the connection is closing.
func (c *conn) send(s slot) bool {
	select {
	case c.out <- s:
		return true
	case <-c.done:
		return false
	}
}

func (c *conn) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	}
}

func (c *conn) readLoop() error {
	cl := c.l.b.c
	idle := time.Duration(cl.cfg.Limits.IdleTimeout)
	for {
		limit := kafkawire.MaxFrame
		if c.l.kind.sasl() && !c.sess.authed {
			limit = kafkawire.MaxSASLFrame
		}
		if idle > 0 {
			c.nc.SetReadDeadline(time.Now().Add(idle))
		}
		frame, err := kafkawire.ReadFrame(c.nc, limit)
		if err != nil {
			return err
		}
		f := c.l.Faults()
		if f.Blackhole {
			continue
		}
		if !c.sleep(f.RequestLatency) {
			return net.ErrClosed
		}
		c.nreq++
		if (f.ResetAfterRequests > 0 && c.nreq >= f.ResetAfterRequests) ||
			(f.ResetProbability > 0 && rand.Float64() < f.ResetProbability) {
			cl.log.Info("fault: connection reset", c.logAttrs()...)
			c.reset()
			return nil
		}
		if c.sess.raw {
			if err := c.rawSASL(frame); err != nil {
				return err
			}
			continue
		}
		h, err := kafkawire.ParseHeader(frame)
		if err != nil {
			return err
		}
		if h.TooNew {
			if !c.send(slot{h: h, local: kafkawire.TooNewAnswer(h)}) {
				return net.ErrClosed
			}
			continue
		}
		if !c.offered(h) {
			cl.log.Info("request not offered: closing connection", append(c.logAttrs(), "api", kmsg.NameForKey(h.Key), "api_key", h.Key, "version", h.Version)...)
			return errClose
		}
		if err := c.dispatch(h, frame); err != nil {
			return err
		}
	}
}

// errClose is returned by handlers that want the connection closed after
// the answers queued so far; the write loop closes it.
var errClose = errors.New("emulator: closing connection")

func (c *conn) dispatch(h kafkawire.Header, frame []byte) error {
	cl := c.l.b.c
	if c.l.kind.sasl() {
		// After the session expires Kafka (KIP-368) accepts only a
		// re-authentication: SaslHandshake, then its SaslAuthenticate.
		reauth := h.Key == 17 || h.Key == 36 && c.sess.mech != ""
		if c.sess.authed && !reauth && !c.sess.expires.IsZero() && cl.now().After(c.sess.expires) {
			cl.log.Info("session expired: closing connection", append(c.logAttrs(), "principal", c.sess.principal, "api", kmsg.NameForKey(h.Key))...)
			return errClose
		}
		switch h.Key {
		case 17:
			return c.handshake(h, frame)
		case 36:
			return c.authenticate(h, frame)
		case 18:
		default:
			if !c.sess.authed {
				cl.log.Info("request before authentication: closing connection", append(c.logAttrs(), "api", kmsg.NameForKey(h.Key))...)
				return errClose
			}
		}
	}
	var post []func(kmsg.Response)
	switch h.Key {
	case 18:
		post = append(post, c.fixApiVersions)
	case 3:
		post = append(post, c.fixMetadata)
	case 10:
		post = append(post, c.fixFindCoordinator)
	case 60:
		post = append(post, c.fixDescribeCluster)
	}
	var (
		done bool
		err  error
	)
	if c.l.kind == IAM && h.Key != 18 {
		if frame, post, done, err = c.stage(h, frame, post, c.authorize); done {
			return err
		}
	}
	if h.Key == 0 {
		if frame, post, done, err = c.stage(h, frame, post, c.boundProduce); done {
			return err
		}
	}
	return c.forward(h, frame, post)
}

// stage runs step, which may reduce the request (authorize, boundProduce):
// it returns the frame to forward and post with step's completions first,
// or done when step answered locally, when nothing is to be answered
// (a denied or refused acks=0 produce), or on err.
func (c *conn) stage(h kafkawire.Header, frame []byte, post []func(kmsg.Response), step func(kafkawire.Header, []byte) ([]byte, []func(kmsg.Response), kmsg.Response, error)) (_ []byte, _ []func(kmsg.Response), done bool, err error) {
	out, more, local, err := step(h, frame)
	if err != nil {
		return nil, nil, true, err
	}
	if local != nil {
		if !c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, local)}) {
			return nil, nil, true, net.ErrClosed
		}
		return nil, nil, true, nil
	}
	if out == nil { // a denied or refused acks=0 produce: nothing to answer
		return nil, nil, true, nil
	}
	return out, append(more, post...), false, nil
}

// forward sends frame (without size prefix) to kfake and queues the
// matching answer, unless the request gets no response (acks=0 produce).
func (c *conn) forward(h kafkawire.Header, frame []byte, post []func(kmsg.Response)) error {
	c.beMu.Lock()
	be := c.be
	c.beMu.Unlock()
	if be == nil {
		var err error
		be, err = c.l.b.backend.dial(c.raw.RemoteAddr(), 5*time.Second)
		if err != nil {
			return fmt.Errorf("emulator: connecting to kfake broker %d: %w", c.l.b.id, err)
		}
		c.beMu.Lock()
		select {
		case <-c.done:
			c.beMu.Unlock()
			be.Close()
			return net.ErrClosed
		default:
		}
		c.be = be
		c.beMu.Unlock()
	}
	if !(h.Key == 0 && kafkawire.ProduceAcksZero(h, frame)) {
		if !c.send(slot{h: h, post: post}) {
			return net.ErrClosed
		}
	}
	var size [4]byte
	binary.BigEndian.PutUint32(size[:], uint32(len(frame)))
	bufs := net.Buffers{size[:], frame}
	_, err := bufs.WriteTo(be)
	return err
}

func (c *conn) writeLoop() {
	defer close(c.wdone)
	defer c.close()
	cl := c.l.b.c
	for {
		var s slot
		select {
		case s = <-c.out:
		case <-c.done:
			return
		}
		var out []byte
		if s.local != nil {
			out = s.local
		} else {
			c.beMu.Lock()
			be := c.be
			c.beMu.Unlock()
			frame, err := kafkawire.ReadSizedFrame(be, kafkawire.MaxFrame)
			if err != nil {
				cl.log.Debug("kfake connection failed", append(c.logAttrs(), "err", err)...)
				return
			}
			body := frame[4:]
			if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != s.h.Corr {
				cl.log.Error("kfake answered out of order", append(c.logAttrs(), "api", kmsg.NameForKey(s.h.Key))...)
				return
			}
			// Produce and Fetch answers name brokers (KIP-951 leader
			// hints, a tagged field that kmsg writes at any flexible
			// version) only when a partition moved; they are rewritten
			// only then, since decoding every fetched batch costs.
			if (s.h.Key == 0 || s.h.Key == 1) && s.h.Flexible && bytes.Contains(body, []byte(internalDomain)) {
				s.post = append(s.post, c.fixLeaderHints)
			}
			if len(s.post) > 0 {
				resp, err := kafkawire.DecodeResponse(s.h, body)
				if err != nil {
					cl.log.Error("cannot decode kfake response", append(c.logAttrs(), "err", err)...)
					return
				}
				for _, fn := range s.post {
					fn(resp)
				}
				out = kafkawire.EncodeResponseFrame(s.h, resp)
			} else {
				out = frame // as kfake sent it
			}
		}
		if !c.sleep(c.l.Faults().ResponseLatency) {
			return
		}
		if len(out) > 0 {
			if err := c.write(out); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					c.logIdle("writing an answer the client does not read")
				}
				return
			}
		}
		if s.closeAfter {
			return
		}
	}
}

// write writes b to the client. With Limits.IdleTimeout, a write that
// makes no progress for that long fails, as Kafka's
// connections.max.idle.ms closes a connection whose answers its client
// does not read (Kafka then stops reading from it, so it goes idle): the
// deadline is renewed for each piece of b.
func (c *conn) write(b []byte) error {
	idle := time.Duration(c.l.b.c.cfg.Limits.IdleTimeout)
	if idle <= 0 {
		_, err := c.nc.Write(b)
		return err
	}
	const piece = 256 << 10
	for len(b) > 0 {
		n := min(len(b), piece)
		c.nc.SetWriteDeadline(time.Now().Add(idle))
		if _, err := c.nc.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// advertised maps a kfake broker address to the address this listener kind
// advertises for that broker.
func (c *conn) advertised(host string, port int32) (string, int32, bool) {
	b := c.l.b.c.byAddr[net.JoinHostPort(host, fmt.Sprint(port))]
	if b == nil {
		return "", 0, false
	}
	l := b.listeners[c.l.kind]
	if l == nil {
		return "", 0, false
	}
	h, p, err := net.SplitHostPort(l.Addr())
	if err != nil {
		return "", 0, false
	}
	var pn int32
	fmt.Sscan(p, &pn)
	return h, pn, true
}

// capped API versions (-1: not offered). The front advertises kfake's
// versions up to these and refuses requests above them (see offered):
// versions above these carry broker addresses (NodeEndpoints leader hints)
// as a field of their own. kfake may still send the hints at lower
// flexible versions, as a tagged field; fixLeaderHints rewrites those.
var versionCaps = map[int16]int16{
	0:  9,                                  // Produce v10+ has NodeEndpoints
	1:  15,                                 // Fetch v16+ has NodeEndpoints
	78: -1,                                 // ShareFetch: NodeEndpoints; not offered
	79: -1,                                 // ShareAcknowledge: NodeEndpoints; not offered
	76: -1, 77: -1, 90: -1, 91: -1, 92: -1, // share groups: not offered with the above
}

func (c *conn) fixApiVersions(r kmsg.Response) {
	resp := r.(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = offer(resp.ApiKeys, c.l.kind.sasl())
}

// The fix functions below rewrite every broker address kfake puts in an
// answer to the address of this listener kind for that broker. An address
// that maps to no listener (a broker added behind the emulator's back) is
// left out, never passed on: no internal address reaches a client.

func (c *conn) fixMetadata(r kmsg.Response) {
	resp := r.(*kmsg.MetadataResponse)
	resp.Brokers = rewriteBrokers(c, resp.Brokers, func(b *kmsg.MetadataResponseBroker) (*string, *int32) { return &b.Host, &b.Port })
	resp.ClusterID = &c.l.b.c.kafkaID
}

func (c *conn) fixFindCoordinator(r kmsg.Response) {
	resp := r.(*kmsg.FindCoordinatorResponse)
	unknown := func(code *int16, node, port *int32, host *string) {
		if *code == 0 {
			*code = kerr.CoordinatorNotAvailable.Code
		}
		*node, *host, *port = -1, "", -1
	}
	if resp.Host != "" && !c.rewrite(&resp.Host, &resp.Port) {
		unknown(&resp.ErrorCode, &resp.NodeID, &resp.Port, &resp.Host)
	}
	for i := range resp.Coordinators {
		co := &resp.Coordinators[i]
		if co.Host != "" && !c.rewrite(&co.Host, &co.Port) {
			unknown(&co.ErrorCode, &co.NodeID, &co.Port, &co.Host)
		}
	}
}

func (c *conn) fixDescribeCluster(r kmsg.Response) {
	resp := r.(*kmsg.DescribeClusterResponse)
	resp.Brokers = rewriteBrokers(c, resp.Brokers, func(b *kmsg.DescribeClusterResponseBroker) (*string, *int32) { return &b.Host, &b.Port })
	resp.ClusterID = c.l.b.c.kafkaID
}

// fixLeaderHints rewrites the brokers of a Produce or Fetch answer.
func (c *conn) fixLeaderHints(r kmsg.Response) {
	switch resp := r.(type) {
	case *kmsg.ProduceResponse:
		resp.Brokers = rewriteBrokers(c, resp.Brokers, func(b *kmsg.ProduceResponseBroker) (*string, *int32) { return &b.Host, &b.Port })
	case *kmsg.FetchResponse:
		resp.Brokers = rewriteBrokers(c, resp.Brokers, func(b *kmsg.FetchResponseBroker) (*string, *int32) { return &b.Host, &b.Port })
	}
}

// rewriteBrokers rewrites each broker's address, whose fields addr
// returns, and leaves out a broker whose address maps to none (see
// rewrite); it reuses bs.
func rewriteBrokers[B any](c *conn, bs []B, addr func(*B) (*string, *int32)) []B {
	kept := bs[:0]
	for _, b := range bs {
		if c.rewrite(addr(&b)) {
			kept = append(kept, b)
		}
	}
	return kept
}

// rewrite replaces a kfake broker address with this listener kind's
// address for that broker; false if it maps to none.
func (c *conn) rewrite(host *string, port *int32) bool {
	h, p, ok := c.advertised(*host, *port)
	if ok {
		*host, *port = h, p
	}
	return ok
}

// newRequestID returns a random UUID for MSK-style messages.
func newRequestID() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
