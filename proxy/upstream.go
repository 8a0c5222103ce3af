package proxy

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/kafkawire"
)

// upstream is the proxy's own connection to one MSK broker: TLS (unless
// the Config says plaintext) and SASL with the proxy's identity. Writes
// come from one goroutine at a time (the client connection's request loop,
// or the connect before it starts); reads from the response loop, or the
// connect and discovery before it.
type upstream struct {
	p    *Proxy
	addr string // host:port dialed
	nc   net.Conn
	fr   kafkawire.FrameReader
	corr int32 // the proxy's own correlation IDs

	// reauthAt is when to re-authenticate (KIP-368); zero: never. Read
	// and written by the goroutine that writes.
	reauthAt time.Time
	lifetime time.Duration

	life // freshness, for WithUpstreamChecks (stale.go)
}

// reauthShare is the part of the session lifetime after which the proxy
// re-authenticates: early enough for in-flight requests (a fetch long
// poll) to drain and the token provider to have a fresh token (it renews
// at four fifths of a token's life), late enough to re-authenticate
// rarely. franz-go takes 95-98%.
const reauthShare = 0.85

// reauthAfter is when to re-authenticate a session of lifetime life: at
// reauthShare of it, leaving at least a second (half a short session) for
// requests already sent to arrive in time, and never sooner than a second
// after the last authentication, which Kafka refuses.
func reauthAfter(life time.Duration) time.Duration {
	margin := max(time.Duration(float64(life)*(1-reauthShare)), min(life/2, time.Second))
	return max(life-margin, time.Second)
}

// dial connects to addr (TCP, TLS) and authenticates. Errors keep their
// type (a *net.OpError dial, a TLS or SASL error) for doctor.CauseOf. A
// refusal of the identity is remembered (WithRefusalMemory): meanwhile
// dial returns it at once.
func (p *Proxy) dial(ctx context.Context, addr string) (*upstream, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("upstream address %q: %w", addr, err)
	}
	if err := p.rememberedRefusal(time.Now()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout+p.cfg.RequestTimeout)
	defer cancel()
	d := net.Dialer{Timeout: p.cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if p.tlsUp != nil {
		tc := p.tlsUp.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		nc = tlsConn
	}
	u := &upstream{p: p, addr: addr, nc: nc, fr: kafkawire.FrameReader{Pool: &p.bufs}, life: newLife()}
	if p.mech != nil {
		if dl, ok := ctx.Deadline(); ok {
			nc.SetDeadline(dl)
		}
		// The exchange's reads ignore ctx: its end (the client gone,
		// Close) wakes them through the deadline.
		stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
		err := u.authenticate(ctx, u.roundTrip)
		if !stop() && err == nil {
			err = context.Cause(ctx) // ended as it succeeded: the deadline may be past
		}
		nc.SetDeadline(time.Time{})
		if err != nil {
			nc.Close()
			p.noteRefusal(err, time.Now())
			return nil, err
		}
		p.refusal.Store(nil) // accepted: the identity works (again)
	}
	return u, nil
}

// refusal is MSK's last refusal of the proxy's identity.
type refusal struct {
	err error
	at  time.Time
}

// refusedEarlier is a remembered refusal, returned instead of a login to
// MSK. It wraps MSK's error: doctor.CauseOf and the clients' Kafka error
// are those of the refusal itself.
type refusedEarlier struct {
	err       error
	age, left time.Duration
}

func (e *refusedEarlier) Error() string {
	return fmt.Sprintf("%v (refused %s ago; MSK is not asked again for %s)", e.err, e.age.Round(time.Millisecond), e.left.Round(time.Millisecond))
}

func (e *refusedEarlier) Unwrap() error { return e.err }

// noteRefusal remembers err if it is MSK's refusal of the identity (see
// WithRefusalMemory).
func (p *Proxy) noteRefusal(err error, now time.Time) {
	if p.o.refusalMemory > 0 && errors.Is(err, kerr.SaslAuthenticationFailed) && doctor.CauseOf(err) != doctor.CauseTooManyConnects {
		p.refusal.Store(&refusal{err: err, at: now})
	}
}

// rememberedRefusal returns MSK's refusal of the identity if it came less
// than the refusal memory before now.
func (p *Proxy) rememberedRefusal(now time.Time) error {
	r := p.refusal.Load()
	if r == nil {
		return nil
	}
	age := now.Sub(r.at)
	if age >= p.o.refusalMemory || age < 0 {
		return nil
	}
	return &refusedEarlier{err: r.err, age: age, left: p.o.refusalMemory - age}
}

// roundTrip sends req on the connection and reads its response; for use
// while no response loop reads the connection.
func (u *upstream) roundTrip(req kmsg.Request) (kmsg.Response, error) {
	h, frame := u.encode(req)
	if _, err := u.nc.Write(frame); err != nil {
		return nil, err
	}
	raw, err := u.fr.Next(u.nc, kafkawire.MaxFrame)
	if err != nil {
		return nil, err
	}
	return u.decode(h, raw[4:])
}

// encode frames one of the proxy's own requests.
func (u *upstream) encode(req kmsg.Request) (kafkawire.Header, []byte) {
	u.corr++
	h := kafkawire.Header{Key: req.Key(), Version: req.GetVersion(), Corr: u.corr, Flexible: req.IsFlexible()}
	return h, u.p.formatter.AppendRequest(nil, req, u.corr)
}

