package extension

import (
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/msklink/msklink/kafkaconn"
)

// Defaults of the extension's own settings.
const (
	DefaultListen = "127.0.0.1:9092"
	// DefaultCheckAfter is the silence after which an upstream connection
	// is checked before use: far below the idle closes that kill a frozen
	// environment's connections (a NAT gateway's or Lambda's VPC
	// interfaces' 350 s, MSK's connections.max.idle.ms, 10 minutes), so
	// that a connection that might have died while frozen is never used
	// unchecked, and long enough that a function invoked often pays no
	// check. A check costs one round trip to the broker.
	DefaultCheckAfter = 10 * time.Second
	// DefaultCheckTimeout bounds a check: the pause a client sees before
	// the extension gives up on a connection and opens a new one.
	DefaultCheckTimeout = time.Second
	// DefaultInitTimeout bounds the upstream connects of Init: half of
	// Lambda's 10 s Init limit, which the runtime and the function's own
	// Init share.
	DefaultInitTimeout = 5 * time.Second
	// DefaultFailureMemory is how long a failed connect to MSK answers
	// new client connections at once with the same error.
	DefaultFailureMemory = 5 * time.Second
)

// Settings are the extension's settings: the upstream Config from the
// same MSK_* variables as kafkaconn.FromEnv, and the extension's own.
type Settings struct {
	Upstream      kafkaconn.Config
	Listen        string        // MSK_PROXY_LISTEN, default DefaultListen
	CheckAfter    time.Duration // MSK_PROXY_CHECK_AFTER, default DefaultCheckAfter
	CheckTimeout  time.Duration // MSK_PROXY_CHECK_TIMEOUT, default DefaultCheckTimeout
	InitTimeout   time.Duration // MSK_PROXY_INIT_TIMEOUT, default DefaultInitTimeout
	FailureMemory time.Duration // MSK_PROXY_FAILURE_MEMORY, default DefaultFailureMemory
	LogLevel      slog.Level    // MSK_PROXY_LOG_LEVEL (debug, info, warn, error), default info
}

// FromEnv reads the settings:
//
//	MSK_BOOTSTRAP_SERVERS, MSK_AUTH, MSK_REGION, MSK_TLS_CA_FILE, ...
//	                          the upstream, as kafkaconn.FromEnv (required:
//	                          MSK_BOOTSTRAP_SERVERS, the IAM bootstrap string)
//	MSK_PROXY_LISTEN          the bootstrap listener (default 127.0.0.1:9092;
//	                          brokers on the next ports); loopback only
//	MSK_PROXY_CHECK_AFTER     silence before a connection is checked (10s)
//	MSK_PROXY_CHECK_TIMEOUT   a check's bound (1s)
//	MSK_PROXY_INIT_TIMEOUT    Init's bound on reaching MSK (5s)
//	MSK_PROXY_FAILURE_MEMORY  how long a failed connect is answered at once (5s)
//	MSK_PROXY_LOG_LEVEL       debug, info, warn or error (info)
//
// It validates the upstream Config as every msklink client does (ports
// against the auth mode, region, files). Errors are *kafkaconn.ConfigError,
// joined, naming the variable, the value and the fix.
func FromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{Listen: DefaultListen, CheckAfter: DefaultCheckAfter, CheckTimeout: DefaultCheckTimeout,
		InitTimeout: DefaultInitTimeout, FailureMemory: DefaultFailureMemory}
	var errs []error
	cfg, err := kafkaconn.FromEnv(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	s.Upstream = cfg
	if len(cfg.Brokers) == 0 {
		errs = append(errs, &kafkaconn.ConfigError{Field: "MSK_BOOTSTRAP_SERVERS", Value: "",
			Fix: "set it to the cluster's IAM bootstrap string (BootstrapBrokerStringSaslIam of aws kafka get-bootstrap-brokers; port 9098)"})
	} else if _, err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if v := getenv("MSK_PROXY_LISTEN"); v != "" {
		s.Listen = v
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"MSK_PROXY_CHECK_AFTER", &s.CheckAfter}, {"MSK_PROXY_CHECK_TIMEOUT", &s.CheckTimeout},
		{"MSK_PROXY_INIT_TIMEOUT", &s.InitTimeout}, {"MSK_PROXY_FAILURE_MEMORY", &s.FailureMemory}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			errs = append(errs, &kafkaconn.ConfigError{Field: d.name, Value: v, Fix: "use a positive Go duration such as 500ms or 5s"})
			continue
		}
		*d.dst = dur
	}
	if v := getenv("MSK_PROXY_LOG_LEVEL"); v != "" {
		if err := s.LogLevel.UnmarshalText([]byte(strings.ToUpper(v))); err != nil {
			errs = append(errs, &kafkaconn.ConfigError{Field: "MSK_PROXY_LOG_LEVEL", Value: v, Fix: "use debug, info, warn or error"})
		}
	}
	return s, errors.Join(errs...)
}

// oneLine joins the lines of a (joined) error, for a one-line log.
func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }
