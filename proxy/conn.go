package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/kafkawire"
)

// maxPending bounds the answers one client connection may await: Kafka
// clients keep a handful of requests in flight per connection (5 produce
// requests by default); past the bound the proxy stops reading the client.
const maxPending = 128

// handshakeTimeout bounds a client's TLS handshake; flushTimeout bounds
// writing the last answers before the proxy closes a connection.
const (
	handshakeTimeout = 10 * time.Second
	flushTimeout     = 10 * time.Second
)

// clientConn is one client connection and its upstream connection.
//
// The request loop (serve's goroutine) reads the client's requests,
// answers SASL itself, and writes the others to the upstream connection
// as they come (pipelining is kept), each with an entry in one bounded
// queue, in request order, which also carries the answers the proxy makes
// itself. The response loop takes the entries in turn and, for each that
// awaits MSK, the next upstream response (Kafka answers a connection's
// requests in order) from readUpstream, rewrites the few that carry broker
// addresses and writes them to the client. Each direction holds at most one
// frame, so a slow client or broker stalls its own connection through TCP
// backpressure, never the proxy's memory.
//
// Re-authentication runs in the request loop: it stops forwarding, waits
// until every request sent upstream is answered, and then runs SaslHandshake
// and SaslAuthenticate on the upstream connection, their responses taken by
// the response loop in their turn; only then does it forward again.
type clientConn struct {
	p      *Proxy
	l      *listener
	raw    net.Conn // TCP
	nc     net.Conn // TCP or TLS
	id     uint64
	remote string
	start  time.Time
	ctx    context.Context // canceled by close
	cancel context.CancelFunc

	connectOnce sync.Once
	upReady     chan struct{} // closed when the connect attempt ended
	mu          sync.Mutex    // guards up against close
	closed      bool
	up          *upstream // set before upReady closes; nil if the connect failed
	upErr       error

	queue     chan pending
	frames    chan upFrame          // from readUpstream
	frameDone chan struct{}         // the response loop is done with a frame
	inflight  atomic.Int32          // requests written upstream, not yet answered
	reauthing atomic.Bool           // a re-authentication's SASL requests are under way
	upEnd     atomic.Pointer[error] // why the upstream ended during a re-authentication
	drained   chan struct{}         // a token when inflight drops to zero
	rdone     chan struct{}         // the response loop returned
	done      chan struct{}
	once      sync.Once
	why       atomic.Pointer[string] // why the connection closed, for the log
	lc        lambdaConn             // stale.go

	lastRequest  time.Time    // request loop
	lastResponse atomic.Int64 // unix nanoseconds; response loop
	fr           kafkawire.FrameReader
	sasl         saslState
	principal    string // who the client authenticated as, for logs
	requests     int64
}

// pending is one answer, in request order: a frame the proxy made, or the
// upstream's next response.
type pending struct {
	h          kafkawire.Header
	local      []byte // a whole frame; nil: read the upstream's next response
	closeAfter bool   // close the connection after writing local
	rewrite    bool   // decode and rewrite the response (see rewrites)
	internal   chan []byte
	up         *upstream // the connection the request went to
}

// Errors that end a connection.
var (
	errFlush    = errors.New("closing after the answers so far")
	errIdle     = errors.New("idle")
	errUpstream = errors.New("upstream failed") // logged where it happened
)

func newClientConn(p *Proxy, l *listener, nc net.Conn) *clientConn {
	ctx, cancel := context.WithCancel(context.Background())
	return &clientConn{p: p, l: l, raw: nc, nc: nc, id: p.connID.Add(1), remote: nc.RemoteAddr().String(),
		start: time.Now(), ctx: ctx, cancel: cancel, upReady: make(chan struct{}), fr: kafkawire.FrameReader{Pool: &p.bufs},
		queue: make(chan pending, maxPending), frames: make(chan upFrame), frameDone: make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		rdone:   make(chan struct{}), done: make(chan struct{})}
}

func (c *clientConn) logAttrs() []any {
	broker := "bootstrap"
	if c.l.upstream != "" {
		broker = strconv.Itoa(int(c.l.node))
	}
	return []any{"conn", c.id, "remote", c.remote, "listener", c.l.local, "broker", broker}
}

