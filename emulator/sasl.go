package emulator

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/kafkawire"
)

// SASL mechanism names.
const (
	mechOAuth    = "OAUTHBEARER"
	mechMSKIAM   = "AWS_MSK_IAM"
	mechSCRAM512 = "SCRAM-SHA-512"
	mechSCRAM256 = "SCRAM-SHA-256"
)

// session is the SASL state of one connection (read loop only).
type session struct {
	mech      string // chosen by the last SaslHandshake
	raw       bool   // after a v0 handshake: next frame is raw SASL bytes
	scram     *scramExchange
	authed    bool
	principal string    // ARN or User:<name>
	authMech  string    // the mechanism of the last successful authentication
	expires   time.Time // zero: no limit
}

// authnState is who a connection is authenticated as, for authorization.
// Each (re-)authentication stores a new one (never modified), so the write
// loop's response hooks may read it while the read loop re-authenticates.
type authnState struct {
	principal string
	ident     *identity
}

// The texts MSK's IAM authenticator answers a failed SaslAuthenticate
// with, after "[<request id>]: ". MSK says nothing more; see
// authFailure.reason for what the emulator knows.
const (
	mskAccessDenied    = "Access denied"
	mskTooManyConnects = "Too many connects"
	mskSessionTooShort = "Session too short"
	mskInvalidPayload  = "Invalid authentication payload"
)

// kafkaSCRAMFailed is Apache Kafka's message for a failed SCRAM exchange
// (MSK's SCRAM listener is Kafka's own authenticator), followed by the
// mechanism.
const kafkaSCRAMFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism "

// minSessionLifetime is the shortest session the IAM listener grants:
// credentials that expire sooner fail with "Session too short". MSK does
// not document its bound; AWS told franz-go users (twmb/franz-go#731) that
// MSK still grants sessions of credentials about 2 s from expiry, so the
// emulator refuses only those under 1 s.
const minSessionLifetime = time.Second

// authFailure is a rejected authentication: what the client is told (MSK's
// text, or Kafka's own message where Kafka answers) and the emulator's
// exact reason, which goes to the "authn" log line and the admin endpoint
// with the request id, and to the client only with VerboseAuthErrors.
type authFailure struct {
	id     string // the request id of "[<id>]: ..." and the log line
	msg    string // mskAccessDenied, ...; or Kafka's whole message when kafka is set
	kafka  bool   // msg is Apache Kafka's message, sent without a request id
	reason string
}

func (e *authFailure) Error() string { return e.reason }

// message is the SaslAuthenticate error message for f: MSK's
// "[<id>]: Access denied" (and its other texts), or Kafka's own message;
// with VerboseAuthErrors the reason follows after ": ".
func (c *conn) message(f *authFailure) string {
	msg := f.msg
	if !f.kafka {
		msg = "[" + f.id + "]: " + f.msg
	}
	if c.l.b.c.cfg.VerboseAuthErrors && f.reason != "" && f.reason != f.msg {
		msg += ": " + f.reason
	}
	return msg
}

// deny fails an authentication with one of MSK's texts (on the SCRAM
// listener: Kafka's SCRAM message, except for the connection rate limit).
func (c *conn) deny(mech, principal, msg, reason string, extra ...any) *authFailure {
	f := &authFailure{id: newRequestID(), msg: msg, reason: reason}
	if c.l.kind == SCRAM && msg != mskTooManyConnects {
		f.msg, f.kafka = kafkaSCRAMFailed+mech, true
	}
	return c.record(f, mech, principal, extra)
}

// denyKafka fails an authentication with Apache Kafka's own message, which
// MSK passes on as is (re-authentication rules, KIP-368).
func (c *conn) denyKafka(mech, principal, msg string) *authFailure {
	return c.record(&authFailure{id: newRequestID(), msg: msg, kafka: true, reason: msg}, mech, principal, nil)
}

// record logs f (with the request id, so that a client's "[<id>]: Access
// denied" can be matched with its reason) and keeps it for the admin
// endpoint.
func (c *conn) record(f *authFailure, mech, principal string, extra []any) *authFailure {
	cl := c.l.b.c
	msg := c.message(f)
	c.audit("deny", mech, principal, f.reason, append([]any{"request_id", f.id, "client_message", msg}, extra...)...)
	cl.recordAuthFailure(AuthFailure{
		Time: cl.now(), RequestID: f.id, Broker: c.l.b.id, Listener: c.l.kind.String(),
		Remote: c.raw.RemoteAddr().String(), Mechanism: mech, Principal: principal,
		ClientMessage: msg, Reason: f.reason,
	})
	return f
}

