package iamauth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// Provider hands out MSK IAM tokens for one set of credentials in one
// region. Credentials are resolved once and cached; tokens are cached and
// re-signed when a fifth of their life is left, where a token's life ends at
// the earlier of its 15 minutes and the credentials' own expiry.
//
// A Provider is safe for concurrent use. A cached token costs an atomic
// load and a clock read.
type Provider struct {
	region    string
	creds     aws.CredentialsProvider
	now       func() time.Time
	userAgent string
	source    string // where the credentials come from, for errors

	mu    sync.Mutex // serializes refreshes
	cache atomic.Pointer[cachedToken]
}

type cachedToken struct {
	token   Token
	expires time.Time
	renewAt time.Time
}

// Opt configures a Provider.
type Opt func(*providerConfig)

type providerConfig struct {
	region      string
	brokerHost  string
	creds       aws.CredentialsProvider
	profile     string
	roleARN     string
	externalID  string
	sessionName string
	webIDFile   string
	now         func() time.Time
	userAgent   string
	sdk         sdkOpts // options for the SDK's config loader (see chain_sdk.go)
}

// WithRegion sets the region tokens are signed for. Default: the region in
// the broker host (WithBrokerHost), else AWS_REGION, AWS_DEFAULT_REGION,
// else the region of the AWS config profile.
func WithRegion(region string) Opt { return func(c *providerConfig) { c.region = region } }

// WithBrokerHost names a broker (host or host:port) to infer the region
// from, when WithRegion is not given. See RegionFromHost.
func WithBrokerHost(host string) Opt { return func(c *providerConfig) { c.brokerHost = host } }

// WithCredentialsProvider uses p for credentials, wrapped in an
// aws.CredentialsCache unless it is one. Default: the AWS default chain
// (environment, shared config and credentials files, web identity, ECS and
// EC2 roles), loaded once.
func WithCredentialsProvider(p aws.CredentialsProvider) Opt {
	return func(c *providerConfig) { c.creds = p }
}

// WithProfile loads credentials from a named profile of the shared AWS
// config files. Default: AWS_PROFILE, else "default".
func WithProfile(name string) Opt { return func(c *providerConfig) { c.profile = name } }

// WithRoleARN assumes the role (STS AssumeRole) with the base credentials,
// renewing the role session before it expires. The session name defaults
// to "msklink".
func WithRoleARN(arn string) Opt { return func(c *providerConfig) { c.roleARN = arn } }

// WithExternalID sets the external id for WithRoleARN. Default: none.
func WithExternalID(id string) Opt { return func(c *providerConfig) { c.externalID = id } }

// WithSessionName sets the STS role session name for WithRoleARN and
// WithWebIdentity. Default "msklink". Keep it stable: MSK rejects
// re-authentication as a different principal.
func WithSessionName(name string) Opt { return func(c *providerConfig) { c.sessionName = name } }

// WithWebIdentity assumes the role of WithRoleARN with the OIDC token in
// tokenFile (STS AssumeRoleWithWebIdentity, as on EKS).
func WithWebIdentity(tokenFile string) Opt {
	return func(c *providerConfig) { c.webIDFile = tokenFile }
}

// WithClock sets the clock tokens are signed and cached by. Default
// time.Now.
func WithClock(now func() time.Time) Opt { return func(c *providerConfig) { c.now = now } }

// WithUserAgent sets the User-Agent tokens carry. Default DefaultUserAgent.
func WithUserAgent(ua string) Opt { return func(c *providerConfig) { c.userAgent = ua } }

// New returns a Provider. It resolves the region and sets up the
// credential source, but fetches no credentials: the first Token does.
func New(ctx context.Context, opts ...Opt) (*Provider, error) {
	cfg := providerConfig{now: time.Now, sessionName: "msklink"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.webIDFile != "" && cfg.roleARN == "" {
		return nil, errors.New("iamauth: a web identity token file needs a role ARN: add WithRoleARN (--role-arn)")
	}
	if cfg.creds != nil && (cfg.profile != "" || cfg.roleARN != "") {
		return nil, errors.New("iamauth: WithCredentialsProvider excludes WithProfile and WithRoleARN: pass one credential source")
	}

	region := cfg.region
	if region == "" && cfg.brokerHost != "" {
		region, _ = RegionFromHost(cfg.brokerHost)
	}
	for _, k := range []string{"AWS_REGION", "AWS_DEFAULT_REGION"} {
		if region == "" {
			region = os.Getenv(k)
		}
	}

	p := &Provider{now: cfg.now, userAgent: orDefaultUserAgent(cfg.userAgent), creds: cfg.creds, source: "the given credentials provider"}
	if p.creds == nil {
		awsCfg, source, err := baseConfig(ctx, &cfg, region)
		if err != nil {
			return nil, err
		}
		p.source = source
		if region == "" {
			region = awsCfg.Region
		}
		p.creds = awsCfg.Credentials
		if cfg.roleARN != "" {
			if region == "" {
				return nil, ErrNoRegion
			}
			awsCfg.Region = region
			client := sts.NewFromConfig(awsCfg)
			setSession := func(name string) func(*stscreds.AssumeRoleOptions) {
				return func(o *stscreds.AssumeRoleOptions) {
					o.RoleSessionName = name
					if cfg.externalID != "" {
						o.ExternalID = aws.String(cfg.externalID)
					}
				}
			}
			if cfg.webIDFile != "" {
				p.creds = stscreds.NewWebIdentityRoleProvider(client, cfg.roleARN, stscreds.IdentityTokenFile(cfg.webIDFile),
					func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = cfg.sessionName })
				p.source = fmt.Sprintf("web identity for role %s", cfg.roleARN)
			} else {
				p.creds = stscreds.NewAssumeRoleProvider(client, cfg.roleARN, setSession(cfg.sessionName))
				p.source = fmt.Sprintf("role %s", cfg.roleARN)
			}
		}
	}
	if _, ok := p.creds.(*aws.CredentialsCache); !ok {
		// Renew credentials a minute before they expire, so that a token
		// never outlives them by accident.
		p.creds = aws.NewCredentialsCache(p.creds, func(o *aws.CredentialsCacheOptions) { o.ExpiryWindow = time.Minute })
	}
	if err := ValidateRegion(region); err != nil {
		return nil, err
	}
	p.region = region
	return p, nil
}

