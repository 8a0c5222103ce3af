package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/kafkaconn"
)

// Proxy is a running gateway. Its methods are safe for concurrent use.
type Proxy struct {
	o          options
	cfg        kafkaconn.Config
	log        *slog.Logger
	tlsUp      *tls.Config    // upstream TLS; nil: plaintext
	mech       sasl.Mechanism // upstream SASL; nil: none
	listenTLS  *tls.Config    // client side; nil: plaintext
	formatter  *kmsg.RequestFormatter
	seeds      []string
	seedNext   atomic.Uint32
	bindHost   string
	advHost    string
	versions   atomic.Pointer[kmsg.ApiVersionsResponse] // the last upstream ApiVersions, fixed
	scramCreds sync.Map                                 // mechanism NUL user -> *scram.Credentials, see scramCredentials

	mu         sync.Mutex
	closed     bool
	boot       *listener
	byUpstream map[string]*listener
	nextPort   int // the next sequential broker port; 0: ephemeral
	conns      map[*clientConn]struct{}
	wg         sync.WaitGroup

	learnMu   sync.Mutex
	learning  chan struct{} // closed when the discovery under way ends; nil: none
	learnLast time.Time     // when the last discovery for learnVersions failed
	learnErr  error

	refusal atomic.Pointer[refusal] // MSK's last refusal of the identity, see WithRefusalMemory
	bufs    kafkawire.BufferPool    // frames over 1 MiB, both directions of every connection

	failMu    sync.Mutex
	failLast  map[failureKind]time.Time
	failQuiet map[failureKind]int

	ls     lambdaState // stale.go
	connID atomic.Uint64
	stats  struct {
		accepted, refused, upstreamFailures, reauths, in, out atomic.Int64
	}
}

// Broker is one listener of the proxy.
type Broker struct {
	NodeID   int32  `json:"node_id"`  // -1 for the bootstrap listener
	Upstream string `json:"upstream"` // the MSK broker (bootstrap: the seeds, comma-separated)
	Local    string `json:"local"`    // the address clients are given
}

// Stats are the proxy's counters since Start.
type Stats struct {
	Listeners         int   `json:"listeners"`          // bootstrap included
	Connections       int   `json:"connections"`        // client connections open now
	Accepted          int64 `json:"accepted"`           // client connections accepted
	Refused           int64 `json:"refused"`            // closed at once, over the connection limit
	UpstreamFailures  int64 `json:"upstream_failures"`  // failed connects, re-authentications and reads
	Reauthentications int64 `json:"reauthentications"`  // upstream sessions renewed in place (KIP-368)
	BytesFromClients  int64 `json:"bytes_from_clients"` // requests, frames included
	BytesToClients    int64 `json:"bytes_to_clients"`   // responses, frames included
}

var errClosed = errors.New("proxy: closed")

// listener is one local listener: the bootstrap one (upstream "") or one
// per MSK broker.
type listener struct {
	ln       net.Listener
	local    string // advertised host:port
	port     int32
	upstream string // "" for the bootstrap listener
	node     int32
}

// Start validates cfg (the upstream connection, as for any msklink
// client), opens the bootstrap listener and discovers the cluster's
// brokers, opening a listener for each. A failed discovery is logged with
// its cause and does not fail Start: the proxy keeps serving, and clients
// get Kafka errors until MSK answers. ctx bounds Start only; Close stops
// the proxy.
func Start(ctx context.Context, cfg kafkaconn.Config, opts ...Opt) (*Proxy, error) {
	o := options{listen: DefaultListen, clientAuth: ClientAuthNone, maxConns: DefaultMaxConnections, idle: DefaultIdleTimeout, refusalMemory: DefaultRefusalMemory}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := o.lambda.validate(); err != nil {
		return nil, err
	}
	adv, err := o.advertisedHost()
	if err != nil {
		return nil, err
	}
	warns, err := cfg.Validate()
	if err != nil {
		return nil, fmt.Errorf("proxy: upstream settings: %w", err)
	}
	for _, w := range warns {
		o.log.Warn("upstream settings", "field", w.Field, "warning", w.Msg)
	}
	cfg = withDefaults(cfg)
	p := &Proxy{o: o, cfg: cfg, log: o.log, seeds: cfg.Brokers, advHost: adv,
		formatter:  kmsg.NewRequestFormatter(kmsg.FormatterClientID(cfg.ClientID)),
		byUpstream: map[string]*listener{}, conns: map[*clientConn]struct{}{},
		failLast: map[failureKind]time.Time{}, failQuiet: map[failureKind]int{}}
	if p.tlsUp, err = kafkaconn.TLSConfig(cfg); err != nil {
		return nil, fmt.Errorf("proxy: upstream TLS: %w", err)
	}
	if p.mech, err = kafkaconn.Mechanism(ctx, cfg, o.provider); err != nil {
		return nil, fmt.Errorf("proxy: upstream SASL: %w", err)
	}
	if o.listenTLS != nil {
		p.listenTLS = o.listenTLS.Clone()
		if p.listenTLS.MinVersion == 0 {
			p.listenTLS.MinVersion = tls.VersionTLS12
		}
		if o.clientAuth == ClientAuthTLS {
			p.listenTLS.ClientAuth = tls.RequireAndVerifyClientCert
			p.listenTLS.ClientCAs = o.clientCAs
		}
	}
	host, port, _ := net.SplitHostPort(o.listen)
	p.bindHost = host
	p.mu.Lock()
	p.boot, err = p.listenLocked(o.listen, "", -1)
	if n, _ := strconv.Atoi(port); err == nil && n > 0 {
		p.nextPort = n + 1
	}
	p.mu.Unlock()
	if err != nil {
		hint := ""
		if errors.Is(err, syscall.EADDRINUSE) {
			hint = ": another process (another msklink proxy?) listens there; pick another address"
		}
		return nil, fmt.Errorf("proxy: listening: %w%s", err, hint)
	}
	mode := string(o.clientAuth)
	if p.listenTLS != nil && o.clientAuth != ClientAuthTLS {
		mode += " over TLS"
	}
	p.log.Info("proxy listening", "bootstrap", p.boot.local, "upstream", fmt.Sprint(p.seeds), "upstream_auth", string(cfg.Auth), "client_auth", mode)
	if !isLoopback(host) && o.clientAuth == ClientAuthNone {
		p.log.Warn("listening beyond loopback without client authentication: anyone who reaches the proxy uses the cluster with its identity", "listen", o.listen)
	}
	if o.lambda.deferDiscovery {
		return p, nil
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+2*cfg.RequestTimeout)
	defer cancel()
	if err := p.discover(dctx); err != nil {
		p.upstreamFailed(nil, "discover", "", err)
	}
	return p, nil
}