// mechanisms returns the mechanisms enabled on the listener.
func (c *conn) mechanisms() []string {
	if c.l.kind == IAM {
		return []string{mechMSKIAM, mechOAuth}
	}
	var ms []string
	for _, u := range c.l.b.c.cfg.SCRAMUsers {
		if !slices.Contains(ms, u.Mechanism) {
			ms = append(ms, u.Mechanism)
		}
	}
	if len(ms) == 0 {
		ms = []string{mechSCRAM512}
	}
	slices.Sort(ms)
	slices.Reverse(ms) // SCRAM-SHA-512 first
	return ms
}

func (c *conn) handshake(h kafkawire.Header, frame []byte) error {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return err
	}
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.SupportedMechanisms = c.mechanisms()
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.audit("deny", req.Mechanism, "", fmt.Sprintf("SASL mechanism %q is not enabled on the %s listener (enabled: %s)", req.Mechanism, c.l.kind, strings.Join(resp.SupportedMechanisms, ", ")))
		c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp), closeAfter: true})
		return errClose
	}
	if c.sess.authed && h.Version == 0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp), closeAfter: true})
		return errClose
	}
	c.sess.mech = req.Mechanism
	c.sess.scram = nil
	c.sess.raw = h.Version == 0
	if !c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp)}) {
		return errClose
	}
	return nil
}

func (c *conn) authenticate(h kafkawire.Header, frame []byte) error {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return err
	}
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	if c.sess.mech == "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate before SaslHandshake"
		resp.ErrorMessage = &msg
		c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp), closeAfter: true})
		return errClose
	}
	out, done, ferr := c.saslStep(req.SASLAuthBytes)
	if ferr != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(c.message(ferr))
		c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp), closeAfter: true})
		return errClose
	}
	resp.SASLAuthBytes = out
	if done {
		c.sess.mech = ""
		if !c.sess.expires.IsZero() && h.Version >= 1 {
			resp.SessionLifetimeMillis = max(1, c.sess.expires.Sub(c.l.b.c.now()).Milliseconds())
		}
	}
	if !c.send(slot{h: h, local: kafkawire.EncodeResponseFrame(h, resp)}) {
		return errClose
	}
	return nil
}

// rawSASL handles a raw SASL frame after a v0 SaslHandshake. Failures close
// the connection without an answer, as Kafka (and MSK) do.
func (c *conn) rawSASL(frame []byte) error {
	out, done, ferr := c.saslStep(frame)
	if ferr != nil {
		return errClose
	}
	if done {
		c.sess.raw = false
		c.sess.mech = ""
	}
	if !c.send(slot{local: kafkawire.AppendFrame(nil, out)}) {
		return errClose
	}
	return nil
}

