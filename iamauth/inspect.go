package iamauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TokenInfo is what a token says about itself. It holds no secret: the
// session token is reported as present or not, never shown.
type TokenInfo struct {
	Host            string    `json:"host"`
	Region          string    `json:"region"`
	Action          string    `json:"action"`
	AccessKeyID     string    `json:"access_key_id"`
	SignedAt        time.Time `json:"signed_at"`
	Expires         time.Time `json:"expires"`
	Expired         bool      `json:"expired"`
	UserAgent       string    `json:"user_agent,omitempty"`
	HasSessionToken bool      `json:"has_session_token"`
}

// Inspect decodes an OAUTHBEARER token without checking its signature.
// Expired is judged against the current time. Errors name what is
// malformed.
func Inspect(token string) (TokenInfo, error) {
	p, err := parseToken(token)
	if err != nil {
		return TokenInfo{}, err
	}
	signedAt, expires, err := p.times()
	if err != nil {
		return TokenInfo{}, malformed("%v", err)
	}
	return TokenInfo{
		Host:            p.host,
		Region:          p.region,
		Action:          p.action,
		AccessKeyID:     p.accessKeyID,
		SignedAt:        signedAt,
		Expires:         expires,
		Expired:         !time.Now().Before(expires),
		UserAgent:       p.userAgent,
		HasSessionToken: p.hasToken,
	}, nil
}

// parseToken decodes a token into its presigned parameters. Only the
// structure is checked: every required parameter present, a SigV4
// credential scope of five parts.
func parseToken(token string) (*presigned, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return nil, malformed("empty token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(token, "="))
	if err != nil {
		return nil, malformed("not base64url (raw URL alphabet, no padding): %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return nil, malformed("decodes to something that is not a URL")
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, malformed("decodes to %q, not an https:// presigned URL", truncate(u.Scheme+"://"+u.Host, 64))
	}
	if u.Path != "/" && u.Path != "" {
		return nil, malformed("URL path is %q, want /", truncate(u.Path, 64))
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, malformed("URL query does not parse: %v", err)
	}
	get := func(k string) string { return first(q[k]) }
	p := &presigned{
		host:          u.Host,
		action:        get("Action"),
		algorithm:     get("X-Amz-Algorithm"),
		amzDate:       get("X-Amz-Date"),
		expires:       get("X-Amz-Expires"),
		signedHeaders: get("X-Amz-SignedHeaders"),
		signature:     get("X-Amz-Signature"),
		userAgent:     get("User-Agent"),
	}
	if v, ok := q["X-Amz-Security-Token"]; ok {
		p.securityToken, p.hasToken = first(v), true
	}
	if err := p.fill(get("X-Amz-Credential")); err != nil {
		return nil, err
	}
	return p, nil
}

// parsePayload decodes an AWS_MSK_IAM client message.
func parsePayload(payload []byte) (*presigned, error) {
	var m map[string]string
	if err := json.Unmarshal(payload, &m); err != nil {
		return nil, malformed("AWS_MSK_IAM payload is not a JSON object of strings: %v", err)
	}
	if v := m["version"]; v != PayloadVersion {
		return nil, malformed("AWS_MSK_IAM payload version is %q, want %q", truncate(v, 32), PayloadVersion)
	}
	p := &presigned{
		host:          m["host"],
		action:        m["action"],
		algorithm:     m["x-amz-algorithm"],
		amzDate:       m["x-amz-date"],
		expires:       m["x-amz-expires"],
		signedHeaders: m["x-amz-signedheaders"],
		signature:     m["x-amz-signature"],
		userAgent:     m["user-agent"],
	}
	p.securityToken, p.hasToken = m["x-amz-security-token"]
	if p.host == "" {
		return nil, malformed("AWS_MSK_IAM payload has no host")
	}
	if err := p.fill(m["x-amz-credential"]); err != nil {
		return nil, err
	}
	return p, nil
}

// fill splits the credential into p and checks every required field.
func (p *presigned) fill(credential string) error {
	parts := strings.Split(credential, "/")
	if len(parts) != 5 {
		return malformed("X-Amz-Credential %q is not <access key id>/<yyyymmdd>/<region>/<service>/aws4_request", truncate(credential, 128))
	}
	p.accessKeyID, p.date, p.region, p.service, p.terminator = parts[0], parts[1], parts[2], parts[3], parts[4]
	for _, f := range []struct{ name, v string }{
		{"Action", p.action}, {"X-Amz-Algorithm", p.algorithm}, {"X-Amz-Date", p.amzDate},
		{"X-Amz-Expires", p.expires}, {"X-Amz-SignedHeaders", p.signedHeaders},
		{"X-Amz-Signature", p.signature}, {"access key id", p.accessKeyID}, {"region", p.region},
	} {
		if f.v == "" {
			return malformed("%s is missing", f.name)
		}
	}
	return nil
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func malformed(format string, args ...any) error {
	return &VerifyError{Check: CheckMalformed, Detail: fmt.Sprintf(format, args...)}
}