// withDefaults fills the connection settings the proxy reads itself, as
// kafkaconn does for its clients.
func withDefaults(cfg kafkaconn.Config) kafkaconn.Config {
	if cfg.Auth == "" {
		cfg.Auth = kafkaconn.AuthIAM
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = kafkaconn.DefaultDialTimeout
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = kafkaconn.DefaultRequestTimeout
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "msklink-proxy"
	}
	return cfg
}

// listenLocked opens a listener on addr for the broker at upstream ("":
// the bootstrap listener). p.mu is held.
func (p *Proxy) listenLocked(addr, upstream string, node int32) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	_, portStr, _ := net.SplitHostPort(ln.Addr().String())
	n, _ := strconv.Atoi(portStr)
	l := &listener{ln: ln, port: int32(n), local: net.JoinHostPort(p.advHost, portStr), upstream: upstream, node: node}
	p.wg.Add(1)
	go p.accept(l)
	return l, nil
}

// listenBrokerLocked opens the listener for the broker at upstream on the
// next sequential port, or an ephemeral one if that is taken (or the
// bootstrap port was 0). p.mu is held.
func (p *Proxy) listenBrokerLocked(upstream string, node int32) (*listener, error) {
	if p.nextPort > 0 && p.nextPort < 65536 {
		port := p.nextPort
		p.nextPort++
		l, err := p.listenLocked(net.JoinHostPort(p.bindHost, strconv.Itoa(port)), upstream, node)
		if err == nil {
			return l, nil
		}
		p.log.Warn("sequential broker port taken: using an ephemeral port", "port", port, "upstream", upstream, "err", err)
	}
	l, err := p.listenLocked(net.JoinHostPort(p.bindHost, "0"), upstream, node)
	if err != nil {
		return nil, fmt.Errorf("proxy: listening for broker %s: %w", upstream, err)
	}
	return l, nil
}

func (p *Proxy) accept(l *listener) {
	defer p.wg.Done()
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: let it pass
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			nc.Close()
			return
		}
		if len(p.conns) >= p.o.maxConns {
			p.mu.Unlock()
			p.stats.refused.Add(1)
			p.log.Warn("client connection refused: connection limit reached", "limit", p.o.maxConns, "remote", nc.RemoteAddr().String(), "listener", l.local)
			nc.Close()
			continue
		}
		c := newClientConn(p, l, nc)
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		p.stats.accepted.Add(1)
		go func() {
			defer p.wg.Done()
			c.serve()
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		}()
	}
}

// Addr returns the bootstrap address clients connect to.
func (p *Proxy) Addr() string { return p.boot.local }

