package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// ClientAuth is how the proxy authenticates the clients that connect to it.
// Whatever it is, the proxy authenticates to MSK with its own identity.
type ClientAuth string

// The client authentication modes.
const (
	// ClientAuthNone authenticates nobody: plaintext, or TLS with
	// WithListenTLS. A client that speaks SASL anyway (PLAIN, OAUTHBEARER,
	// AWS_MSK_IAM) is answered with success without a check.
	ClientAuthNone ClientAuth = "none"
	// ClientAuthTLS is mutual TLS: WithListenTLS, and a client certificate
	// signed by a CA of WithClientCAs. SASL is answered as with none.
	ClientAuthTLS ClientAuth = "tls"
	// ClientAuthSCRAM is SASL/SCRAM-SHA-512 or SCRAM-SHA-256 against the
	// users of WithSCRAMUsers, over TLS with WithListenTLS.
	ClientAuthSCRAM ClientAuth = "scram"
)

// ParseClientAuth parses "none", "tls" or "scram".
func ParseClientAuth(s string) (ClientAuth, error) {
	switch a := ClientAuth(strings.ToLower(s)); a {
	case ClientAuthNone, ClientAuthTLS, ClientAuthSCRAM:
		return a, nil
	}
	return "", fmt.Errorf("proxy: unknown client authentication %q: use none, tls or scram", s)
}

// SCRAMUser is a user clients authenticate as with ClientAuthSCRAM.
type SCRAMUser struct {
	Username string
	Password kafkaconn.Password
}

// Defaults.
const (
	DefaultListen         = "127.0.0.1:19092"
	DefaultMaxConnections = 1000
	DefaultIdleTimeout    = 10 * time.Minute
	DefaultRefusalMemory  = 5 * time.Second
)

// maxListeners bounds the broker listeners one proxy opens, whatever the
// metadata says.
const maxListeners = 1024

// Opt configures Start.
type Opt func(*options)

type options struct {
	listen        string
	advertise     string
	clientAuth    ClientAuth
	clientAuthSet bool
	listenTLS     *tls.Config
	clientCAs     *x509.CertPool
	scramUsers    map[string]kafkaconn.Password
	log           *slog.Logger
	maxConns      int
	idle          time.Duration
	provider      *iamauth.Provider
	refusalMemory time.Duration
	lambda        lambdaOptions // stale.go
}

// WithListen sets the bootstrap listener's address (default DefaultListen).
// Each MSK broker gets a listener on the same host, on the following ports
// in the order brokers are discovered (19093, 19094, ...), or on ephemeral
// ports when the port is 0 or taken. A non-loopback address needs
// WithClientAuth (see ErrExposed).
func WithListen(addr string) Opt { return func(o *options) { o.listen = addr } }

// WithAdvertisedHost sets the host the proxy gives clients in Metadata and
// FindCoordinator answers. Default: the listen host; required when that is
// an unspecified address (0.0.0.0, ::, empty).
func WithAdvertisedHost(host string) Opt { return func(o *options) { o.advertise = host } }

// WithClientAuth sets how clients authenticate (default ClientAuthNone).
func WithClientAuth(a ClientAuth) Opt {
	return func(o *options) { o.clientAuth, o.clientAuthSet = a, true }
}

// WithListenTLS makes the listeners speak TLS with cfg (its certificate);
// required for ClientAuthTLS. Default: plaintext listeners.
func WithListenTLS(cfg *tls.Config) Opt { return func(o *options) { o.listenTLS = cfg } }

// WithClientCAs sets the CAs that sign client certificates, for
// ClientAuthTLS (required there, unused otherwise).
func WithClientCAs(pool *x509.CertPool) Opt { return func(o *options) { o.clientCAs = pool } }

// WithSCRAMUsers adds users for ClientAuthSCRAM.
func WithSCRAMUsers(users ...SCRAMUser) Opt {
	return func(o *options) {
		if o.scramUsers == nil {
			o.scramUsers = map[string]kafkaconn.Password{}
		}
		for _, u := range users {
			o.scramUsers[u.Username] = u.Password
		}
	}
}

// WithLogger logs client connections, upstream failures (with the doctor's
// cause code) and listener changes through l. Default: discard.
func WithLogger(l *slog.Logger) Opt { return func(o *options) { o.log = l } }

