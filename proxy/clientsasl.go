package proxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/internal/scram"
)

// The proxy answers every SASL request of its clients itself: the client
// authenticates (or not) to the proxy, and the proxy to MSK with its own
// identity. Nothing of the client's SASL reaches MSK.

// SASL mechanism names the proxy answers without a check (ClientAuthNone
// and ClientAuthTLS), so that clients configured for SASL work unchanged.
const (
	mechPlain  = "PLAIN"
	mechOAuth  = "OAUTHBEARER"
	mechMSKIAM = "AWS_MSK_IAM"
)

// saslState is a client's SASL state (request loop only).
type saslState struct {
	mech   string // chosen by the last SaslHandshake
	raw    bool   // after a v0 SaslHandshake: the next frame is raw SASL bytes
	scram  *scram.Exchange
	authed bool
	user   string
}

// mechanisms are the SASL mechanisms the proxy offers its clients.
func (c *clientConn) mechanisms() []string {
	if c.p.o.clientAuth == ClientAuthSCRAM {
		return []string{scram.SHA512, scram.SHA256}
	}
	return []string{mechPlain, mechOAuth, mechMSKIAM}
}

func (c *clientConn) handshake(h kafkawire.Header, frame []byte) error {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return err
	}
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := kmsg.NewPtrSASLHandshakeResponse()
	resp.SupportedMechanisms = c.mechanisms()
	if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		c.setWhy("the client asked for SASL mechanism %q; with client auth %s the proxy offers %s (cause %s)",
			req.Mechanism, c.p.o.clientAuth, strings.Join(resp.SupportedMechanisms, ", "), doctor.CauseAuthMechanism)
		return c.answer(h, resp, true)
	}
	if c.sasl.authed && h.Version == 0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code // re-authentication needs v1 (KIP-368)
		c.setWhy("SaslHandshake v0 on an authenticated connection")
		return c.answer(h, resp, true)
	}
	c.sasl.mech, c.sasl.scram, c.sasl.raw = req.Mechanism, nil, h.Version == 0
	return c.answer(h, resp, false)
}

func (c *clientConn) authenticate(h kafkawire.Header, frame []byte) error {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return err
	}
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	if c.sasl.mech == "" {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		resp.ErrorMessage = kmsg.StringPtr("SaslAuthenticate before SaslHandshake")
		c.setWhy("SaslAuthenticate before SaslHandshake")
		return c.answer(h, resp, true)
	}
	out, done, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr(err.Error())
		return c.answer(h, resp, true)
	}
	resp.SASLAuthBytes = out
	if done {
		c.sasl.mech = ""
	}
	return c.answer(h, resp, false) // no session lifetime: clients never need to re-authenticate
}

// rawSASL handles a raw SASL frame after a v0 SaslHandshake; a failure
// closes the connection without an answer, as Kafka does (there is no
// place for one).
func (c *clientConn) rawSASL(frame []byte) error {
	out, done, err := c.saslStep(frame)
	if err != nil {
		return fmt.Errorf("raw SASL after a v0 SaslHandshake: %w", err)
	}
	if done {
		c.sasl.raw, c.sasl.mech = false, ""
	}
	return c.answerFrame(kafkawire.AppendFrame(nil, out), false)
}

// errSCRAMFailed is what a SCRAM client is told, in Apache Kafka's words;
// the exact reason goes to the proxy's log only.
const errSCRAMFailed = "Authentication failed during authentication due to invalid credentials with SASL mechanism %s"

// saslStep runs one step of the client's exchange. A successful end also
// needs the upstream connection: a client that authenticated to the proxy
// learns here, in its SaslAuthenticate answer, when the proxy cannot reach
// MSK or MSK refuses the proxy's identity.
func (c *clientConn) saslStep(in []byte) (out []byte, done bool, err error) {
	var user string
	switch mech := c.sasl.mech; mech {
	case scram.SHA512, scram.SHA256:
		if c.sasl.scram == nil {
			x, first, err := scram.StartStored(mech, in, func(user string) (*scram.Credentials, bool) { return c.p.scramCredentials(mech, user) })
			if err != nil {
				c.setWhy("SCRAM: %v", err)
				return nil, false, fmt.Errorf(errSCRAMFailed, mech)
			}
			c.sasl.scram = x
			return first, false, nil
		}
		x := c.sasl.scram
		c.sasl.scram = nil
		final, err := x.Final(in)
		if err != nil {
			c.setWhy("SCRAM: %v", err)
			return nil, false, fmt.Errorf(errSCRAMFailed, mech)
		}
		out, user = final, x.User
	case mechPlain:
		// authzid NUL authcid NUL passwd: only the user name is kept.
		if parts := bytes.Split(in, []byte{0}); len(parts) == 3 {
			user = string(parts[1])
		}
	case mechOAuth:
	case mechMSKIAM:
		// aws-msk-iam-auth expects MSK's non-empty JSON answer.
		out = fmt.Appendf(nil, `{"version":"2020_10_22","request-id":%q}`, requestID())
	}
	if c.sasl.authed && c.p.o.clientAuth == ClientAuthSCRAM && user != c.sasl.user {
		return nil, false, fmt.Errorf("Cannot change principals during re-authentication from User:%s: User:%s", c.sasl.user, user)
	}
	if !c.sasl.authed {
		if _, err := c.awaitUpstream(); err != nil {
			if errors.Is(err, net.ErrClosed) && c.closing() {
				return nil, false, err
			}
			c.setWhy("upstream connect failed (cause %s): answered SaslAuthenticate with SASL_AUTHENTICATION_FAILED", doctor.CauseOf(err))
			return nil, false, fmt.Errorf("msklink proxy: authenticated to the proxy, but the proxy's own connection to MSK failed (cause %s): %v", doctor.CauseOf(err), err)
		}
	}
	c.sasl.authed, c.sasl.user = true, user
	if c.p.o.clientAuth == ClientAuthSCRAM {
		c.principal = "User:" + user
	}
	c.p.log.Info("client authenticated", append(c.logAttrs(), "mechanism", c.sasl.mech, "user", user, "checked", c.p.o.clientAuth == ClientAuthSCRAM)...)
	return out, true, nil
}

// scramCredentials returns a ClientAuthSCRAM user's stored credentials
// for mech, salting the password on first use only (as Kafka stores SCRAM
// credentials): PBKDF2 for every client-first message would let clients
// that never authenticate keep the proxy's CPUs busy.
func (p *Proxy) scramCredentials(mech, user string) (*scram.Credentials, bool) {
	pw, ok := p.o.scramUsers[user]
	if !ok {
		return nil, false
	}
	key := mech + "\x00" + user
	if cr, ok := p.scramCreds.Load(key); ok {
		return cr.(*scram.Credentials), true
	}
	cr, err := scram.NewCredentials(mech, string(pw))
	if err != nil {
		return nil, false
	}
	got, _ := p.scramCreds.LoadOrStore(key, cr)
	return got.(*scram.Credentials), true
}

// requestID returns a random UUID, as MSK puts in its answers.
func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
