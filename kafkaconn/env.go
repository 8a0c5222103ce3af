package kafkaconn

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// FromEnv reads a Config from environment variables through getenv
// (os.Getenv in production). Unset variables leave defaults.
//
//	MSK_BOOTSTRAP_SERVERS   bootstrap brokers, comma-separated (required)
//	MSK_AUTH                iam (default), scram, tls, mtls, plaintext
//	MSK_REGION              region (default: from the broker host names)
//	MSK_TOPIC               default topic
//	MSK_TLS_CA_FILE         PEM CA bundle to trust (the emulator's CA)
//	MSK_TLS_CERT_FILE       client certificate (mtls)
//	MSK_TLS_KEY_FILE        client key (mtls)
//	MSK_SCRAM_USERNAME      SCRAM user (scram)
//	MSK_SCRAM_PASSWORD      SCRAM password (scram)
//	MSK_IAM_MECHANISM       OAUTHBEARER (default) or AWS_MSK_IAM
//	MSK_ROLE_ARN            IAM role to assume for the token
//	MSK_ROLE_EXTERNAL_ID    external id for MSK_ROLE_ARN
//	MSK_CLIENT_ID           Kafka client id
//	MSK_ACKS                all (default), leader, none
//	MSK_IDEMPOTENT          true (default) or false
//	MSK_COMPRESSION         none (default), gzip, snappy, lz4, zstd
//	MSK_LINGER              producer linger, a Go duration (default 0)
//	MSK_DIAL_TIMEOUT        a Go duration (default 5s)
//	MSK_REQUEST_TIMEOUT     a Go duration (default 10s)
//	MSK_DELIVERY_TIMEOUT    a Go duration (default 0: the caller's deadline)
//
// Errors name the variable and the value.
func FromEnv(getenv func(string) string) (Config, error) {
	var c Config
	var errs []error
	if v := getenv("MSK_BOOTSTRAP_SERVERS"); v != "" {
		for _, b := range strings.Split(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				c.Brokers = append(c.Brokers, b)
			}
		}
	}
	c.Auth = Auth(strings.ToLower(getenv("MSK_AUTH")))
	c.Region = getenv("MSK_REGION")
	c.Topic = getenv("MSK_TOPIC")
	c.TLSCAFile = getenv("MSK_TLS_CA_FILE")
	c.TLSCertFile = getenv("MSK_TLS_CERT_FILE")
	c.TLSKeyFile = getenv("MSK_TLS_KEY_FILE")
	c.SCRAMUsername = getenv("MSK_SCRAM_USERNAME")
	c.SCRAMPassword = Password(getenv("MSK_SCRAM_PASSWORD"))
	c.IAMMechanism = strings.ToUpper(getenv("MSK_IAM_MECHANISM"))
	c.RoleARN = getenv("MSK_ROLE_ARN")
	c.ExternalID = getenv("MSK_ROLE_EXTERNAL_ID")
	c.ClientID = getenv("MSK_CLIENT_ID")
	c.Acks = strings.ToLower(getenv("MSK_ACKS"))
	c.Compression = strings.ToLower(getenv("MSK_COMPRESSION"))
	if v := getenv("MSK_IDEMPOTENT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, &ConfigError{Field: "MSK_IDEMPOTENT", Value: v, Fix: "use true or false"})
		}
		c.DisableIdempotence = !b
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{"MSK_LINGER", &c.Linger}, {"MSK_DIAL_TIMEOUT", &c.DialTimeout}, {"MSK_REQUEST_TIMEOUT", &c.RequestTimeout}, {"MSK_DELIVERY_TIMEOUT", &c.DeliveryTimeout}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, &ConfigError{Field: d.name, Value: v, Fix: "not a duration: use a Go duration such as 500ms or 5s"})
		}
		*d.dst = dur
	}
	return c, errors.Join(errs...)
}
