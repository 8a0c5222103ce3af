package iamauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
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

// appendCanonicalQuery appends the SigV4 canonical query string: the signed
// parameters, sorted by name, RFC 3986 encoded.
func (p *presigned) appendCanonicalQuery(b []byte) []byte {
	b = append(b, "Action="...)
	b = appendEscaped(b, p.action, false)
	b = append(b, "&X-Amz-Algorithm="...)
	b = appendEscaped(b, p.algorithm, false)
	b = append(b, "&X-Amz-Credential="...)
	b = appendEscaped(b, p.credential(), false)
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

// signature computes the hex SigV4 signature of p with secret.
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
	b = append(b, p.date...)
	b = append(b, '/')
	b = append(b, p.region...)
	b = append(b, '/')
	b = append(b, p.service...)
	b = append(b, '/')
	b = append(b, p.terminator...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, canonical[:])

	key := signingKey(secret, p.date, p.region, p.service)
	mac := hmac.New(sha256.New, key[:])
	mac.Write(b)
	var sum [sha256.Size]byte
	sig := hex.EncodeToString(mac.Sum(sum[:0]))

	*buf = b
	bufPool.Put(buf)
	return sig
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// signingKey derives the SigV4 signing key for a day, region and service.
func signingKey(secret, date, region, service string) [sha256.Size]byte {
	var key [sha256.Size]byte
	k := make([]byte, 0, 4+len(secret))
	k = append(k, "AWS4"...)
	k = append(k, secret...)
	k = hmacSum(k, date, key[:0])
	k = hmacSum(k, region, key[:0])
	k = hmacSum(k, service, key[:0])
	hmacSum(k, "aws4_request", key[:0])
	return key
}

func hmacSum(key []byte, data string, dst []byte) []byte {
	var h hash.Hash = hmac.New(sha256.New, key)
	h.Write([]byte(data))
	return h.Sum(dst)
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
	b = appendEscaped(b, p.credential(), true)
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
