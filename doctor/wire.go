package doctor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
)

// wconn is one raw Kafka connection: requests are encoded with kmsg and
// answers decoded by hand, so the doctor sees exact error codes and broker
// messages rather than a client's retries. Not safe for concurrent use; each
// probe owns its connection.
type wconn struct {
	c        net.Conn
	addr     string // host:port dialed
	host     string // host without port (TLS server name, AWS_MSK_IAM host)
	corr     int32
	f        *kmsg.RequestFormatter
	versions map[int16]int16 // max version per API key, from ApiVersions
}

// maxFrame bounds a response size: a non-Kafka peer (a TLS listener
// answering plaintext with an alert) yields absurd sizes.
const maxFrame = 64 << 20

// errNotKafka means the peer's answer was not a Kafka response frame.
var errNotKafka = errors.New("answer is not a Kafka response")

// request sends r (at the version set on it) and returns its response,
// bounded by ctx's deadline.
func (w *wconn) request(ctx context.Context, r kmsg.Request) (kmsg.Response, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = w.c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = w.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	w.corr++
	corr := w.corr
	buf := w.f.AppendRequest(nil, r, corr)
	if _, err := w.c.Write(buf); err != nil {
		return nil, ctxErr(ctx, err)
	}
	body, err := readFrame(w.c)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != corr {
		return nil, fmt.Errorf("%w: correlation id mismatch", errNotKafka)
	}
	body = body[4:]
	resp := r.ResponseKind()
	resp.SetVersion(r.GetVersion())
	if resp.IsFlexible() && r.Key() != 18 { // ApiVersions answers with a v0 header
		n, k := binary.Uvarint(body)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad header tags", errNotKafka)
		}
		body = body[k:]
		for range n {
			_, k1 := binary.Uvarint(body)
			if k1 <= 0 {
				return nil, fmt.Errorf("%w: bad header tag", errNotKafka)
			}
			body = body[k1:]
			sz, k2 := binary.Uvarint(body)
			if k2 <= 0 || uint64(len(body)-k2) < sz {
				return nil, fmt.Errorf("%w: bad header tag", errNotKafka)
			}
			body = body[k2+int(sz):]
		}
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("%w: decoding %s v%d: %v", errNotKafka, kmsg.NameForKey(r.Key()), r.GetVersion(), err)
	}
	return resp, nil
}

// readFrame reads one size-prefixed frame.
func readFrame(r io.Reader) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n > maxFrame {
		if sz[0] == 0x15 && sz[1] == 0x03 { // a TLS alert record
			return nil, fmt.Errorf("%w: the peer answered with a TLS alert", errNotKafka)
		}
		return nil, fmt.Errorf("%w: frame size %d", errNotKafka, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

// ctxErr prefers the context's error when it ended the I/O, so a deadline
// reads as a timeout.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// apiVersions asks the broker's versions (v3, falling back to v0 for old
// brokers) and records them.
func (w *wconn) apiVersions(ctx context.Context) (*kmsg.ApiVersionsResponse, error) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName = "msklink-doctor"
	req.ClientSoftwareVersion = "1"
	r, err := w.request(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := r.(*kmsg.ApiVersionsResponse)
	if resp.ErrorCode == kerr.UnsupportedVersion.Code {
		req.SetVersion(0)
		if r, err = w.request(ctx, req); err != nil {
			return nil, err
		}
		resp = r.(*kmsg.ApiVersionsResponse)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return resp, err
	}
	w.versions = make(map[int16]int16, len(resp.ApiKeys))
	for _, k := range resp.ApiKeys {
		w.versions[k.ApiKey] = k.MaxVersion
	}
	return resp, nil
}

// version picks min(want, broker's max) for key; ok is false if the broker
// does not offer key.
func (w *wconn) version(key, want int16) (int16, bool) {
	max, ok := w.versions[key]
	if !ok {
		return 0, false
	}
	return min(want, max), true
}

// saslError is a SASL failure with the broker's own words.
type saslError struct {
	stage   string // "handshake" or "authenticate"
	code    int16
	message string   // the broker's error message, if any
	offered []string // mechanisms the listener offers (handshake)
}

func (e *saslError) Error() string {
	s := fmt.Sprintf("SASL %s failed: %v", e.stage, kerr.ErrorForCode(e.code))
	if e.message != "" {
		s += ": " + e.message
	}
	if len(e.offered) > 0 {
		s += fmt.Sprintf(" (listener offers %v)", e.offered)
	}
	return s
}

// authenticate runs SaslHandshake v1 and SaslAuthenticate rounds for m.
// It returns the mechanisms the listener offers and the session lifetime.
func (w *wconn) authenticate(ctx context.Context, m sasl.Mechanism) (offered []string, lifetime time.Duration, err error) {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = m.Name()
	r, err := w.request(ctx, hs)
	if err != nil {
		return nil, 0, err
	}
	hr := r.(*kmsg.SASLHandshakeResponse)
	offered = hr.SupportedMechanisms
	if hr.ErrorCode != 0 {
		return offered, 0, &saslError{stage: "handshake", code: hr.ErrorCode, offered: offered}
	}
	sess, out, err := m.Authenticate(ctx, w.addr)
	if err != nil {
		return offered, 0, fmt.Errorf("preparing %s: %w", m.Name(), err)
	}
	av, _ := w.version(36, 2)
	for {
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.SetVersion(av)
		ar.SASLAuthBytes = out
		r, err := w.request(ctx, ar)
		if err != nil {
			return offered, 0, err
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			e := &saslError{stage: "authenticate", code: resp.ErrorCode}
			if resp.ErrorMessage != nil {
				e.message = *resp.ErrorMessage
			}
			return offered, 0, e
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return offered, 0, fmt.Errorf("%s challenge: %w", m.Name(), err)
		}
		if done {
			return offered, time.Duration(resp.SessionLifetimeMillis) * time.Millisecond, nil
		}
		out = next
	}
}

// netKind classifies a connection-level error.
type netKind int

const (
	netOther netKind = iota
	netTimeout
	netRefused
	netReset
)

func classifyNet(err error) netKind {
	var ne net.Error
	switch {
	case err == nil:
		return netOther
	case errors.Is(err, syscall.ECONNREFUSED):
		return netRefused
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &ne) && ne.Timeout():
		return netTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		return netReset
	}
	return netOther
}
