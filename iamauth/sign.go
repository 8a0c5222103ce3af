package iamauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// The constants of the MSK IAM signature.
const (
	// ConnectAction is the action every token is signed for.
	ConnectAction = "kafka-cluster:Connect"
	// SigningService is the SigV4 service name in the credential scope.
	SigningService = "kafka-cluster"
	// TokenLifetime is the validity MSK tokens are signed with
	// (X-Amz-Expires=900), as AWS's signers do.
	TokenLifetime = 900 * time.Second
	// PayloadVersion is the AWS_MSK_IAM payload version.
	PayloadVersion = "2020_10_22"

	algorithm     = "AWS4-HMAC-SHA256"
	amzDateFormat = "20060102T150405Z"
	emptySHA256   = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// ErrNoCredentials is returned when the credentials have no access key id or
// secret access key.
var ErrNoCredentials = errors.New("iamauth: empty AWS credentials: set an access key id and a secret access key")

// presigned holds the SigV4 query parameters of a token or payload. It is
// the one representation that signing and verifying share.
type presigned struct {
	host          string // the signed host header
	action        string
	algorithm     string
	accessKeyID   string
	date          string // yyyymmdd of the scope
	region        string
	service       string
	terminator    string // aws4_request
	amzDate       string // X-Amz-Date
	expires       string // X-Amz-Expires, seconds
	signedHeaders string
	securityToken string
	hasToken      bool
	signature     string
	userAgent     string
}

func (p *presigned) credential() string {
	return p.accessKeyID + "/" + p.date + "/" + p.region + "/" + p.service + "/" + p.terminator
}

// appendScope appends the credential scope, date/region/service/aws4_request:
// raw for the string to sign, or escaped ("/" as %2F) for a query.
func (p *presigned) appendScope(b []byte, escaped bool) []byte {
	for i, part := range [...]string{p.date, p.region, p.service, p.terminator} {
		switch {
		case i > 0 && escaped:
			b = append(b, "%2F"...)
		case i > 0:
			b = append(b, '/')
		}
		if escaped {
			b = appendEscaped(b, part, false)
		} else {
			b = append(b, part...)
		}
	}
	return b
}

// appendCredential appends X-Amz-Credential's value, escaped: the access
// key id and the scope.
func (p *presigned) appendCredential(b []byte, query bool) []byte {
	b = appendEscaped(b, p.accessKeyID, query)
	b = append(b, "%2F"...)
	return p.appendScope(b, true)
}

// appendCanonicalQuery appends the SigV4 canonical query string: the signed
// parameters, sorted by name, RFC 3986 encoded.
func (p *presigned) appendCanonicalQuery(b []byte) []byte {
	b = append(b, "Action="...)
	b = appendEscaped(b, p.action, false)
	b = append(b, "&X-Amz-Algorithm="...)
	b = appendEscaped(b, p.algorithm, false)
	b = append(b, "&X-Amz-Credential="...)
	b = p.appendCredential(b, false)
	b = append(b, "&X-Amz-Date="...)
	b = appendEscaped(b, p.amzDate, false)
	b = append(b, "&X-Amz-Expires="...)
	b = appendEscaped(b, p.expires, false)
	if p.hasToken {
		b = append(b, "&X-Amz-Security-Token="...)
		b = appendEscaped(b, p.securityToken, false)
	}
	b = append(b, "&X-Amz-SignedHeaders="...)
	return appendEscaped(b, p.signedHeaders, false)
}

// computeSignature returns the hex SigV4 signature of p with secret.
func (p *presigned) computeSignature(secret string) string {
	buf := bufPool.Get().(*[]byte)
	b := (*buf)[:0]

	// The canonical request.
	b = append(b, "GET\n/\n"...)
	b = p.appendCanonicalQuery(b)
	b = append(b, "\nhost:"...)
	b = append(b, p.host...)
	b = append(b, "\n\nhost\n"...)
	b = append(b, emptySHA256...)
	canonical := sha256.Sum256(b)

	// The string to sign.
	b = append(b[:0], algorithm...)
	b = append(b, '\n')
	b = append(b, p.amzDate...)
	b = append(b, '\n')
	b = p.appendScope(b, false)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonical[:])
	toSign := len(b)

	// The signing key, then the signature; the scratch space for the
	// HMACs goes after the string to sign in the same buffer.
	key := signingKey(secret, p.date, p.region, p.service, &b)
	sig := hmacSHA256(key[:], b[:toSign], &b, toSign)
	out := hex.EncodeToString(sig[:])

	*buf = b[:0]
	bufPool.Put(buf)
	return out
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// signingKey derives the SigV4 signing key for a day, region and service.
// buf is scratch space (appended to after its length).
func signingKey(secret, date, region, service string, buf *[]byte) [sha256.Size]byte {
	at := len(*buf)
	*buf = append(*buf, "AWS4"...)
	*buf = append(*buf, secret...)
	secretEnd := len(*buf)
	*buf = append(*buf, date...)
	k := hmacSHA256((*buf)[at:secretEnd], (*buf)[secretEnd:], buf, len(*buf))
	for _, msg := range [...]string{region, service, "aws4_request"} {
		*buf = append((*buf)[:at], msg...)
		k = hmacSHA256(k[:], (*buf)[at:], buf, len(*buf))
	}
	*buf = (*buf)[:at]
	return k
}

// hmacSHA256 is HMAC-SHA256 (RFC 2104) of msg under key, computed with
// sha256.Sum256 in buf's spare room after scratchAt, so that a signature
// allocates nothing: crypto/hmac allocates two digests per key, and a
// signature needs five keys. TestTokenMatchesAWSSigner checks it
// byte for byte against AWS's signer.
func hmacSHA256(key, msg []byte, buf *[]byte, scratchAt int) [sha256.Size]byte {
	var k [64]byte // SHA-256's block size
	if len(key) > len(k) {
		sum := sha256.Sum256(key)
		copy(k[:], sum[:])
	} else {
		copy(k[:], key)
	}
	b := (*buf)[:scratchAt]
	for _, c := range k {
		b = append(b, c^0x36)
	}
	b = append(b, msg...)
	inner := sha256.Sum256(b[scratchAt:])
	b = b[:scratchAt]
	for _, c := range k {
		b = append(b, c^0x5c)
	}
	b = append(b, inner[:]...)
	sum := sha256.Sum256(b[scratchAt:])
	*buf = b[:scratchAt]
	return sum
}

// newPresigned fills the parameters for credentials c, region and time t.
func newPresigned(c aws.Credentials, region, host string, t time.Time) (*presigned, error) {
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return nil, ErrNoCredentials
	}
	if err := ValidateRegion(region); err != nil {
		return nil, err
	}
	amzDate := t.UTC().Format(amzDateFormat)
	return &presigned{
		host:          host,
		action:        ConnectAction,
		algorithm:     algorithm,
		accessKeyID:   c.AccessKeyID,
		date:          amzDate[:8],
		region:        region,
		service:       SigningService,
		terminator:    "aws4_request",
		amzDate:       amzDate,
		expires:       strconv.Itoa(int(TokenLifetime / time.Second)),
		signedHeaders: "host",
		securityToken: c.SessionToken,
		hasToken:      c.SessionToken != "",
	}, nil
}

