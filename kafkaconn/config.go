package kafkaconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/msklink/msklink/iamauth"
)

// Auth is how the client authenticates; each MSK listener takes one.
type Auth string

// The authentication modes, with the MSK ports that take them.
const (
	AuthIAM       Auth = "iam"       // SASL/OAUTHBEARER or AWS_MSK_IAM over TLS: 9098, 9198 public
	AuthSCRAM     Auth = "scram"     // SASL/SCRAM-SHA-512 over TLS: 9096, 9196 public
	AuthTLS       Auth = "tls"       // TLS, no client certificate: 9094, 9194 public
	AuthMTLS      Auth = "mtls"      // TLS with a client certificate: 9094, 9194 public
	AuthPlaintext Auth = "plaintext" // no TLS, no auth: 9092
)

// IAM SASL mechanisms.
const (
	MechanismOAuthBearer = "OAUTHBEARER" // the default, what AWS's signer libraries produce
	MechanismAWSMSKIAM   = "AWS_MSK_IAM" // the older mechanism of aws-msk-iam-auth
)

// Password is a SCRAM password. It logs, prints (fmt's verbs, also inside
// a Config) and marshals to JSON as "REDACTED"; string(p) is the value.
type Password string

// LogValue implements slog.LogValuer.
func (Password) LogValue() slog.Value { return slog.StringValue("REDACTED") }

// String implements fmt.Stringer: "REDACTED".
func (Password) String() string { return "REDACTED" }

// GoString implements fmt.GoStringer (%#v): "REDACTED".
func (Password) GoString() string { return `"REDACTED"` }

// MarshalJSON encodes "REDACTED", so that a Config logged through a JSON
// handler does not carry the password.
func (Password) MarshalJSON() ([]byte, error) { return []byte(`"REDACTED"`), nil }

// Config is everything needed to connect to an MSK cluster. The zero value
// plus Brokers is a valid IAM configuration.
type Config struct {
	// Brokers are the bootstrap brokers, host:port (MSK's
	// BootstrapBrokerStringSaslIam and friends, split on commas).
	Brokers []string
	// Auth is the authentication mode. Default AuthIAM.
	Auth Auth
	// Region is the cluster's region, for IAM tokens. Default: from the
	// broker host names, else AWS_REGION / AWS_DEFAULT_REGION.
	Region string
	// Topic is the default topic to produce to. Optional.
	Topic string

	// IAMMechanism is MechanismOAuthBearer (default) or MechanismAWSMSKIAM.
	IAMMechanism string
	// Profile, RoleARN, ExternalID and SessionName pick IAM credentials
	// (see iamauth). Default: the AWS default chain.
	Profile, RoleARN, ExternalID, SessionName string
	// Credentials, when set, is used for IAM instead of the above.
	Credentials aws.CredentialsProvider

	// SCRAMUsername and SCRAMPassword are the SCRAM-SHA-512 credentials
	// for AuthSCRAM (MSK keeps them in Secrets Manager).
	SCRAMUsername string
	SCRAMPassword Password

	// TLSCAFile is a PEM file of CAs to trust instead of the system pool
	// (the local emulator's CA, a private CA). Default: the system pool,
	// which trusts MSK's Amazon-issued certificates.
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client certificate for AuthMTLS.
	TLSCertFile, TLSKeyFile string

	// ClientID is the Kafka client id. Default: the Lambda function name
	// (AWS_LAMBDA_FUNCTION_NAME), else the host name, prefixed "msklink-".
	ClientID string

	// DialTimeout bounds a TCP+TLS connect. Default 5s: a security group
	// that drops packets shows up as a dial timeout, and Lambda has no
	// time to wait franz-go's default 10s.
	DialTimeout time.Duration
	// RequestTimeout is the time allowed for a request on top of its own
	// timeout (kgo.RequestTimeoutOverhead). Default 10s.
	RequestTimeout time.Duration
	// DeliveryTimeout bounds a record's life in the client, retries
	// included (kgo.RecordDeliveryTimeout). Default 0: bounded by the
	// caller's context instead (package publish does).
	DeliveryTimeout time.Duration

	// Acks is "all" (default), "leader" or "none".
	Acks string
	// DisableIdempotence turns off the idempotent producer (on by default:
	// retries then never duplicate a record). It needs the IAM action
	// kafka-cluster:WriteDataIdempotently.
	DisableIdempotence bool
	// Compression is "none" (default), "gzip", "snappy", "lz4" or "zstd".
	Compression string
	// Linger is how long a partition's batch waits for more records.
	// Default 0: in Lambda, latency matters more than batching.
	Linger time.Duration
}

