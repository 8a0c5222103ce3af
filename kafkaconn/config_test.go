package kafkaconn

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const iamHost = "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com"

func TestValidate(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, []byte("x"), 0o600)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the error; none = valid
	}{
		{"iam ok", Config{Brokers: []string{iamHost + ":9098"}}, nil},
		{"iam public ok", Config{Brokers: []string{"b-1-public.demo.abc.c3.kafka.us-east-1.amazonaws.com:9198"}}, nil},
		{"scram ok", Config{Brokers: []string{iamHost + ":9096"}, Auth: AuthSCRAM, SCRAMUsername: "u", SCRAMPassword: "p"}, nil},
		{"multi-vpc any auth", Config{Brokers: []string{"vpce-1.kafka.us-east-1.vpce.amazonaws.com:14001"}, Auth: AuthSCRAM, SCRAMUsername: "u", SCRAMPassword: "p"}, nil},
		{"emulator port", Config{Brokers: []string{"127.0.0.1:41234"}, Auth: AuthPlaintext}, nil},
		{"ca file ok", Config{Brokers: []string{"127.0.0.1:41234"}, TLSCAFile: ca}, nil},
		{"iam on scram port", Config{Brokers: []string{iamHost + ":9096"}}, []string{`"` + iamHost + `:9096"`, "scram port", "use port 9098"}},
		{"scram on iam port", Config{Brokers: []string{iamHost + ":9098"}, Auth: AuthSCRAM, SCRAMUsername: "u", SCRAMPassword: "p"}, []string{"port 9098 is MSK's iam port"}},
		{"plaintext on tls port", Config{Brokers: []string{iamHost + ":9094"}, Auth: AuthPlaintext}, []string{"tls port"}},
		{"no brokers", Config{}, []string{"MSK_BOOTSTRAP_SERVERS"}},
		{"no port", Config{Brokers: []string{iamHost}}, []string{"add the port", iamHost + ":9098"}},
		{"bad port", Config{Brokers: []string{"h:99999"}}, []string{`"99999"`}},
		{"scheme", Config{Brokers: []string{"SASL_SSL://" + iamHost + ":9098"}}, []string{"remove the scheme", `"` + iamHost + `:9098"`}},
		{"region mismatch", Config{Brokers: []string{iamHost + ":9098"}, Region: "us-west-2"}, []string{"brokers are in us-east-1", "set region to us-east-1"}},
		{"bad region", Config{Brokers: []string{"127.0.0.1:1"}, Region: "virginia"}, []string{`region "virginia"`}},
		{"serverless scram", Config{Brokers: []string{"boot-abc.c1.kafka-serverless.us-east-1.amazonaws.com:9096"}, Auth: AuthSCRAM, SCRAMUsername: "u", SCRAMPassword: "p"}, []string{"Serverless", "only IAM"}},
		{"scram without password", Config{Brokers: []string{"h:1"}, Auth: AuthSCRAM}, []string{"MSK_SCRAM_PASSWORD"}},
		{"mtls without cert", Config{Brokers: []string{"h:1"}, Auth: AuthMTLS}, []string{"MSK_TLS_CERT_FILE"}},
		{"unknown auth", Config{Brokers: []string{"h:1"}, Auth: "kerberos"}, []string{`auth "kerberos"`}},
		{"unknown auth no port", Config{Brokers: []string{"h"}, Auth: "kerberos"}, []string{"add the port"}},
		{"acks leader idempotent", Config{Brokers: []string{"h:1"}, Acks: "leader"}, []string{"acks=all"}},
		{"missing ca file", Config{Brokers: []string{"h:1"}, TLSCAFile: "/nonexistent/ca.pem"}, []string{"/nonexistent/ca.pem", "cannot be read"}},
		{"bad compression", Config{Brokers: []string{"h:1"}, Compression: "brotli"}, []string{"brotli"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Errorf("error is not a *ConfigError: %T", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"MSK_BOOTSTRAP_SERVERS": " b-1:9098, b-2:9098 ,", "MSK_AUTH": "SCRAM", "MSK_TOPIC": "events", "MSK_SCRAM_USERNAME": "u",
		"MSK_SCRAM_PASSWORD": "p", "MSK_IDEMPOTENT": "false", "MSK_LINGER": "5ms", "MSK_DIAL_TIMEOUT": "2s",
	}
	c, err := FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Brokers) != 2 || c.Brokers[1] != "b-2:9098" || c.Auth != AuthSCRAM || c.Topic != "events" || !c.DisableIdempotence ||
		c.Linger != 5*time.Millisecond || c.DialTimeout != 2*time.Second || c.SCRAMPassword != "p" {
		t.Errorf("FromEnv: %+v", c)
	}
	env = map[string]string{"MSK_IDEMPOTENT": "maybe", "MSK_LINGER": "5"}
	_, err = FromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), `MSK_IDEMPOTENT "maybe"`) || !strings.Contains(err.Error(), `MSK_LINGER "5"`) {
		t.Errorf("bad env: %v", err)
	}
}

// TestNewClientPlaintext produces and consumes through a client built from
// a Config, against kfake over a real socket.
func TestNewClientPlaintext(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := Config{Brokers: c.ListenAddrs(), Auth: AuthPlaintext, Topic: "t"}
	cl, err := NewClient(context.Background(), cfg, WithClientOpts(kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fs := cl.PollFetches(ctx)
	if errs := fs.Errors(); len(errs) > 0 {
		t.Fatal(errs)
	}
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello" {
		t.Errorf("consumed %v", recs)
	}
}

func TestNewClientRejectsBadConfig(t *testing.T) {
	_, err := NewClient(context.Background(), Config{Brokers: []string{iamHost + ":9096"},
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	var ce *ConfigError
	if !errors.As(err, &ce) {
		t.Errorf("want a ConfigError, got %v", err)
	}
}