// TokenHost returns the host an OAUTHBEARER token is signed for in region:
// kafka.<region>.amazonaws.com. AWS's signers use this form in every
// partition, China's included, and MSK's brokers expect it.
func TokenHost(region string) string {
	return "kafka." + region + ".amazonaws.com"
}

// NewToken returns the OAUTHBEARER token for credentials c in region,
// signed at time at, valid for [TokenLifetime]. userAgent is added to the
// URL after signing, as AWS's signers do ("msklink/<version>" when empty).
//
// The token is byte for byte what aws-msk-iam-sasl-signer-go produces for
// the same credentials, region and instant (the User-Agent value aside).
func NewToken(c aws.Credentials, region string, at time.Time, userAgent string) (Token, error) {
	p, err := newPresigned(c, region, TokenHost(region), at)
	if err != nil {
		return "", err
	}
	p.signature = p.computeSignature(c.SecretAccessKey)
	p.userAgent = orDefaultUserAgent(userAgent)
	return Token(encodeToken(p)), nil
}

// encodeToken renders the presigned URL with its query in the order and
// encoding of Go's url.Values.Encode (sorted keys, query escaping), then
// base64 raw-URL encodes it.
func encodeToken(p *presigned) string {
	buf := bufPool.Get().(*[]byte)
	b := append((*buf)[:0], "https://"...)
	b = append(b, p.host...)
	b = append(b, "/?Action="...)
	b = appendEscaped(b, p.action, true)
	b = append(b, "&User-Agent="...)
	b = appendEscaped(b, p.userAgent, true)
	b = append(b, "&X-Amz-Algorithm="...)
	b = appendEscaped(b, p.algorithm, true)
	b = append(b, "&X-Amz-Credential="...)
	b = p.appendCredential(b, true)
	b = append(b, "&X-Amz-Date="...)
	b = appendEscaped(b, p.amzDate, true)
	b = append(b, "&X-Amz-Expires="...)
	b = appendEscaped(b, p.expires, true)
	if p.hasToken {
		b = append(b, "&X-Amz-Security-Token="...)
		b = appendEscaped(b, p.securityToken, true)
	}
	b = append(b, "&X-Amz-Signature="...)
	b = appendEscaped(b, p.signature, true)
	b = append(b, "&X-Amz-SignedHeaders="...)
	b = appendEscaped(b, p.signedHeaders, true)
	s := base64.RawURLEncoding.EncodeToString(b)
	*buf = b
	bufPool.Put(buf)
	return s
}