// Defaults.
const (
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// withDefaults returns c with empty fields set to their defaults.
func (c Config) withDefaults() Config {
	if c.Auth == "" {
		c.Auth = AuthIAM
	}
	if c.IAMMechanism == "" {
		c.IAMMechanism = MechanismOAuthBearer
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Acks == "" {
		c.Acks = "all"
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.ClientID == "" {
		c.ClientID = defaultClientID()
	}
	return c
}

func defaultClientID() string {
	if fn := os.Getenv("AWS_LAMBDA_FUNCTION_NAME"); fn != "" {
		return "msklink-" + fn
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return "msklink-" + h
	}
	return "msklink"
}

// ConfigError is one wrong setting: the field (or environment variable),
// its value, and what to do.
type ConfigError struct {
	Field string
	Value string
	Fix   string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("kafkaconn: %s: %s", e.Field, e.Fix)
	}
	return fmt.Sprintf("kafkaconn: %s %q: %s", e.Field, e.Value, e.Fix)
}

// Warning is a setting that works but is probably not what was meant.
type Warning struct {
	Field string
	Msg   string
}

func (w Warning) String() string { return w.Field + ": " + w.Msg }

// PortAuth returns the auth modes MSK serves on port, and false for ports
// that are not MSK's (the local emulator's ephemeral ports, a proxy).
// Multi-VPC private connectivity (14001-14100) serves every mode.
func PortAuth(port int) ([]Auth, bool) {
	switch {
	case port == 9098 || port == 9198:
		return []Auth{AuthIAM}, true
	case port == 9096 || port == 9196:
		return []Auth{AuthSCRAM}, true
	case port == 9094 || port == 9194:
		return []Auth{AuthTLS, AuthMTLS}, true
	case port == 9092:
		return []Auth{AuthPlaintext}, true
	case port >= 14001 && port <= 14100:
		return []Auth{AuthIAM, AuthSCRAM, AuthTLS, AuthMTLS}, true
	}
	return nil, false
}

var portForAuth = map[Auth]string{AuthIAM: "9098 (9198 public)", AuthSCRAM: "9096 (9196 public)", AuthTLS: "9094 (9194 public)", AuthMTLS: "9094 (9194 public)", AuthPlaintext: "9092"}

// IsServerless reports whether host is an MSK Serverless bootstrap name.
func IsServerless(host string) bool {
	return strings.Contains(host, ".kafka-serverless.") && strings.Contains(host, ".amazonaws.com")
}

// Validate checks c as MSK would take it. It returns warnings for settings
// that work but are probably not meant, and an error (errors.Join of
// *ConfigError) for settings that cannot work, each naming the field and
// the fix.
func (c Config) Validate() ([]Warning, error) {
	c = c.withDefaults()
	var errs []error
	var warns []Warning
	bad := func(field, value, fix string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Value: value, Fix: fmt.Sprintf(fix, args...)})
	}

	switch c.Auth {
	case AuthIAM, AuthSCRAM, AuthTLS, AuthMTLS, AuthPlaintext:
	default:
		bad("auth", string(c.Auth), "unknown auth mode: use iam, scram, tls, mtls or plaintext")
	}
	if len(c.Brokers) == 0 {
		bad("brokers", "", "no bootstrap brokers: set MSK_BOOTSTRAP_SERVERS to the cluster's bootstrap string (aws kafka get-bootstrap-brokers)")
	}
	hostRegion := ""
	for _, b := range c.Brokers {
		if scheme, rest, ok := strings.Cut(strings.TrimSpace(b), "://"); ok {
			// Java clients' listener syntax (SASL_SSL://host:port).
			bad("brokers", b, "remove the scheme %s://: give host:port, as in %q", scheme, rest)
			continue
		}
		host, portStr, err := net.SplitHostPort(strings.TrimSpace(b))
		if err != nil || host == "" {
			port := "9098"
			if p, ok := portForAuth[c.Auth]; ok {
				port = strings.Fields(p)[0]
			}
			bad("brokers", b, "not host:port: add the port, e.g. %s:%s", strings.TrimSpace(b), port)
			continue
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port <= 0 || port > 65535 {
			bad("brokers", b, "port %q is not a number between 1 and 65535", portStr)
			continue
		}
		if modes, msk := PortAuth(port); msk && !slices.Contains(modes, c.Auth) {
			bad("brokers", b, "port %d is MSK's %s port, but auth is %s: use port %s for %s, or set auth to %s", port, modes[0], c.Auth, portForAuth[c.Auth], c.Auth, modes[0])
		}
		if IsServerless(host) {
			if c.Auth != AuthIAM {
				bad("auth", string(c.Auth), "MSK Serverless (%s) takes only IAM auth: set auth to iam", host)
			}
			if port != 9098 {
				bad("brokers", b, "MSK Serverless listens on port 9098 only")
			}
		}
		if r, ok := iamauth.RegionFromHost(host); ok {
			if hostRegion != "" && r != hostRegion {
				bad("brokers", b, "is in region %s but another broker is in %s: use one cluster's bootstrap string", r, hostRegion)
			}
			hostRegion = r
		}
	}
	if c.Region != "" {
		if err := iamauth.ValidateRegion(c.Region); err != nil {
			bad("region", c.Region, "not an AWS region name (like us-east-1)")
		} else if hostRegion != "" && c.Region != hostRegion {
			bad("region", c.Region, "the brokers are in %s, and MSK rejects tokens signed for another region: set region to %s or leave it empty", hostRegion, hostRegion)
		}
	}
	switch c.Auth {
	case AuthIAM:
		if c.IAMMechanism != MechanismOAuthBearer && c.IAMMechanism != MechanismAWSMSKIAM {
			bad("iam mechanism", c.IAMMechanism, "use %s or %s", MechanismOAuthBearer, MechanismAWSMSKIAM)
		}
	case AuthSCRAM:
		if c.SCRAMUsername == "" || c.SCRAMPassword == "" {
			bad("scram credentials", "", "auth scram needs a username and password: set MSK_SCRAM_USERNAME and MSK_SCRAM_PASSWORD (the AmazonMSK_ secret's values)")
		}
	case AuthMTLS:
		if c.TLSCertFile == "" || c.TLSKeyFile == "" {
			bad("tls client certificate", "", "auth mtls needs a client certificate and key: set MSK_TLS_CERT_FILE and MSK_TLS_KEY_FILE")
		}
	}
	if c.Auth != AuthSCRAM && (c.SCRAMUsername != "" || c.SCRAMPassword != "") {
		warns = append(warns, Warning{"scram credentials", fmt.Sprintf("set but auth is %s: they are not used", c.Auth)})
	}
	for _, f := range []struct{ field, path string }{{"tls ca file", c.TLSCAFile}, {"tls cert file", c.TLSCertFile}, {"tls key file", c.TLSKeyFile}} {
		if f.path == "" {
			continue
		}
		if c.Auth == AuthPlaintext {
			warns = append(warns, Warning{f.field, "set but auth is plaintext: TLS is not used"})
		}
		if _, err := os.Stat(f.path); err != nil {
			bad(f.field, f.path, "cannot be read: %v", errors.Unwrap(err))
		}
	}
	switch c.Acks {
	case "all", "-1":
	case "leader", "1", "none", "0":
		if !c.DisableIdempotence {
			bad("acks", c.Acks, "the idempotent producer needs acks=all: set acks to all, or disable idempotence")
		}
	default:
		bad("acks", c.Acks, "use all, leader or none")
	}
	switch c.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("compression", c.Compression, "use none, gzip, snappy, lz4 or zstd")
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"dial timeout", c.DialTimeout}, {"request timeout", c.RequestTimeout}, {"delivery timeout", c.DeliveryTimeout}, {"linger", c.Linger}} {
		if d.v < 0 {
			bad(d.field, d.v.String(), "must not be negative")
		}
	}
	if c.DisableIdempotence {
		warns = append(warns, Warning{"idempotence", "disabled: a retried produce can write a record twice"})
	}
	return warns, errors.Join(errs...)
}