// setWhy records why the connection ends (the first reason wins).
func (c *clientConn) setWhy(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	c.why.CompareAndSwap(nil, &s)
}

func (c *clientConn) closing() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// close ends the connection: both sockets, any connect in progress.
func (c *clientConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.cancel()
		c.raw.Close()
		c.mu.Lock()
		c.closed = true
		if c.up != nil {
			c.up.nc.Close()
		}
		c.mu.Unlock()
	})
}

func (c *clientConn) serve() {
	c.p.log.Info("client connected", c.logAttrs()...)
	defer func() {
		c.close()
		<-c.rdone
		c.connectOnce.Do(func() { close(c.upReady) }) // never started: none will
		<-c.upReady
		why := "closed"
		if w := c.why.Load(); w != nil {
			why = *w
		}
		attrs := append(c.logAttrs(), "duration", time.Since(c.start).Round(time.Millisecond).String(), "requests", c.requests, "reason", why)
		if c.principal != "" {
			attrs = append(attrs, "principal", c.principal)
		}
		c.p.log.Info("client disconnected", attrs...)
	}()
	if c.p.listenTLS != nil {
		if !c.tlsHandshake() {
			close(c.rdone)
			return
		}
	}
	go c.responseLoop()
	if c.p.o.clientAuth != ClientAuthSCRAM {
		c.startConnect() // at once: the connect overlaps the client's first request
	}
	err := c.requestLoop()
	switch {
	case errors.Is(err, errFlush):
		// Let the answers queued so far reach the client, then close.
		select {
		case c.queue <- pending{local: []byte{}, closeAfter: true}:
			t := time.NewTimer(flushTimeout)
			select {
			case <-c.rdone:
			case <-t.C:
			}
			t.Stop()
		case <-c.done:
		}
	case errors.Is(err, errIdle):
		c.setWhy("idle for %s", c.p.o.idle)
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed) && c.closing():
		c.setWhy("client closed the connection")
	case err != nil:
		c.setWhy("%v", err)
	}
}

// tlsHandshake runs the client's TLS handshake; mutual with ClientAuthTLS.
func (c *clientConn) tlsHandshake() bool {
	tc := tls.Server(c.raw, c.p.listenTLS)
	ctx, cancel := context.WithTimeout(c.ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		var rec tls.RecordHeaderError
		if errors.As(err, &rec) {
			c.setWhy("TLS handshake: the client speaks plaintext to this TLS listener (cause %s): use security.protocol SSL, or SASL_SSL with SCRAM", doctor.CauseTLSRequired)
		} else {
			c.setWhy("TLS handshake: %v", err)
		}
		return false
	}
	c.nc = tc
	if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
		c.principal = "CN=" + st.PeerCertificates[0].Subject.CommonName
		c.p.log.Info("client authenticated", append(c.logAttrs(), "mechanism", "TLS client certificate", "principal", c.principal)...)
	}
	return true
}

// startConnect starts connecting upstream, once.
func (c *clientConn) startConnect() {
	c.connectOnce.Do(func() { go c.connect() })
}

// connect opens the upstream connection: to the listener's broker, or to a
// bootstrap broker for the bootstrap listener.
func (c *clientConn) connect() {
	defer close(c.upReady)
	var (
		up   *upstream
		err  error
		addr = c.l.upstream
	)
	if up = c.p.takeWarm(addr); up != nil {
		// kept by Warm
	} else if err = c.p.remembered(addr); err != nil {
		c.upErr = err // answered at once (WithFailureMemory)
		return
	} else {
		up, err = c.p.dialListener(c.ctx, addr)
		if !c.closing() {
			c.p.remember(addr, err)
		}
	}
	if err != nil {
		if !c.closing() {
			c.p.upstreamFailed(c, "connect", addr, err)
		}
		c.upErr = err
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		up.nc.Close()
		c.upErr = net.ErrClosed
		return
	}
	c.up = up
	go c.readUpstream(up)
}

// awaitUpstream returns the upstream connection, connecting if needed.
func (c *clientConn) awaitUpstream() (*upstream, error) {
	c.startConnect()
	select {
	case <-c.upReady:
	case <-c.done:
		return nil, net.ErrClosed
	}
	if c.up == nil {
		return nil, c.upErr
	}
	return c.up, nil
}

