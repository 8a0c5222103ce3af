package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// MSK's SaslAuthenticate failure texts, after "[<request id>]: ". MSK
// sends nothing more: the doctor reads only these, never a reason a
// broker (or the local emulator in verbose mode) appends, so its verdict
// is the same on MSK as anywhere else.
const (
	mskAccessDenied    = "Access denied"
	mskTooManyConnects = "Too many connects"
	mskSessionTooShort = "Session too short"
	mskInvalidPayload  = "Invalid authentication payload"
)

// mskText returns the text of an MSK SaslAuthenticate message without its
// "[<request id>]: " prefix.
func mskText(msg string) string {
	if strings.HasPrefix(msg, "[") {
		if _, rest, ok := strings.Cut(msg, "]: "); ok {
			return rest
		}
	}
	return msg
}

// authCause reads a SASL_AUTHENTICATION_FAILED message from the broker at
// a. "Too many connects" and "Session too short" name their cause; "Access
// denied" does not, so the doctor infers it from what it can see itself
// and tries each inference with a probe token (see inferDenied).
func (d *diag) authCause(a addr, msg string) (cause, why string) {
	text := mskText(msg)
	switch {
	case strings.HasPrefix(text, mskTooManyConnects):
		return CauseTooManyConnects, ""
	case strings.HasPrefix(text, mskSessionTooShort):
		return CauseTokenExpired, ": the credentials expire too soon for a session: MSK refuses to authenticate credentials that are about to expire"
	case strings.HasPrefix(text, mskInvalidPayload):
		why = ": MSK could not parse the token"
		if d.token != nil && d.token.Region == "" {
			return CauseTokenRegion, why + ", which is signed for no region"
		}
		return CauseAuthDenied, why + " (a signer that builds it by hand, or an old SDK)"
	}
	if d.cfg.Auth != kafkaconn.AuthIAM || d.creds == nil || d.token == nil {
		return CauseAuthDenied, ""
	}
	d.inferOnce.Do(func() { d.inferred, d.inferredWhy = d.inferDenied(a) })
	return d.inferred, d.inferredWhy
}

// inferDenied finds the cause of an IAM "Access denied" from what the
// doctor can see, and confirms it with probe tokens on new connections to
// a: a token signed for the region the broker's certificate names (MSK's
// certificates are issued for *.<cluster>.<id>.c<n>.kafka.<region>.amazonaws.com),
// then tokens signed with the clock moved (clockOffsets). A probe that is
// accepted proves the cause; the summary says it was inferred.
func (d *diag) inferDenied(a addr) (cause, why string) {
	ctx, cancel := context.WithTimeout(d.root, d.o.timeout)
	defer cancel()
	tok := d.token
	base := fmt.Sprintf("; MSK says only %q, so the doctor inferred the cause", mskAccessDenied)

	if region, name := d.certRegion(); region != "" && region != tok.Region {
		why = fmt.Sprintf("%s: the broker's certificate is issued for %s, in %s, but the token is signed for %s", base, name, region, tok.Region)
		switch ok, err := d.tryToken(ctx, a, region, 0); {
		case ok:
			why += fmt.Sprintf("; confirmed: a token signed for %s was accepted", region)
		case err != nil:
			why += fmt.Sprintf("; a token signed for %s could not be tried (%v)", region, err)
		default:
			why += fmt.Sprintf("; a token signed for %s was refused too: once the region is right, check the policy (kafka-cluster:Connect)", region)
		}
		return CauseTokenRegion, why
	}

	if off, tried, err := d.findClockOffset(ctx, a, tok.Region); off != 0 {
		later, dir := "later", "behind"
		if off < 0 {
			later, dir, off = "earlier", "ahead of", -off
		}
		return CauseClockSkew, fmt.Sprintf("%s: a token signed as if this machine's clock were %s %s was accepted, one signed now was not: this machine's clock is about %s %s the broker's",
			base, off, later, off, dir)
	} else if err != nil {
		why = fmt.Sprintf("; clock skew not ruled out: %v after %d probe token(s)", err, tried)
	} else {
		why = fmt.Sprintf("; not the clock: tokens signed with it moved by up to %s either way were refused too", clockOffsets[len(clockOffsets)-1].Abs())
	}

	who := fmt.Sprintf(" (access key %s, token region %s)", tok.AccessKeyID, tok.Region)
	if d.creds.SessionToken != "" && !d.creds.CanExpire {
		who += fmt.Sprintf("; the credentials from %s are temporary (they carry a session token) but say nothing of their expiry: if they were copied from a session, they may have expired (aws sts get-caller-identity tells)", orUnknown(d.creds.Source))
	}
	return CauseAuthDenied, who + why + "; what is left: the principal's policy must allow kafka-cluster:Connect on the cluster, and the access key must be the one you mean"
}

