package cli

import (
	"flag"
	"strings"
	"time"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// connFlags are the connection flags shared by produce, consume, invoke and
// doctor. Each flag overrides its MSK_* environment variable (read first,
// through kafkaconn.FromEnv), so a command line and a Lambda function's
// environment describe a connection the same way.
type connFlags struct {
	bootstrap, auth, region, topic, caFile, certFile, keyFile string
	scramUser, scramPassword, mechanism, profile, roleARN     string
	externalID, clientID                                      string
	dialTimeout                                               time.Duration

	cmd string // the command's name, for usage errors
}

const connFlagsUsage = "[--bootstrap H:P,...] [--auth iam|scram|tls|mtls|plaintext] [--region R] [--ca-file F] [--scram-user U --scram-password P] [--profile P] [--role-arn ARN]"

// register adds the connection flags to fs.
func (c *connFlags) register(fs *flag.FlagSet) {
	c.cmd = fs.Name()
	fs.StringVar(&c.bootstrap, "bootstrap", "", "bootstrap brokers, host:port,... ($MSK_BOOTSTRAP_SERVERS)")
	fs.StringVar(&c.auth, "auth", "", "iam, scram, tls, mtls or plaintext ($MSK_AUTH; default iam)")
	fs.StringVar(&c.region, "region", "", "AWS region for IAM ($MSK_REGION; default from the broker hosts, $AWS_REGION)")
	fs.StringVar(&c.topic, "topic", "", "topic ($MSK_TOPIC)")
	fs.StringVar(&c.caFile, "ca-file", "", "PEM CA file to trust ($MSK_TLS_CA_FILE; default the system pool)")
	fs.StringVar(&c.certFile, "cert-file", "", "client certificate for mtls ($MSK_TLS_CERT_FILE)")
	fs.StringVar(&c.keyFile, "key-file", "", "client key for mtls ($MSK_TLS_KEY_FILE)")
	fs.StringVar(&c.scramUser, "scram-user", "", "SCRAM username ($MSK_SCRAM_USERNAME)")
	fs.StringVar(&c.scramPassword, "scram-password", "", "SCRAM password ($MSK_SCRAM_PASSWORD)")
	fs.StringVar(&c.mechanism, "iam-mechanism", "", "OAUTHBEARER or AWS_MSK_IAM ($MSK_IAM_MECHANISM; default OAUTHBEARER)")
	fs.StringVar(&c.profile, "profile", "", "AWS profile for IAM credentials ($AWS_PROFILE)")
	fs.StringVar(&c.roleARN, "role-arn", "", "IAM role to assume for the token ($MSK_ROLE_ARN)")
	fs.StringVar(&c.externalID, "external-id", "", "external id for --role-arn ($MSK_ROLE_EXTERNAL_ID)")
	fs.StringVar(&c.clientID, "client-id", "", "Kafka client id ($MSK_CLIENT_ID)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 0, "TCP+TLS connect timeout ($MSK_DIAL_TIMEOUT; default 5s)")
}

// check returns a usage error (exit 2) naming the flag for a value that
// cannot work whatever else is set: an unknown --auth or --iam-mechanism,
// a --region that is no region name, a --topic Kafka refuses, a negative
// --dial-timeout. The rest is kafkaconn's to judge, with the environment.
func (c *connFlags) check() error {
	switch kafkaconn.Auth(strings.ToLower(c.auth)) {
	case "", kafkaconn.AuthIAM, kafkaconn.AuthSCRAM, kafkaconn.AuthTLS, kafkaconn.AuthMTLS, kafkaconn.AuthPlaintext:
	default:
		return usagef("%s: --auth %q: use iam, scram, tls, mtls or plaintext", c.cmd, c.auth)
	}
	switch strings.ToUpper(c.mechanism) {
	case "", kafkaconn.MechanismOAuthBearer, kafkaconn.MechanismAWSMSKIAM:
	default:
		return usagef("%s: --iam-mechanism %q: use %s or %s", c.cmd, c.mechanism, kafkaconn.MechanismOAuthBearer, kafkaconn.MechanismAWSMSKIAM)
	}
	if c.region != "" {
		if err := iamauth.ValidateRegion(c.region); err != nil {
			return usagef("%s: --region: %v", c.cmd, err)
		}
	}
	if c.topic != "" {
		if err := kafkaconn.CheckTopicName(c.topic); err != nil {
			return usagef("%s: --topic: %v", c.cmd, err)
		}
	}
	if c.dialTimeout < 0 {
		return usagef("%s: --dial-timeout %s must not be negative: omit it for the default 5s", c.cmd, c.dialTimeout)
	}
	return nil
}

// config returns the connection settings: the MSK_* environment, then the
// flags given on top. It checks the flags' own values (check); the whole
// is kafkaconn's to validate.
func (c *connFlags) config(e *env) (kafkaconn.Config, error) {
	if err := c.check(); err != nil {
		return kafkaconn.Config{}, err
	}
	cfg, err := kafkaconn.FromEnv(e.getenv)
	if err != nil {
		return cfg, err
	}
	if c.bootstrap != "" {
		cfg.Brokers = nil
		for _, b := range strings.Split(c.bootstrap, ",") {
			if b = strings.TrimSpace(b); b != "" {
				cfg.Brokers = append(cfg.Brokers, b)
			}
		}
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	if c.auth != "" {
		cfg.Auth = kafkaconn.Auth(strings.ToLower(c.auth))
	}
	set(&cfg.Region, c.region)
	set(&cfg.Topic, c.topic)
	set(&cfg.TLSCAFile, c.caFile)
	set(&cfg.TLSCertFile, c.certFile)
	set(&cfg.TLSKeyFile, c.keyFile)
	set(&cfg.SCRAMUsername, c.scramUser)
	if c.scramPassword != "" {
		cfg.SCRAMPassword = kafkaconn.Password(c.scramPassword)
	}
	set(&cfg.IAMMechanism, strings.ToUpper(c.mechanism))
	set(&cfg.Profile, c.profile)
	set(&cfg.RoleARN, c.roleARN)
	set(&cfg.ExternalID, c.externalID)
	set(&cfg.ClientID, c.clientID)
	if c.dialTimeout != 0 {
		cfg.DialTimeout = c.dialTimeout
	}
	return cfg, nil
}