// readDeadline is when the request loop must wake: the idle timeout, or
// the upstream session's re-authentication time.
func (c *clientConn) readDeadline(now time.Time) time.Time {
	last := c.lastRequest
	if r := time.Unix(0, c.lastResponse.Load()); r.After(last) {
		last = r
	}
	d := last.Add(c.p.o.idle)
	if !d.After(now) {
		d = now.Add(c.p.o.idle) // requests in flight: look again later
	}
	select {
	case <-c.upReady:
		if c.up != nil && !c.up.reauthAt.IsZero() && c.up.reauthAt.Before(d) && c.renewOnTimer(c.up, now) {
			d = c.up.reauthAt
		}
	default:
	}
	return d
}

// idleFor reports whether nothing moved for the idle timeout.
func (c *clientConn) idleFor(now time.Time) bool {
	last := c.lastRequest
	if r := time.Unix(0, c.lastResponse.Load()); r.After(last) {
		last = r
	}
	return c.inflight.Load() == 0 && now.Sub(last) >= c.p.o.idle
}

func (c *clientConn) requestLoop() error {
	c.lastRequest = time.Now()
	for {
		limit := kafkawire.MaxFrame
		if c.p.o.clientAuth == ClientAuthSCRAM && !c.sasl.authed {
			limit = kafkawire.MaxSASLFrame // Kafka's bound before authentication
		}
		now := time.Now()
		c.nc.SetReadDeadline(c.readDeadline(now))
		if c.p.ls.draining.Load() && !c.fr.Partial() { // after the deadline: Shutdown's wins
			c.setWhy("the proxy is shutting down")
			return errFlush
		}
		if asked, err := c.checkAsked(); err != nil {
			return err
		} else if asked {
			continue
		}
		raw, err := c.fr.Next(c.nc, limit)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.closing() {
				// Idle first: a wake for a re-authentication that comes
				// due with the idle timeout (or after it) must not renew
				// the session of a connection that is to be closed, and
				// put the idle check off to the next wake, and the next.
				now := time.Now()
				if c.idleFor(now) {
					return errIdle
				}
				if up := c.readyUpstream(); up != nil && up.reauthDue(now) && c.renewOnTimer(up, now) {
					if err := c.reauth(); err != nil {
						return err
					}
				}
				continue
			}
			if errors.Is(err, kafkawire.ErrFrameTooLarge) {
				if p := c.fr.Prefix(); len(p) >= 2 && p[0] == 0x16 && p[1] == 0x03 {
					return fmt.Errorf("the client speaks TLS to this plaintext listener (cause %s): use security.protocol PLAINTEXT (SASL_PLAINTEXT), or start the proxy with a listener certificate", doctor.CauseTLSNotOffered)
				}
			}
			return err
		}
		c.lastRequest = time.Now()
		c.requests++
		c.p.stats.in.Add(int64(len(raw)))
		if c.sasl.raw {
			if err := c.rawSASL(raw[4:]); err != nil {
				return err
			}
			continue
		}
		h, err := kafkawire.ParseHeader(raw[4:])
		if err != nil {
			return err
		}
		if err := c.handle(h, raw); err != nil {
			return err
		}
	}
}

// readyUpstream returns the upstream connection if the connect has
// finished and worked, without waiting.
func (c *clientConn) readyUpstream() *upstream {
	select {
	case <-c.upReady:
		return c.up
	default:
		return nil
	}
}

// handle answers or forwards one request; raw is the whole frame.
func (c *clientConn) handle(h kafkawire.Header, raw []byte) error {
	frame := raw[4:]
	if h.TooNew {
		return c.answerFrame(kafkawire.TooNewAnswer(h), false)
	}
	switch h.Key {
	case 17:
		return c.handshake(h, frame)
	case 36:
		return c.authenticate(h, frame)
	}
	if c.p.o.clientAuth == ClientAuthSCRAM && !c.sasl.authed {
		if h.Key != 18 {
			c.setWhy("%s before SASL authentication (client auth scram): closed, as Kafka does", kmsg.NameForKey(h.Key))
			return net.ErrClosed
		}
		v, err := c.p.learnVersions(c.ctx)
		if err != nil {
			return c.failRequest(h, err)
		}
		resp := *v
		return c.answer(h, &resp, false)
	}
	if !offered(h.Key, h.Version) {
		c.setWhy("%s v%d is not offered through the proxy (its answer would carry broker addresses the proxy does not rewrite): the client ignored ApiVersions", kmsg.NameForKey(h.Key), h.Version)
		return net.ErrClosed
	}
	up, err := c.awaitUpstream()
	if err != nil {
		return c.failRequest(h, err)
	}
	if up, err = c.fresh(up); err != nil {
		return err
	}
	if up.reauthDue(time.Now()) {
		if err := c.reauth(); err != nil {
			return err
		}
	}
	return c.forward(up, h, raw)
}