// saslStep runs one step of the chosen mechanism. done reports a
// successful end of the exchange; the session is then authenticated.
func (c *conn) saslStep(in []byte) (out []byte, done bool, fail *authFailure) {
	cl := c.l.b.c
	now := cl.now()
	mech := c.sess.mech
	if c.sess.authed && mech != c.sess.authMech {
		// Kafka's own message (SaslServerAuthenticator, KIP-368).
		return nil, false, c.denyKafka(mech, c.sess.principal, fmt.Sprintf("SASL mechanism '%s' requested by client is not supported for re-authentication of mechanism '%s'", mech, c.sess.authMech))
	}
	if c.tooMany {
		lim := cl.cfg.Limits.NewConnectionsPerSecond
		return nil, false, c.deny(mech, "", mskTooManyConnects, fmt.Sprintf("over the limit of %d new connections per second on broker %d", lim, c.l.b.id))
	}
	var (
		principal string
		ident     *identity
		expires   time.Time
		akid      string
	)
	switch mech {
	case mechOAuth, mechMSKIAM:
		var (
			p   iamauth.Principal
			err error
		)
		if mech == mechOAuth {
			var tok string
			if tok, err = parseOAuthClientFirst(in); err == nil {
				p, err = iamauth.Verify(tok, cl.lookup, now, iamauth.ExpectRegion(cl.cfg.Region))
			}
		} else {
			p, err = iamauth.VerifyPayload(in, c.l.b.host, cl.lookup, now, iamauth.ExpectRegion(cl.cfg.Region))
			if err == nil {
				out = fmt.Appendf(nil, `{"version":%q,"request-id":%q}`, iamauth.PayloadVersion, newRequestID())
			}
		}
		akid = p.AccessKeyID
		if err != nil {
			msg := mskAccessDenied
			var ve *iamauth.VerifyError
			if errors.Is(err, errBadOAuth) || errors.As(err, &ve) && ve.Check == iamauth.CheckMalformed {
				msg = mskInvalidPayload
			}
			return nil, false, c.deny(mech, "", msg, err.Error(), "access_key_id", akid)
		}
		ident = cl.idents[p.AccessKeyID]
		principal = p.ARN
		d := iampolicy.EvaluateAll(ident.policies, string(iampolicy.Connect), cl.ClusterARN())
		cl.log.Info("authz", "principal", principal, "action", string(iampolicy.Connect), "resource", cl.ClusterARN(),
			"decision", decisionWord(d), "reason", d.String(), "broker", c.l.b.id, "listener", c.l.kind.String())
		if !d.Allowed() {
			return nil, false, c.deny(mech, principal, mskAccessDenied, "not authorized to perform kafka-cluster:Connect on "+cl.ClusterARN()+": "+d.String(), "access_key_id", akid)
		}
		expires = p.CredentialsExpire
		if !expires.IsZero() && expires.Sub(now) < minSessionLifetime {
			return nil, false, c.deny(mech, principal, mskSessionTooShort, fmt.Sprintf("the credentials of access key id %s expire at %s, in less than %s: refresh them", akid, expires.UTC().Format(time.RFC3339Nano), minSessionLifetime), "access_key_id", akid)
		}
		done = true
	case mechSCRAM512, mechSCRAM256:
		if c.sess.scram == nil {
			x, first, err := cl.scramFirst(mech, in)
			if err != nil {
				return nil, false, c.deny(mech, "", mskAccessDenied, err.Error())
			}
			c.sess.scram = x
			return first, false, nil
		}
		x := c.sess.scram
		c.sess.scram = nil
		final, err := x.final(in)
		if err != nil {
			return nil, false, c.deny(mech, "User:"+x.user, mskAccessDenied, err.Error())
		}
		out, principal, done = final, "User:"+x.user, true
	default:
		return nil, false, c.deny(mech, "", mskAccessDenied, "no SASL mechanism chosen")
	}
	if c.sess.authed && c.sess.principal != principal {
		// Kafka's own message (SaslServerAuthenticator), which MSK passes on.
		return nil, false, c.denyKafka(mech, principal, fmt.Sprintf("Cannot change principals during re-authentication from %s: %s", c.sess.principal, principal))
	}
	if maxLife := time.Duration(cl.cfg.SessionMaxLifetime); maxLife > 0 {
		if e := now.Add(maxLife); expires.IsZero() || e.Before(expires) {
			expires = e
		}
	}
	reauth := c.sess.authed
	c.sess.authed, c.sess.principal, c.sess.authMech, c.sess.expires = true, principal, mech, expires
	c.authn.Store(&authnState{principal: principal, ident: ident})
	reason := "authenticated"
	if reauth {
		reason = "re-authenticated"
	}
	attrs := []any{}
	if akid != "" {
		attrs = append(attrs, "access_key_id", akid)
	}
	if !expires.IsZero() {
		attrs = append(attrs, "session_expires", expires.UTC().Format(time.RFC3339))
	}
	c.audit("allow", mech, principal, reason, attrs...)
	return out, true, nil
}

// audit logs one authentication decision.
func (c *conn) audit(decision, mech, principal, reason string, extra ...any) {
	attrs := append(c.logAttrs(), "principal", principal, "action", "authenticate", "mechanism", mech,
		"decision", decision, "reason", reason)
	c.l.b.c.log.Info("authn", append(attrs, extra...)...)
}

func decisionWord(d iampolicy.Decision) string {
	if d.Allowed() {
		return "allow"
	}
	return "deny"
}

var errBadOAuth = errors.New("invalid OAUTHBEARER client message")

// parseOAuthClientFirst parses an RFC 7628 client-first message
// "n,[a=authzid],\x01auth=Bearer <token>\x01[k=v\x01]*\x01" and returns the
// token.
func parseOAuthClientFirst(in []byte) (string, error) {
	gs2, rest, ok := bytes.Cut(in, []byte{1})
	if !ok || len(gs2) < 2 || (gs2[0] != 'n' && gs2[0] != 'y') || gs2[1] != ',' || !bytes.HasSuffix(gs2, []byte{','}) {
		return "", fmt.Errorf("%w: missing GS2 header", errBadOAuth)
	}
	if !bytes.HasSuffix(rest, []byte{1, 1}) {
		return "", fmt.Errorf("%w: not terminated by \\x01\\x01", errBadOAuth)
	}
	var token string
	for _, kv := range bytes.Split(rest[:len(rest)-2], []byte{1}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok {
			return "", fmt.Errorf("%w: key without value", errBadOAuth)
		}
		if string(k) == "auth" {
			scheme, tok, ok := strings.Cut(string(v), " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return "", fmt.Errorf("%w: auth is not \"Bearer <token>\"", errBadOAuth)
			}
			token = tok
		}
	}
	if token == "" {
		return "", fmt.Errorf("%w: no auth=Bearer token", errBadOAuth)
	}
	return token, nil
}