// Region returns the region tokens are signed for.
func (p *Provider) Region() string { return p.region }

// Credentials returns the current credentials (from the cache) for
// clients that sign themselves. Treat them as secret.
func (p *Provider) Credentials(ctx context.Context) (aws.Credentials, error) {
	c, err := p.creds.Retrieve(ctx)
	if err != nil {
		return aws.Credentials{}, &CredentialsError{Source: p.source, Err: err}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return aws.Credentials{}, &CredentialsError{Source: p.source, Err: ErrNoCredentials}
	}
	return c, nil
}

// Token returns a valid OAUTHBEARER token and when it expires, signing a
// new one only when the cached one has less than a fifth of its life left.
func (p *Provider) Token(ctx context.Context) (Token, time.Time, error) {
	now := p.now()
	if c := p.cache.Load(); c != nil && now.Before(c.renewAt) {
		return c.token, c.expires, nil
	}
	return p.refresh(ctx)
}

func (p *Provider) refresh(ctx context.Context) (Token, time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if c := p.cache.Load(); c != nil && now.Before(c.renewAt) {
		return c.token, c.expires, nil
	}
	creds, err := p.Credentials(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	signedAt := now.UTC().Truncate(time.Second)
	tok, err := NewToken(creds, p.region, signedAt, p.userAgent)
	if err != nil {
		return "", time.Time{}, err
	}
	expires := signedAt.Add(TokenLifetime)
	if creds.CanExpire && creds.Expires.Before(expires) {
		expires = creds.Expires
	}
	if !expires.After(now) {
		return "", time.Time{}, &CredentialsError{Source: p.source, Err: fmt.Errorf("credentials expired at %s", creds.Expires.Format(time.RFC3339))}
	}
	c := &cachedToken{token: tok, expires: expires, renewAt: now.Add(expires.Sub(now) * 4 / 5)}
	p.cache.Store(c)
	return c.token, c.expires, nil
}

// OAuth returns the OAUTHBEARER mechanism for franz-go's kgo.SASL, backed
// by this Provider's cached tokens.
func (p *Provider) OAuth() sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, _, err := p.Token(ctx)
		return oauth.Auth{Token: string(tok)}, err
	})
}

// MSKIAM returns the AWS_MSK_IAM mechanism for franz-go's kgo.SASL. Unlike
// franz-go's own sasl/aws, it signs with this Provider's region when the
// broker host carries none (private DNS, the local emulator), instead of
// reading AWS_REGION on every connection.
func (p *Provider) MSKIAM() sasl.Mechanism { return mskIAM{p} }

type mskIAM struct{ p *Provider }

func (mskIAM) Name() string { return "AWS_MSK_IAM" }

func (m mskIAM) Authenticate(ctx context.Context, hostport string) (sasl.Session, []byte, error) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	creds, err := m.p.Credentials(ctx)
	if err != nil {
		return nil, nil, err
	}
	payload, err := NewPayload(creds, m.p.region, host, m.p.now(), m.p.userAgent)
	if err != nil {
		return nil, nil, err
	}
	return mskIAMSession{}, payload, nil
}

type mskIAMSession struct{}

func (mskIAMSession) Challenge(resp []byte) (bool, []byte, error) {
	if len(resp) == 0 {
		return false, nil, errors.New("iamauth: AWS_MSK_IAM: the broker answered with an empty response")
	}
	return true, nil, nil
}

// CredentialsError means no usable credentials came from Source.
type CredentialsError struct {
	Source string
	Err    error
}

func (e *CredentialsError) Error() string {
	return fmt.Sprintf("iamauth: no usable AWS credentials from %s: %s (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pick a profile with AWS_PROFILE or --profile, or run with a role attached)", e.Source, oneLine(e.Err))
}

func (e *CredentialsError) Unwrap() error { return e.Err }

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