// forward writes a client's request upstream and queues its answer (none
// for an acks=0 produce).
func (c *clientConn) forward(up *upstream, h kafkawire.Header, raw []byte) error {
	if !(h.Key == 0 && kafkawire.ProduceAcksZero(h, raw[4:])) {
		if err := c.expect(pending{h: h, rewrite: rewrites(h.Key), up: up}); err != nil {
			return err
		}
	}
	return c.writeUpstream(up, raw)
}

// expect queues an answer to read from upstream.
func (c *clientConn) expect(pd pending) error {
	c.inflight.Add(1)
	select {
	case c.queue <- pd:
		return nil
	case <-c.done:
		return net.ErrClosed
	}
}

func (c *clientConn) writeUpstream(up *upstream, frame []byte) error {
	up.nc.SetWriteDeadline(time.Now().Add(c.p.o.idle))
	if _, err := up.nc.Write(frame); err != nil {
		if !c.closing() {
			c.p.upstreamFailed(c, "write", up.addr, err)
			c.setWhy("upstream %s failed (cause %s)", up.addr, doctor.CauseOf(err))
		}
		return errUpstream
	}
	return nil
}

// answer queues a response the proxy made.
func (c *clientConn) answer(h kafkawire.Header, resp kmsg.Response, closeAfter bool) error {
	return c.answerFrame(kafkawire.EncodeResponseFrame(h, resp), closeAfter)
}

// answerFrame queues a whole frame the proxy made.
func (c *clientConn) answerFrame(frame []byte, closeAfter bool) error {
	select {
	case c.queue <- pending{local: frame, closeAfter: closeAfter}:
	case <-c.done:
		return net.ErrClosed
	}
	if closeAfter {
		return errFlush
	}
	return nil
}

// failRequest tells the client that the upstream connect failed, with a
// Kafka error where the request has a place for one (ApiVersions, the first
// request of nearly every client), and closes the connection.
func (c *clientConn) failRequest(h kafkawire.Header, err error) error {
	if errors.Is(err, net.ErrClosed) && c.closing() {
		return err
	}
	code := upstreamErrorCode(err)
	c.setWhy("upstream connect failed (cause %s): answered %s with %s", doctor.CauseOf(err), kmsg.NameForKey(h.Key), kerr.ErrorForCode(code))
	if h.Key == 18 {
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.ErrorCode = code
		return c.answer(h, resp, true)
	}
	return errUpstream
}

// upstreamErrorCode is the Kafka error a client gets for an upstream
// failure: SASL_AUTHENTICATION_FAILED when MSK refused the proxy's identity
// (clients stop and report it), BROKER_NOT_AVAILABLE (retriable) when it
// could not be reached.
func upstreamErrorCode(err error) int16 {
	switch doctor.CauseOf(err) {
	case doctor.CauseCredentials, doctor.CauseConfig, doctor.CauseAuthMechanism, doctor.CauseAuthDenied,
		doctor.CauseTokenRegion, doctor.CauseTokenExpired, doctor.CauseClockSkew, doctor.CauseTooManyConnects:
		return kerr.SaslAuthenticationFailed.Code
	}
	return kerr.BrokerNotAvailable.Code
}