// Brokers returns the listeners, bootstrap first, then brokers by node ID.
func (p *Proxy) Brokers() []Broker {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Broker, 0, len(p.byUpstream))
	for _, l := range p.byUpstream {
		out = append(out, Broker{NodeID: l.node, Upstream: l.upstream, Local: l.local})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].NodeID != out[j].NodeID {
			return out[i].NodeID < out[j].NodeID
		}
		return out[i].Upstream < out[j].Upstream
	})
	boot := Broker{NodeID: -1, Local: p.boot.local}
	for i, s := range p.seeds {
		if i > 0 {
			boot.Upstream += ","
		}
		boot.Upstream += s
	}
	return append([]Broker{boot}, out...)
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	s := Stats{Listeners: 1 + len(p.byUpstream), Connections: len(p.conns)}
	p.mu.Unlock()
	s.Accepted = p.stats.accepted.Load()
	s.Refused = p.stats.refused.Load()
	s.UpstreamFailures = p.stats.upstreamFailures.Load()
	s.Reauthentications = p.stats.reauths.Load()
	s.BytesFromClients = p.stats.in.Load()
	s.BytesToClients = p.stats.out.Load()
	return s
}

// Close stops the listeners, closes every client connection (and its
// upstream one) and waits for them. It is safe to call more than once.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.stopAcceptingLocked()
	for c := range p.conns {
		c.setWhy("the proxy is closing")
		c.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

// stopAcceptingLocked marks the proxy closed (accept closes what it still
// takes), closes its listeners and the connections Warm kept: the first
// steps of Close and Shutdown. p.mu is held.
func (p *Proxy) stopAcceptingLocked() {
	p.closed = true
	p.closeWarmLocked()
	p.boot.ln.Close()
	for _, l := range p.byUpstream {
		l.ln.Close()
	}
}

// setVersions keeps the last good ApiVersions answer (already fixed), for
// answering clients before they authenticate (ClientAuthSCRAM).
func (p *Proxy) setVersions(resp *kmsg.ApiVersionsResponse) {
	cp := *resp
	cp.ApiKeys = append([]kmsg.ApiVersionsResponseApiKey(nil), resp.ApiKeys...)
	if cp.ErrorCode == 0 && len(cp.ApiKeys) > 0 {
		fixVersions(&cp)
		p.versions.Store(&cp)
	}
}

// relearnEvery bounds the discoveries learnVersions runs while MSK cannot
// be reached: clients that have not authenticated must not make the proxy
// connect upstream at their pace.
const relearnEvery = time.Second

// learnVersions returns MSK's API versions (fixed) for answering clients
// that have not authenticated (ClientAuthSCRAM), running the discovery
// when the proxy has not learned them yet: once for all the clients that
// ask meanwhile, and not again within relearnEvery of a failure, whose
// error it returns. Nothing of the client's reaches MSK.
func (p *Proxy) learnVersions(ctx context.Context) (*kmsg.ApiVersionsResponse, error) {
	for {
		if v := p.versions.Load(); v != nil {
			return v, nil
		}
		p.learnMu.Lock()
		if ch := p.learning; ch != nil {
			p.learnMu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if p.learnErr != nil && time.Since(p.learnLast) < relearnEvery {
			err := p.learnErr
			p.learnMu.Unlock()
			return nil, err
		}
		ch := make(chan struct{})
		p.learning = ch
		p.learnMu.Unlock()

		dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout+2*p.cfg.RequestTimeout)
		err := p.discover(dctx)
		cancel()
		if err == nil && p.versions.Load() == nil {
			err = errors.New("MSK's ApiVersions answer held an error")
		}
		p.learnMu.Lock()
		p.learning = nil
		p.learnErr, p.learnLast = nil, time.Time{}
		if err != nil && ctx.Err() == nil { // the asking client's leaving is no answer
			p.learnErr, p.learnLast = err, time.Now()
			p.upstreamFailed(nil, "discover", "", err)
		}
		p.learnMu.Unlock()
		close(ch)
		if err != nil {
			return nil, err
		}
	}
}

// failureLogEvery bounds the warnings for one kind of upstream failure
// (stage, cause, broker): clients retrying against a broken upstream would
// otherwise flood the log. The others are logged at debug level and
// counted in the next warning.
const failureLogEvery = 10 * time.Second

type failureKind struct{ stage, cause, upstream string }

// upstreamFailed logs a failed upstream connect, re-authentication, read
// or write with the doctor's cause code.
func (p *Proxy) upstreamFailed(c *clientConn, stage, addr string, err error) {
	p.stats.upstreamFailures.Add(1)
	cause := doctor.CauseOf(err)
	attrs := []any{"stage", stage, "cause", cause, "err", err.Error()}
	if addr != "" {
		attrs = append(attrs, "upstream", addr)
	}
	if c != nil {
		attrs = append(c.logAttrs(), attrs...)
	}
	k, now := failureKind{stage, cause, addr}, time.Now()
	p.failMu.Lock()
	last, seen := p.failLast[k]
	quiet := seen && now.Sub(last) < failureLogEvery
	n := p.failQuiet[k]
	if quiet {
		p.failQuiet[k]++
	} else {
		p.failLast[k], p.failQuiet[k] = now, 0
	}
	p.failMu.Unlock()
	if quiet {
		p.log.Debug("upstream failed", attrs...)
		return
	}
	if n > 0 {
		attrs = append(attrs, "same_failures_since_last_warning", n)
	}
	p.log.Warn("upstream failed", attrs...)
}
