package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/doctor"
)

// This file holds what the proxy does for a host that freezes it between
// uses, as AWS Lambda freezes an execution environment between invocations
// (package extension): discovery run by the caller, upstream connections
// checked before use after a silence, failed connects remembered for a
// while, and a graceful Shutdown.

// lambdaOptions are the options of this file.
type lambdaOptions struct {
	deferDiscovery bool
	checkAfter     time.Duration // 0: no checks
	checkTimeout   time.Duration
	rememberFor    time.Duration // 0: failures are not remembered
}

// WithDeferredDiscovery makes Start open the bootstrap listener only: the
// caller runs Discover when it wants (and bounds it as it wants), and logs
// its failure in its own words. Default: Start discovers, bounded by the
// Config's dial and request timeouts, and logs a failure.
func WithDeferredDiscovery() Opt { return func(o *options) { o.lambda.deferDiscovery = true } }

// WithUpstreamChecks makes the proxy check an upstream connection before it
// forwards a request on it, when nothing was heard from it for after: it
// sends an ApiVersions request of its own and waits at most timeout for
// the answer, and on a failure (MSK or a NAT closed the connection while
// the host was frozen, its session expired, or it leads nowhere) it opens
// and authenticates a new connection first. The client sees a short pause.
// An upstream that ends while nothing is awaited on it no longer closes
// the client connection: the next request reconnects. A request already
// forwarded when its upstream ends still closes the client connection at
// once, logged with the cause, so that the client retries.
//
// Idle sessions are then renewed (KIP-368) on the timer only while the
// connection is in use (heard from within after); others are renewed,
// after the check, when the next request comes: Kafka closes a connection
// past its session only when it is used.
//
// Default: no checks (after 0); the client connection ends with its
// upstream one.
func WithUpstreamChecks(after, timeout time.Duration) Opt {
	return func(o *options) { o.lambda.checkAfter, o.lambda.checkTimeout = after, timeout }
}

// WithFailureMemory makes a failed upstream connect (or Discover) answer
// the client connections that need the same broker for d afterwards at
// once, with the same error, rather than each waiting for its own dial
// timeout. Default 0: every client connection dials.
func WithFailureMemory(d time.Duration) Opt { return func(o *options) { o.lambda.rememberFor = d } }

func (lo *lambdaOptions) validate() error {
	if lo.checkAfter < 0 || lo.checkAfter > 0 && lo.checkTimeout <= 0 {
		return fmt.Errorf("proxy: upstream checks after %s with timeout %s: both must be positive", lo.checkAfter, lo.checkTimeout)
	}
	if lo.rememberFor < 0 {
		return fmt.Errorf("proxy: failure memory %s: must not be negative", lo.rememberFor)
	}
	return nil
}

// lambdaState is the proxy's state for this file.
type lambdaState struct {
	draining atomic.Bool // Shutdown began

	mu       sync.Mutex
	failures map[string]failure // by upstream address; "" the seeds

	warm map[string]*upstream // see Warm; guarded by Proxy.mu
}

type failure struct {
	err error
	at  time.Time
}

// remembered returns the failure of the last connect to addr ("": the
// seeds) if it is recent enough to answer with.
func (p *Proxy) remembered(addr string) error {
	if p.o.lambda.rememberFor <= 0 {
		return nil
	}
	p.ls.mu.Lock()
	defer p.ls.mu.Unlock()
	if f, ok := p.ls.failures[addr]; ok && time.Since(f.at) < p.o.lambda.rememberFor {
		return f.err
	}
	return nil
}

// remember records the outcome of a connect to addr (nil: it worked).
func (p *Proxy) remember(addr string, err error) {
	if p.o.lambda.rememberFor <= 0 {
		return
	}
	p.ls.mu.Lock()
	defer p.ls.mu.Unlock()
	if err == nil {
		delete(p.ls.failures, addr)
		return
	}
	if p.ls.failures == nil {
		p.ls.failures = map[string]failure{}
	}
	p.ls.failures[addr] = failure{err, time.Now()}
}