// clockOffsets are the clock moves probe tokens are signed with, most
// likely first. MSK accepts a token from 5 minutes before its signing time
// to 15 minutes after it, so each probe covers 20 minutes of skew: the
// offsets cover any skew from -65 to +75 minutes, and the whole hours of
// time-zone mistakes up to 12 hours.
var clockOffsets = func() []time.Duration {
	offs := []time.Duration{time.Hour, -time.Hour, 20 * time.Minute, -20 * time.Minute, 40 * time.Minute, -40 * time.Minute}
	for h := 2; h <= 12; h++ {
		offs = append(offs, time.Duration(h)*time.Hour, -time.Duration(h)*time.Hour)
	}
	return offs
}()

// clockProbesAtOnce bounds the probe connections open at once.
const clockProbesAtOnce = 4

// findClockOffset tries tokens signed at now+offset for clockOffsets, a
// few at a time, and returns the first offset whose token was accepted (0:
// none). It stops at the broker's "Too many connects" and when ctx ends,
// and returns why with the number of probes tried.
func (d *diag) findClockOffset(ctx context.Context, a addr, region string) (found time.Duration, tried int, err error) {
	for i := 0; i < len(clockOffsets); i += clockProbesAtOnce {
		batch := clockOffsets[i:min(i+clockProbesAtOnce, len(clockOffsets))]
		ok := make([]bool, len(batch))
		errs := make([]error, len(batch))
		parallel(len(batch), func(j int) { ok[j], errs[j] = d.tryToken(ctx, a, region, batch[j]) })
		tried += len(batch)
		for j, off := range batch {
			if ok[j] {
				return off, tried, nil
			}
		}
		if err := errors.Join(errs...); err != nil {
			return 0, tried, err
		}
	}
	return 0, tried, nil
}

// errTooManyConnects stops probing: MSK limits new connections per broker.
var errTooManyConnects = errors.New("the broker refused more connections (Too many connects)")

// tryToken reports whether the broker at a accepts, on a new connection, a
// token for the diagnosis's credentials signed for region with the clock
// moved by offset. A refusal is (false, nil); err is for probes that could
// not be made.
func (d *diag) tryToken(ctx context.Context, a addr, region string, offset time.Duration) (bool, error) {
	mech, err := d.probeMechanism(ctx, region, offset)
	if err != nil {
		return false, err
	}
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", a.dial)
	if err != nil {
		return false, err
	}
	defer c.Close()
	cfg := d.tlsCfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = a.host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return false, err
	}
	w := d.newWconn(tc, a)
	if _, err := w.apiVersions(ctx); err != nil {
		return false, err
	}
	_, _, err = w.authenticate(ctx, mech)
	var se *saslError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &se) && strings.HasPrefix(mskText(se.message), mskTooManyConnects):
		return false, errTooManyConnects
	case errors.As(err, &se):
		return false, nil
	}
	return false, err
}

// probeMechanism is the diagnosis's SASL mechanism, signing with its
// credentials for region at the clock moved by offset.
func (d *diag) probeMechanism(ctx context.Context, region string, offset time.Duration) (sasl.Mechanism, error) {
	creds := *d.creds
	p, err := iamauth.New(ctx, iamauth.WithRegion(region), iamauth.WithUserAgent("msklink-doctor"),
		iamauth.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })),
		iamauth.WithClock(func() time.Time { return d.o.now().Add(offset) }))
	if err != nil {
		return nil, err
	}
	if d.cfg.IAMMechanism == kafkaconn.MechanismAWSMSKIAM {
		return p.MSKIAM(), nil
	}
	return p.OAuth(), nil
}

// certNames records the region an MSK-style broker certificate names.
type certNames struct {
	mu     sync.Mutex
	region string
	name   string
}

// noteCert records the region of cert's names, if one is an MSK broker
// name (*.<cluster>.<id>.c<n>.kafka.<region>.amazonaws.com).
func (d *diag) noteCert(cert *x509.Certificate) {
	for _, n := range append([]string{cert.Subject.CommonName}, cert.DNSNames...) {
		if r, ok := iamauth.RegionFromHost(strings.TrimPrefix(n, "*.")); ok {
			d.cert.mu.Lock()
			d.cert.region, d.cert.name = r, n
			d.cert.mu.Unlock()
			return
		}
	}
}

// certRegion returns the region a broker's certificate named, and the name.
func (d *diag) certRegion() (region, name string) {
	d.cert.mu.Lock()
	defer d.cert.mu.Unlock()
	return d.cert.region, d.cert.name
}