// WithMaxConnections bounds the client connections open at once (default
// DefaultMaxConnections); each has one upstream connection, and MSK allows
// 3000 IAM connections per broker. Connections over the limit are closed at
// once.
func WithMaxConnections(n int) Opt { return func(o *options) { o.maxConns = n } }

// WithIdleTimeout closes a client connection (and its upstream one) that
// sent nothing and awaited nothing for d, that did not take a response
// within d, or whose answers did not come within d while a
// re-authentication waited for them (default DefaultIdleTimeout, Kafka's
// connections.max.idle.ms).
func WithIdleTimeout(d time.Duration) Opt { return func(o *options) { o.idle = d } }

// WithTokenProvider signs upstream IAM authentications with p. Default: the
// provider kafkaconn.TokenProvider builds from the Config (its region,
// profile, role or credentials, else the default chain), one for every
// connection.
func WithTokenProvider(p *iamauth.Provider) Opt { return func(o *options) { o.provider = p } }

// WithRefusalMemory sets how long the proxy remembers MSK's refusal of its
// identity (SASL_AUTHENTICATION_FAILED: access denied, a token signed for
// the wrong region, expired credentials). Meanwhile upstream connects fail
// with the same error at once, without a login to MSK, so clients are
// answered as if MSK had refused them (ApiVersions with
// SASL_AUTHENTICATION_FAILED) and a misconfigured role does not make each
// client connection try every broker. The first connect after d asks MSK
// again, so a fixed role works without a restart. "Too many connects" is
// not remembered: it is MSK's connection rate limit, not a verdict on the
// identity. 0 remembers nothing. Default DefaultRefusalMemory.
func WithRefusalMemory(d time.Duration) Opt { return func(o *options) { o.refusalMemory = d } }

// ErrExposed is returned by Start for a listen address beyond loopback
// without client authentication chosen.
var ErrExposed = errors.New("proxy: a listener beyond loopback without client authentication would expose the cluster to anyone who can reach it, with the proxy's own IAM identity")

func (o *options) validate() error {
	host, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return fmt.Errorf("proxy: listen address %q: %v: give host:port, e.g. %s", o.listen, err, DefaultListen)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("proxy: listen address %q: bad port %q", o.listen, port)
	}
	if !isLoopback(host) && !o.clientAuthSet {
		return fmt.Errorf("%w: listen address %q: choose client authentication scram or tls, or none to accept that", ErrExposed, o.listen)
	}
	switch o.clientAuth {
	case ClientAuthNone:
	case ClientAuthTLS:
		if o.listenTLS == nil || len(o.listenTLS.Certificates) == 0 && o.listenTLS.GetCertificate == nil {
			return errors.New("proxy: client authentication tls needs the listeners' certificate and key (WithListenTLS)")
		}
		if o.clientCAs == nil {
			return errors.New("proxy: client authentication tls needs the CA that signs client certificates (WithClientCAs)")
		}
	case ClientAuthSCRAM:
		if len(o.scramUsers) == 0 {
			return errors.New("proxy: client authentication scram needs at least one user (WithSCRAMUsers)")
		}
		for u, pw := range o.scramUsers {
			if u == "" || pw == "" {
				return fmt.Errorf("proxy: SCRAM user %q: a user needs a name and a password", u)
			}
		}
	default:
		return fmt.Errorf("proxy: unknown client authentication %q: use none, tls or scram", o.clientAuth)
	}
	if o.maxConns <= 0 {
		return fmt.Errorf("proxy: max connections %d: must be at least 1", o.maxConns)
	}
	if o.idle <= 0 {
		return fmt.Errorf("proxy: idle timeout %s: must be positive", o.idle)
	}
	if o.refusalMemory < 0 {
		return fmt.Errorf("proxy: refusal memory %s: must be 0 (off) or positive", o.refusalMemory)
	}
	return nil
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// advertisedHost is the host clients are given for the listen host.
func (o *options) advertisedHost() (string, error) {
	if o.advertise != "" {
		return o.advertise, nil
	}
	host, _, _ := net.SplitHostPort(o.listen)
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return host, nil
	}
	return "", fmt.Errorf("proxy: listen address %q does not say which host clients reach it by: set the advertised host", o.listen)
}