// Discover connects to a bootstrap broker, learns the cluster's brokers
// and opens a listener for each, as Start does without
// WithDeferredDiscovery. It returns the failure (a dial, TLS, SASL or
// credentials error, for doctor.CauseOf) without logging it. ctx bounds it.
func (p *Proxy) Discover(ctx context.Context) error {
	err := p.discover(ctx)
	p.remember("", err)
	return err
}

// Shutdown stops the proxy gracefully: it closes the listeners, stops
// reading requests, lets every request already forwarded be answered and
// the answers reach their clients, and closes the connections. When ctx
// ends first it closes what is left, as Close does, and returns ctx's
// error.
func (p *Proxy) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.stopAcceptingLocked()
	p.ls.draining.Store(true)
	conns := make([]*clientConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.raw.SetReadDeadline(time.Now()) // wakes the request loop, which sees draining
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	for c := range p.conns {
		c.setWhy("the proxy's shutdown deadline passed")
		c.close()
	}
	p.mu.Unlock()
	<-done
	return ctx.Err()
}

// life is what an upstream connection records for the checks.
type life struct {
	heard    *atomic.Int64 // unix nanoseconds of the last frame read (or the connect)
	gone     *atomic.Bool  // it ended with nothing awaited (see idleEnd)
	retired  *atomic.Bool  // the proxy closes it to replace it
	readDone chan struct{} // closed when readUpstream returns
}

func newLife() life {
	l := life{heard: new(atomic.Int64), gone: new(atomic.Bool), retired: new(atomic.Bool), readDone: make(chan struct{})}
	l.heard.Store(time.Now().UnixNano())
	return l
}

// silentFor returns how long nothing was heard from the connection.
func (l life) silentFor(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, l.heard.Load()))
}

// lambdaConn is a client connection's state for this file.
type lambdaConn struct {
	checking atomic.Bool // a check's ApiVersions is under way
	checkNow atomic.Bool // CheckIdle asked for a check before the next request
}