// reauth renews the upstream session in place (KIP-368): no request is
// forwarded meanwhile, and it starts only when every request already
// forwarded is answered, so its SASL requests never interleave with the
// client's. Kafka re-authenticates a connection past its session's end too,
// so answers that take long (a fetch long poll, a JoinGroup) are awaited,
// but for at most the idle timeout: the client is not read meanwhile, so
// a broker that stopped answering would otherwise hold the connection, and
// its slot, even after the client left.
func (c *clientConn) reauth() error {
	up := c.up
	held := time.Now()
	if c.inflight.Load() > 0 {
		bound := time.NewTimer(c.p.o.idle)
		defer bound.Stop()
		for c.inflight.Load() > 0 {
			select {
			case <-c.drained:
			case <-c.done:
				return net.ErrClosed
			case <-bound.C:
				c.setWhy("%d requests to %s unanswered for %s (the idle timeout) while a re-authentication waited for them: closed",
					c.inflight.Load(), up.addr, c.p.o.idle)
				return errUpstream
			}
		}
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.p.cfg.RequestTimeout)
	defer cancel()
	c.reauthing.Store(true)
	err := up.authenticate(ctx, func(req kmsg.Request) (kmsg.Response, error) { return c.viaResponseLoop(ctx, up, req) })
	if err != nil {
		// A broker that refuses closes the connection after its answer;
		// the answer, not the close, says why (reauthing stays set: the
		// connection ends).
		if errors.Is(err, net.ErrClosed) && c.closing() {
			return err // the client left, or the proxy closes
		}
		c.p.upstreamFailed(c, "re-authenticate", up.addr, err)
		c.setWhy("upstream %s re-authentication failed (cause %s)", up.addr, doctor.CauseOf(err))
		return errUpstream
	}
	c.reauthing.Store(false)
	c.p.stats.reauths.Add(1)
	// At info: a re-authentication is rare (once per session lifetime
	// and connection) and the first thing to check when MSK drops
	// connections at session expiry.
	c.p.log.Info("upstream re-authenticated", append(c.logAttrs(), "upstream", up.addr,
		"held", time.Since(held).Round(time.Millisecond).String(), "session_lifetime", up.lifetime.String())...)
	return nil
}

// viaResponseLoop sends one of the proxy's own requests on the upstream
// connection and waits for the response loop to hand over its answer.
func (c *clientConn) viaResponseLoop(ctx context.Context, up *upstream, req kmsg.Request) (kmsg.Response, error) {
	h, frame := up.encode(req)
	ch := make(chan []byte, 1)
	if err := c.expect(pending{h: h, internal: ch, up: up}); err != nil {
		return nil, err
	}
	if err := c.writeUpstream(up, frame); err != nil {
		return nil, err
	}
	select {
	case body := <-ch: // nil: the upstream ended (dropAwaited)
		if body == nil {
			return nil, fmt.Errorf("%s closed the connection without answering %s", up.addr, kmsg.NameForKey(h.Key))
		}
		return up.decode(h, body)
	case <-ctx.Done(): // the timeout, or the connection's end (c.ctx)
	}
	select {
	case body := <-ch: // answered, then the connection ended
		return up.decode(h, body)
	default:
	}
	if c.closing() {
		if err := c.upEnd.Load(); err != nil {
			return nil, fmt.Errorf("%s closed the connection without answering %s: %w", up.addr, kmsg.NameForKey(h.Key), *err)
		}
		return nil, net.ErrClosed
	}
	return nil, fmt.Errorf("%s: no answer to %s within %s: %w", up.addr, kmsg.NameForKey(h.Key), c.p.cfg.RequestTimeout, ctx.Err())
}

// upFrame is one frame (or the error that ended the connection) from the
// upstream reader.
type upFrame struct {
	raw []byte
	err error
	up  *upstream
}

// readUpstream reads the upstream connection from the connect on, and
// hands each frame to the response loop, waiting until it is done with it
// (the buffer is reused). Reading ahead of the requests is what makes a
// broker that closes or resets an idle connection visible at once: the
// client connection is closed then too, as a direct connection would be.
func (c *clientConn) readUpstream(up *upstream) {
	defer close(up.readDone)
	for {
		raw, err := up.fr.Next(up.nc, kafkawire.MaxFrame)
		if err == nil {
			up.heard.Store(time.Now().UnixNano())
		}
		select {
		case c.frames <- upFrame{raw, err, up}:
		case <-c.done:
			return
		}
		if err != nil {
			return
		}
		select {
		case <-c.frameDone:
		case <-c.done:
			return
		}
	}
}

