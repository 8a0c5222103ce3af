package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"github.com/msklink/msklink/iamauth"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Opt configures NewClient.
type Opt func(*clientConfig)

type clientConfig struct {
	logger   *slog.Logger
	kgoOpts  []kgo.Opt
	provider *iamauth.Provider
}

// WithLogger logs the client's events through l (franz-go's info level and
// above). Default: no logging.
func WithLogger(l *slog.Logger) Opt { return func(c *clientConfig) { c.logger = l } }

// WithClientOpts appends franz-go options, applied after msklink's own (so
// they win): hooks, a partitioner, consumer settings.
func WithClientOpts(opts ...kgo.Opt) Opt {
	return func(c *clientConfig) { c.kgoOpts = append(c.kgoOpts, opts...) }
}

// WithTokenProvider uses p for IAM tokens instead of building one from
// the Config. Default: NewClient builds it.
func WithTokenProvider(p *iamauth.Provider) Opt { return func(c *clientConfig) { c.provider = p } }

// TLSConfig returns the TLS configuration for cfg: TLS 1.2 or later, the
// CA file's pool when set (else the system pool), the client certificate
// for mtls. It returns nil for plaintext.
func TLSConfig(cfg Config) (*tls.Config, error) {
	cfg = cfg.withDefaults()
	if cfg.Auth == AuthPlaintext {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCAFile != "" {
		pem, err := os.ReadFile(cfg.TLSCAFile)
		if err != nil {
			return nil, &ConfigError{Field: "tls ca file", Value: cfg.TLSCAFile, Fix: fmt.Sprintf("cannot be read: %v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "tls ca file", Value: cfg.TLSCAFile, Fix: "holds no PEM certificate: give the CA's PEM file"}
		}
		tc.RootCAs = pool
	}
	if cfg.Auth == AuthMTLS {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "tls client certificate", Value: cfg.TLSCertFile, Fix: fmt.Sprintf("cannot be loaded with its key: %v", err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// TokenProvider returns the iamauth provider cfg describes: its region (or
// the brokers'), credentials source and role.
func TokenProvider(ctx context.Context, cfg Config) (*iamauth.Provider, error) {
	opts := []iamauth.Opt{iamauth.WithRegion(cfg.Region), iamauth.WithProfile(cfg.Profile), iamauth.WithRoleARN(cfg.RoleARN),
		iamauth.WithExternalID(cfg.ExternalID), iamauth.WithUserAgent("msklink")}
	if cfg.SessionName != "" {
		opts = append(opts, iamauth.WithSessionName(cfg.SessionName))
	}
	if cfg.Credentials != nil {
		opts = append(opts, iamauth.WithCredentialsProvider(cfg.Credentials))
	}
	if len(cfg.Brokers) > 0 {
		opts = append(opts, iamauth.WithBrokerHost(cfg.Brokers[0]))
	}
	return iamauth.New(ctx, opts...)
}

// Mechanism returns the SASL mechanism for cfg, or nil for modes without
// SASL.
func Mechanism(ctx context.Context, cfg Config, p *iamauth.Provider) (sasl.Mechanism, error) {
	cfg = cfg.withDefaults()
	switch cfg.Auth {
	case AuthIAM:
		if p == nil {
			var err error
			if p, err = TokenProvider(ctx, cfg); err != nil {
				return nil, err
			}
		}
		if cfg.IAMMechanism == MechanismAWSMSKIAM {
			return p.MSKIAM(), nil
		}
		return p.OAuth(), nil
	case AuthSCRAM:
		return scram.Auth{User: cfg.SCRAMUsername, Pass: string(cfg.SCRAMPassword)}.AsSha512Mechanism(), nil
	}
	return nil, nil
}

// ClientOpts returns the franz-go options for cfg, after validating it.
// NewClient uses them; they are exported for callers that build their own
// client (a consumer, an admin client).
func ClientOpts(ctx context.Context, cfg Config, opts ...Opt) ([]kgo.Opt, error) {
	if _, err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var cc clientConfig
	for _, o := range opts {
		o(&cc)
	}
	dialer := &net.Dialer{Timeout: cfg.DialTimeout}
	ko := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(cfg.DialTimeout),
		kgo.RequestTimeoutOverhead(cfg.RequestTimeout),
		kgo.ProducerLinger(cfg.Linger),
		// Client metrics (KIP-714) cost an extra request and connection at
		// start; MSK does not collect them.
		kgo.DisableClientMetrics(),
		kgo.RetryBackoffFn(retryBackoff),
		// franz-go refreshes metadata at most every 5 s by default; after
		// a leader move or a failed start that is 5 s of a Lambda
		// function's time. Half a second keeps refreshes rare but quick.
		kgo.MetadataMinAge(500 * time.Millisecond),
	}
	tc, err := TLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		ko = append(ko, kgo.Dialer((&tls.Dialer{NetDialer: dialer, Config: tc}).DialContext))
	} else {
		ko = append(ko, kgo.Dialer(dialer.DialContext))
	}
	mech, err := Mechanism(ctx, cfg, cc.provider)
	if err != nil {
		return nil, err
	}
	if mech != nil {
		ko = append(ko, kgo.SASL(mech))
	}
	switch cfg.Acks {
	case "leader", "1":
		ko = append(ko, kgo.RequiredAcks(kgo.LeaderAck()))
	case "none", "0":
		ko = append(ko, kgo.RequiredAcks(kgo.NoAck()))
	default:
		ko = append(ko, kgo.RequiredAcks(kgo.AllISRAcks()))
	}
	if cfg.DisableIdempotence {
		ko = append(ko, kgo.DisableIdempotentWrite())
	}
	switch cfg.Compression {
	case "gzip":
		ko = append(ko, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		ko = append(ko, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		ko = append(ko, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		ko = append(ko, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		ko = append(ko, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	if cfg.DeliveryTimeout > 0 {
		ko = append(ko, kgo.RecordDeliveryTimeout(cfg.DeliveryTimeout))
	}
	if cfg.Topic != "" {
		ko = append(ko, kgo.DefaultProduceTopic(cfg.Topic))
	}
	if cc.logger != nil {
		ko = append(ko, kgo.WithLogger(NewLogger(cc.logger)))
	}
	return append(ko, cc.kgoOpts...), nil
}

// retryBackoff retries the first time almost at once (the common failure
// in Lambda is a connection that died while the function was frozen: a
// redial fixes it), then backs off exponentially to one second, with
// jitter so that many clients do not retry in step.
func retryBackoff(tries int) time.Duration {
	if tries <= 1 {
		return 5 * time.Millisecond
	}
	d := 25 * time.Millisecond << min(tries-2, 6) // 25ms, 50ms, ... 1.6s
	d = min(d, time.Second)
	return d/2 + rand.N(d/2+1)
}

// NewClient validates cfg and returns a franz-go client configured for
// MSK. It does not connect; the first request does (see package publish's
// Warm to connect ahead of time).
func NewClient(ctx context.Context, cfg Config, opts ...Opt) (*kgo.Client, error) {
	ko, err := ClientOpts(ctx, cfg, opts...)
	if err != nil {
		return nil, err
	}
	return kgo.NewClient(ko...)
}