// CheckIdle asks every client connection to check its upstream connection
// now rather than at its next request (WithUpstreamChecks; otherwise it
// does nothing): one silent for the check threshold is checked and one
// that closed while idle is replaced, each by its own request loop, so
// that a request arriving meanwhile waits for the outcome. A host calls it
// when it knows it was just thawed (a Lambda extension's INVOKE event),
// to take the check's pause before the client's request rather than in
// front of it; correctness never depends on it.
func (p *Proxy) CheckIdle() {
	if p.o.lambda.checkAfter <= 0 {
		return
	}
	p.mu.Lock()
	conns := make([]*clientConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	now := time.Now()
	for _, c := range conns {
		c.lc.checkNow.Store(true)
		c.raw.SetReadDeadline(now) // wakes the request loop, which sees checkNow
	}
}

// checkAsked runs the check CheckIdle asked for, if any; the request loop
// calls it after it set its read deadline (so that CheckIdle's wins).
func (c *clientConn) checkAsked() (bool, error) {
	if c.fr.Partial() || !c.lc.checkNow.Swap(false) {
		return false, nil
	}
	up := c.readyUpstream()
	if up == nil || c.inflight.Load() > 0 {
		return true, nil
	}
	_, err := c.fresh(up)
	return true, err
}

// renewOnTimer reports whether up's session is renewed when due while the
// client is idle: always without checks; with checks only while the
// connection is in use, since a silent one may be dead after a freeze and
// a failed renewal would end the client connection.
func (c *clientConn) renewOnTimer(up *upstream, now time.Time) bool {
	after := c.p.o.lambda.checkAfter
	return after <= 0 || !up.gone.Load() && up.silentFor(now) < after
}

// fresh returns an upstream connection fit to forward a request on: up,
// or (WithUpstreamChecks) a new one when up ended while idle or fails its
// check after a silence.
func (c *clientConn) fresh(up *upstream) (*upstream, error) {
	after := c.p.o.lambda.checkAfter
	if after <= 0 {
		return up, nil
	}
	if up.gone.Load() {
		return c.reconnect(up, "it closed while idle")
	}
	silent := up.silentFor(time.Now())
	if silent < after || c.inflight.Load() > 0 { // answers awaited tell of its health
		return up, nil
	}
	start := time.Now()
	err := c.check(up)
	if err == nil {
		c.p.log.Debug("upstream checked", append(c.logAttrs(), "upstream", up.addr, "silent", silent.Round(time.Millisecond).String(),
			"took", time.Since(start).Round(time.Microsecond).String())...)
		return up, nil
	}
	if c.closing() {
		return nil, net.ErrClosed
	}
	return c.reconnect(up, fmt.Sprintf("silent for %s, its check failed (cause %s): %v", silent.Round(time.Millisecond), doctor.CauseOf(err), err))
}

// check sends an ApiVersions request of the proxy's own on up and waits
// for its answer within the check timeout.
func (c *clientConn) check(up *upstream) error {
	ctx, cancel := context.WithTimeout(c.ctx, c.p.o.lambda.checkTimeout)
	defer cancel()
	c.lc.checking.Store(true)
	defer c.lc.checking.Store(false)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "msklink-proxy", "1"
	r, err := c.viaResponseLoop(ctx, up, req)
	if err != nil {
		return err
	}
	if code := r.(*kmsg.ApiVersionsResponse).ErrorCode; code != 0 {
		return fmt.Errorf("%s answered the check's ApiVersions with %w", up.addr, kerr.ErrorForCode(code))
	}
	return nil
}

// reconnect closes old and opens a new upstream connection to the same
// broker (or a bootstrap broker), which it returns. A failure closes the
// client connection, logged with its cause.
func (c *clientConn) reconnect(old *upstream, why string) (*upstream, error) {
	start := time.Now()
	old.retired.Store(true)
	old.nc.Close()
	select { // its last frames are the response loop's to take first
	case <-old.readDone:
	case <-c.done:
		return nil, net.ErrClosed
	}
	addr := c.l.upstream
	up, err := c.p.dialListener(c.ctx, addr)
	c.p.remember(addr, err)
	if err != nil {
		if c.closing() {
			return nil, net.ErrClosed
		}
		c.p.upstreamFailed(c, "reconnect", addr, err)
		c.setWhy("reconnecting upstream failed (cause %s)", doctor.CauseOf(err))
		return nil, errUpstream
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		up.nc.Close()
		return nil, net.ErrClosed
	}
	c.up = up
	c.mu.Unlock()
	go c.readUpstream(up)
	c.p.log.Info("upstream reconnected", append(c.logAttrs(), "upstream", up.addr, "reason", why,
		"paused", time.Since(start).Round(time.Millisecond).String())...)
	return up, nil
}

// idleEnd reports whether the client connection survives the end of f.up
// (WithUpstreamChecks): the proxy retired it itself, or it ended with no
// client request awaiting an answer on it (an idle close by MSK or a NAT,
// seen at a thaw): the next request reconnects. It marks f.up gone.
func (c *clientConn) idleEnd(f upFrame) bool {
	if c.p.o.lambda.checkAfter <= 0 || c.closing() || c.reauthing.Load() {
		return false
	}
	if f.up.retired.Load() {
		f.up.gone.Store(true)
		return true
	}
	if c.inflight.Load() > 0 && !c.lc.checking.Load() {
		return false
	}
	f.up.gone.Store(true)
	c.p.log.Info("upstream closed while idle: the next request reconnects", append(c.logAttrs(), "upstream", f.up.addr,
		"cause", doctor.CauseOf(f.err), "err", f.err.Error())...)
	return true
}

// dropAwaited gives up an answer awaited from an upstream that ended: the
// proxy's own request gets nil (its caller fails); false means a client's
// request was forwarded on it, and the client connection must close.
func (c *clientConn) dropAwaited(pd pending) bool {
	if c.inflight.Add(-1) == 0 {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
	if pd.internal == nil {
		c.p.upstreamFailed(c, "read", pd.up.addr, errForwardedOnGone)
		c.setWhy("upstream %s closed with a request forwarded on it (cause %s): closed so that the client retries", pd.up.addr, doctor.CauseConnectionReset)
		return false
	}
	pd.internal <- nil
	return true
}

var errForwardedOnGone = errors.New("the connection closed while idle, as a request was forwarded on it")