func (c *clientConn) responseLoop() {
	defer close(c.rdone)
	defer c.close()
	for {
		var pd pending
		select {
		case pd = <-c.queue:
		case f := <-c.frames:
			// The upstream spoke with nothing awaited: it closed the
			// connection, or answered a request whose entry is queued
			// behind answers of the proxy's own.
			if f.err != nil {
				if c.idleEnd(f) {
					continue
				}
				c.upstreamEnded(f.up, f.err)
				return
			}
			var ok bool
			if pd, ok = c.nextUpstream(); !ok {
				c.setWhy("upstream %s sent a frame no request asked for", f.up.addr)
				return
			}
			if !c.deliver(pd, f.raw) {
				return
			}
			continue
		case <-c.done:
			return
		}
		if pd.local != nil {
			if !c.writeLocal(pd) {
				return
			}
			continue
		}
		if pd.up.gone.Load() { // it ended before this answer was awaited
			if !c.dropAwaited(pd) {
				return
			}
			continue
		}
		var f upFrame
		select {
		case f = <-c.frames:
		case <-c.done:
			return
		}
		if f.err != nil {
			if pd.internal != nil && c.idleEnd(f) {
				c.dropAwaited(pd)
				continue
			}
			c.upstreamEnded(f.up, f.err)
			return
		}
		if !c.deliver(pd, f.raw) {
			return
		}
	}
}

// nextUpstream writes the queued answers of the proxy's own up to the next
// entry that awaits an upstream response, and returns it.
func (c *clientConn) nextUpstream() (pending, bool) {
	for {
		select {
		case pd := <-c.queue:
			if pd.local == nil {
				return pd, true
			}
			if !c.writeLocal(pd) {
				return pending{}, false
			}
		default:
			return pending{}, false
		}
	}
}

// writeLocal writes an answer the proxy made; false ends the connection.
func (c *clientConn) writeLocal(pd pending) bool {
	if len(pd.local) > 0 && !c.writeClient(pd.local) {
		return false
	}
	return !pd.closeAfter
}

// upstreamEnded reports the end of the upstream connection.
func (c *clientConn) upstreamEnded(up *upstream, err error) {
	if c.closing() {
		return
	}
	if c.reauthing.Load() {
		c.upEnd.Store(&err) // the re-authentication reports it
		return
	}
	c.p.upstreamFailed(c, "read", up.addr, err)
	c.setWhy("upstream %s closed or failed (cause %s)", up.addr, doctor.CauseOf(err))
}

// deliver hands one upstream response to its entry: to the client
// (rewritten if needed) or to the proxy's own request. False ends the
// connection.
func (c *clientConn) deliver(pd pending, raw []byte) bool {
	defer func() {
		select {
		case c.frameDone <- struct{}{}:
		default:
		}
	}()
	if pd.internal == nil { // the proxy's own requests are no client activity
		c.lastResponse.Store(time.Now().UnixNano())
	}
	if c.inflight.Add(-1) == 0 {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
	body := raw[4:]
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != pd.h.Corr {
		c.setWhy("upstream %s answered %s out of order", pd.up.addr, kmsg.NameForKey(pd.h.Key))
		return false
	}
	if pd.internal != nil {
		pd.internal <- bytes.Clone(body)
		return true
	}
	out := raw
	if pd.rewrite && !(pd.h.Key == 18 && apiVersionsError(body[kafkawire.RespHeaderLen(pd.h):]) != 0) {
		resp, err := kafkawire.DecodeResponse(pd.h, body)
		if err == nil {
			err = c.p.rewrite(resp)
		}
		if err != nil {
			c.p.log.Error("cannot rewrite a response: closing the connection", append(c.logAttrs(), "api", kmsg.NameForKey(pd.h.Key), "err", err)...)
			c.setWhy("rewriting %s: %v", kmsg.NameForKey(pd.h.Key), err)
			return false
		}
		out = kafkawire.EncodeResponseFrame(pd.h, resp)
	}
	return c.writeClient(out)
}

// writeClient writes a whole frame to the client; a client that does not
// take it within the idle timeout is dropped.
func (c *clientConn) writeClient(b []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(c.p.o.idle))
	if _, err := c.nc.Write(b); err != nil {
		if !c.closing() {
			c.setWhy("writing to the client: %v", err)
		}
		return false
	}
	c.p.stats.out.Add(int64(len(b)))
	return true
}
