package iamauth

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"time"
)

// Identity is a credential a verifier knows: the broker side of an access
// key.
type Identity struct {
	AccessKeyID     string
	SecretAccessKey SecretKey
	// SessionToken, when set, must be carried by the token (temporary
	// credentials). A token with a session token for an identity without
	// one is rejected too.
	SessionToken SessionToken
	// ARN is the principal the access key belongs to.
	ARN string
	// Expires is when the credentials stop working; zero means never.
	Expires time.Time
}

// LogValue implements slog.LogValuer: the access key id and ARN, never the
// secret key or session token.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("access_key_id", id.AccessKeyID), slog.String("arn", id.ARN))
}

// Lookup finds the identity of an access key id.
type Lookup func(accessKeyID string) (Identity, bool)

// Principal is who a verified token authenticates.
type Principal struct {
	AccessKeyID string
	ARN         string
	Region      string
	UserAgent   string
	SignedAt    time.Time
	// Expires is when the token stops being valid.
	Expires time.Time
	// CredentialsExpire is the identity's own expiry (zero: never). A
	// broker bounds the session lifetime by it.
	CredentialsExpire time.Time
}

// Check names one verification step; a VerifyError says which one failed.
type Check string

// The checks Verify and VerifyPayload make, in order.
const (
	CheckMalformed    Check = "malformed"
	CheckAction       Check = "action"
	CheckHost         Check = "host"
	CheckRegion       Check = "region"
	CheckUnknownKey   Check = "unknown_key"
	CheckSessionToken Check = "session_token"
	CheckSignature    Check = "signature"
	CheckNotYetValid  Check = "not_yet_valid"
	CheckExpired      Check = "expired"
)

// VerifyError is a rejected token: which check failed, and why in words a
// person can act on. It never holds a secret.
type VerifyError struct {
	Check  Check
	Detail string
}

func (e *VerifyError) Error() string {
	return "iamauth: token rejected (" + string(e.Check) + "): " + e.Detail
}

// VerifyOpt configures Verify and VerifyPayload.
type VerifyOpt func(*verifyConfig)

type verifyConfig struct {
	region  string
	maxSkew time.Duration
}

// ExpectRegion makes verification fail with CheckRegion unless the token
// is signed for region (the broker's own). Default: any region the token
// is consistently signed for.
func ExpectRegion(region string) VerifyOpt { return func(c *verifyConfig) { c.region = region } }

// MaxClockSkew is how far in the future a signing time may be. Default 5
// minutes, as AWS allows.
func MaxClockSkew(d time.Duration) VerifyOpt { return func(c *verifyConfig) { c.maxSkew = d } }

// Verify checks an OAUTHBEARER token as an MSK broker would at time now:
// structure, action, host and region, the access key (through lookup), the
// session token, the SigV4 signature, and the validity window. It returns
// the principal, or a *VerifyError naming the first check that failed.
func Verify(token string, lookup Lookup, now time.Time, opts ...VerifyOpt) (Principal, error) {
	p, err := parseToken(token)
	if err != nil {
		return Principal{}, err
	}
	if p.host != TokenHost(p.region) {
		return Principal{}, &VerifyError{Check: CheckHost, Detail: fmt.Sprintf("token is signed for host %q, want %q for region %s", truncate(p.host, 64), TokenHost(p.region), p.region)}
	}
	return verify(p, lookup, now, opts)
}

// VerifyPayload checks an AWS_MSK_IAM client message as an MSK broker
// would; brokerHost is the host the client connected to (the broker's
// advertised host, without port), which the payload must be signed for.
func VerifyPayload(payload []byte, brokerHost string, lookup Lookup, now time.Time, opts ...VerifyOpt) (Principal, error) {
	p, err := parsePayload(payload)
	if err != nil {
		return Principal{}, err
	}
	if p.host != brokerHost {
		return Principal{}, &VerifyError{Check: CheckHost, Detail: fmt.Sprintf("payload is signed for host %q, but this broker is %q: sign for the host you connect to", truncate(p.host, 64), brokerHost)}
	}
	return verify(p, lookup, now, opts)
}