// NewPayload returns the AWS_MSK_IAM client message for credentials c in
// region, signed at time at for brokerHost (the host the client connects
// to, without port).
func NewPayload(c aws.Credentials, region, brokerHost string, at time.Time, userAgent string) ([]byte, error) {
	if brokerHost == "" {
		return nil, errors.New("iamauth: empty broker host: pass the host the client connects to")
	}
	p, err := newPresigned(c, region, brokerHost, at)
	if err != nil {
		return nil, err
	}
	p.signature = p.computeSignature(c.SecretAccessKey)
	m := map[string]string{
		"version":             PayloadVersion,
		"host":                brokerHost,
		"user-agent":          orDefaultUserAgent(userAgent),
		"action":              p.action,
		"x-amz-algorithm":     p.algorithm,
		"x-amz-credential":    p.credential(),
		"x-amz-date":          p.amzDate,
		"x-amz-signedheaders": p.signedHeaders,
		"x-amz-expires":       p.expires,
		"x-amz-signature":     p.signature,
	}
	if p.hasToken {
		m["x-amz-security-token"] = p.securityToken
	}
	return json.Marshal(m)
}

// DefaultUserAgent is the User-Agent that tokens carry unless told otherwise.
const DefaultUserAgent = "msklink"

func orDefaultUserAgent(ua string) string {
	if ua == "" {
		return DefaultUserAgent
	}
	return ua
}

// appendEscaped appends s percent-encoded: RFC 3986 unreserved characters
// stay, everything else is %XX. With query true a space becomes '+', as in
// net/url's QueryEscape; SigV4's canonical form (query false) uses %20.
func appendEscaped(b []byte, s string, query bool) []byte {
	const upperhex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		case c == ' ' && query:
			b = append(b, '+')
		default:
			b = append(b, '%', upperhex[c>>4], upperhex[c&15])
		}
	}
	return b
}

// times returns the signing time of p and when it expires (X-Amz-Expires later).
func (p *presigned) times() (signedAt, expires time.Time, err error) {
	signedAt, err = time.Parse(amzDateFormat, p.amzDate)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("X-Amz-Date %q is not yyyymmddThhmmssZ", p.amzDate)
	}
	secs, err := strconv.Atoi(p.expires)
	if err != nil || secs <= 0 || secs > 7*24*3600 {
		return time.Time{}, time.Time{}, fmt.Errorf("X-Amz-Expires %q is not a number of seconds between 1 and 604800", p.expires)
	}
	return signedAt, signedAt.Add(time.Duration(secs) * time.Second), nil
}