// decode checks the correlation ID of a response to one of the proxy's
// own requests and decodes it.
func (u *upstream) decode(h kafkawire.Header, body []byte) (kmsg.Response, error) {
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != h.Corr {
		return nil, fmt.Errorf("%s: answered %s out of order", u.addr, kmsg.NameForKey(h.Key))
	}
	return kafkawire.DecodeResponse(h, body)
}

// authenticate runs SaslHandshake v1 and SaslAuthenticate v1 (which
// carries the session lifetime) through rt, and schedules the next
// re-authentication. Failures wrap the broker's Kafka error and message.
func (u *upstream) authenticate(ctx context.Context, rt func(kmsg.Request) (kmsg.Response, error)) error {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = u.p.mech.Name()
	r, err := rt(hs)
	if err != nil {
		return fmt.Errorf("SaslHandshake with %s: %w", u.addr, err)
	}
	if hr := r.(*kmsg.SASLHandshakeResponse); hr.ErrorCode != 0 {
		return fmt.Errorf("SaslHandshake with %s: %w (the listener offers %v; IAM is MSK's port 9098)", u.addr, kerr.ErrorForCode(hr.ErrorCode), hr.SupportedMechanisms)
	}
	sess, out, err := u.p.mech.Authenticate(ctx, u.addr)
	if err != nil {
		return err // an *iamauth.CredentialsError, most likely
	}
	for {
		start := time.Now()
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.SetVersion(1)
		ar.SASLAuthBytes = out
		r, err := rt(ar)
		if err != nil {
			return fmt.Errorf("SaslAuthenticate with %s: %w", u.addr, err)
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			msg := ""
			if resp.ErrorMessage != nil {
				msg = ": " + *resp.ErrorMessage
			}
			return fmt.Errorf("%s rejected the proxy's %s authentication: %w%s", u.addr, u.p.mech.Name(), kerr.ErrorForCode(resp.ErrorCode), msg)
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("%s authentication with %s: %w", u.p.mech.Name(), u.addr, err)
		}
		if done {
			u.lifetime = time.Duration(resp.SessionLifetimeMillis) * time.Millisecond
			u.reauthAt = time.Time{}
			if u.lifetime > 0 {
				u.reauthAt = start.Add(reauthAfter(u.lifetime))
			}
			return nil
		}
		out = next
	}
}

// reauthDue reports whether the session must be renewed before the next
// request.
func (u *upstream) reauthDue(now time.Time) bool {
	return !u.reauthAt.IsZero() && !now.Before(u.reauthAt)
}

// discover connects to a seed broker, learns its API versions and the
// cluster's brokers, and opens a listener for each broker, in node ID
// order.
func (p *Proxy) discover(ctx context.Context) error {
	u, err := p.dialSeed(ctx)
	if err != nil {
		return err
	}
	defer u.nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		u.nc.SetDeadline(dl)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	av.ClientSoftwareName, av.ClientSoftwareVersion = "msklink-proxy", "1"
	r, err := u.roundTrip(av)
	if err != nil {
		return fmt.Errorf("ApiVersions with %s: %w", u.addr, err)
	}
	if resp := r.(*kmsg.ApiVersionsResponse); resp.ErrorCode == 0 {
		p.setVersions(resp)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	md.Topics = []kmsg.MetadataRequestTopic{} // no topics: brokers only
	r, err = u.roundTrip(md)
	if err != nil {
		return fmt.Errorf("Metadata with %s: %w", u.addr, err)
	}
	resp := r.(*kmsg.MetadataResponse)
	if len(resp.Brokers) == 0 {
		return fmt.Errorf("Metadata from %s lists no brokers", u.addr)
	}
	sort.Slice(resp.Brokers, func(i, j int) bool { return resp.Brokers[i].NodeID < resp.Brokers[j].NodeID })
	return p.rewriteBrokers(resp) // opens the listeners, in node ID order
}

// dialListener connects for a listener: to its broker addr, or to a
// bootstrap broker ("": the bootstrap listener).
func (p *Proxy) dialListener(ctx context.Context, addr string) (*upstream, error) {
	if addr == "" {
		return p.dialSeed(ctx)
	}
	return p.dial(ctx, addr)
}

// dialSeed connects to the first bootstrap broker that answers, starting
// at the next one in turn so that connections spread over them. A refusal
// of the identity ends the search (see WithRefusalMemory).
func (p *Proxy) dialSeed(ctx context.Context) (*upstream, error) {
	start := int(p.seedNext.Add(1))
	var err error
	for i := range p.seeds {
		var u *upstream
		if u, err = p.dial(ctx, p.seeds[(start+i)%len(p.seeds)]); err == nil {
			return u, nil
		}
		if ctx.Err() != nil {
			break
		}
		if p.rememberedRefusal(time.Now()) != nil {
			return nil, err // MSK refused the identity: the other seeds would too
		}
	}
	if len(p.seeds) == 1 {
		return nil, err
	}
	// The last error stands for all: they are nearly always the same.
	return nil, fmt.Errorf("no bootstrap broker of %d answered; the last: %w", len(p.seeds), err)
}