func verify(p *presigned, lookup Lookup, now time.Time, opts []VerifyOpt) (Principal, error) {
	cfg := verifyConfig{maxSkew: 5 * time.Minute}
	for _, o := range opts {
		o(&cfg)
	}
	fail := func(c Check, format string, args ...any) (Principal, error) {
		return Principal{}, &VerifyError{Check: c, Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case p.algorithm != algorithm:
		return fail(CheckMalformed, "X-Amz-Algorithm is %q, want %s", truncate(p.algorithm, 32), algorithm)
	case p.signedHeaders != "host":
		return fail(CheckMalformed, "X-Amz-SignedHeaders is %q, want host", truncate(p.signedHeaders, 64))
	case p.service != SigningService:
		return fail(CheckMalformed, "credential scope service is %q, want %s", truncate(p.service, 32), SigningService)
	case p.terminator != "aws4_request":
		return fail(CheckMalformed, "credential scope ends in %q, want aws4_request", truncate(p.terminator, 32))
	case len(p.amzDate) < 8 || p.amzDate[:8] != p.date:
		return fail(CheckMalformed, "credential scope date %q differs from X-Amz-Date %q", truncate(p.date, 16), truncate(p.amzDate, 32))
	}
	signedAt, expires, err := p.times()
	if err != nil {
		return fail(CheckMalformed, "%v", err)
	}
	if p.action != ConnectAction {
		return fail(CheckAction, "token is for action %q, want %s", truncate(p.action, 64), ConnectAction)
	}
	if cfg.region != "" && p.region != cfg.region {
		return fail(CheckRegion, "token is signed for region %s, but the cluster is in %s: sign with region %s", truncate(p.region, 32), cfg.region, cfg.region)
	}
	id, ok := lookup(p.accessKeyID)
	if !ok {
		return fail(CheckUnknownKey, "access key id %s is not known to this cluster", truncate(p.accessKeyID, 32))
	}
	switch {
	case id.SessionToken != "" && !p.hasToken:
		return fail(CheckSessionToken, "access key id %s is temporary, but the token carries no session token", p.accessKeyID)
	case id.SessionToken == "" && p.hasToken:
		return fail(CheckSessionToken, "access key id %s is long-term, but the token carries a session token", p.accessKeyID)
	case p.hasToken && subtle.ConstantTimeCompare([]byte(id.SessionToken), []byte(p.securityToken)) != 1:
		return fail(CheckSessionToken, "the session token does not belong to access key id %s", p.accessKeyID)
	}
	want := p.computeSignature(string(id.SecretAccessKey))
	if subtle.ConstantTimeCompare([]byte(want), []byte(p.signature)) != 1 {
		return fail(CheckSignature, "signature does not match for access key id %s: wrong secret access key, or the token was altered", p.accessKeyID)
	}
	switch {
	case signedAt.After(now.Add(cfg.maxSkew)):
		return fail(CheckNotYetValid, "token is signed at %s, %s ahead of the broker's clock (more than %s): fix the client's clock", signedAt.Format(time.RFC3339), signedAt.Sub(now).Round(time.Second), cfg.maxSkew)
	case !now.Before(expires):
		return fail(CheckExpired, "token expired at %s (%s ago): sign a new token for each connection", expires.Format(time.RFC3339), now.Sub(expires).Round(time.Second))
	case !id.Expires.IsZero() && !now.Before(id.Expires):
		return fail(CheckExpired, "credentials of access key id %s expired at %s: refresh the credentials", p.accessKeyID, id.Expires.Format(time.RFC3339))
	}
	return Principal{
		AccessKeyID:       p.accessKeyID,
		ARN:               id.ARN,
		Region:            p.region,
		UserAgent:         p.userAgent,
		SignedAt:          signedAt,
		Expires:           expires,
		CredentialsExpire: id.Expires,
	}, nil
}
