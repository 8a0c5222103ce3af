package extension

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/kafkaconn"
)

// TestFromEnv: defaults, the extension's own variables, and errors that
// are *kafkaconn.ConfigError naming the variable (or the upstream field)
// and the fix.
func TestFromEnv(t *testing.T) {
	const iam = "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098"
	for _, tc := range []struct {
		name  string
		env   map[string]string
		want  string // in the error; "" for none
		check func(t *testing.T, s Settings)
	}{
		{"defaults", map[string]string{"MSK_BOOTSTRAP_SERVERS": iam}, "", func(t *testing.T, s Settings) {
			if s.Listen != DefaultListen || s.CheckAfter != DefaultCheckAfter || s.CheckTimeout != DefaultCheckTimeout ||
				s.InitTimeout != DefaultInitTimeout || s.FailureMemory != DefaultFailureMemory || s.LogLevel != slog.LevelInfo {
				t.Errorf("defaults %+v", s)
			}
		}},
		{"set", map[string]string{"MSK_BOOTSTRAP_SERVERS": iam, "MSK_PROXY_LISTEN": "127.0.0.1:19092", "MSK_PROXY_CHECK_AFTER": "3s",
			"MSK_PROXY_CHECK_TIMEOUT": "250ms", "MSK_PROXY_INIT_TIMEOUT": "2s", "MSK_PROXY_FAILURE_MEMORY": "1s", "MSK_PROXY_LOG_LEVEL": "debug"}, "", func(t *testing.T, s Settings) {
			if s.Listen != "127.0.0.1:19092" || s.CheckAfter != 3*time.Second || s.CheckTimeout != 250*time.Millisecond ||
				s.InitTimeout != 2*time.Second || s.FailureMemory != time.Second || s.LogLevel != slog.LevelDebug {
				t.Errorf("settings %+v", s)
			}
		}},
		{"no bootstrap servers", nil, "MSK_BOOTSTRAP_SERVERS", nil},
		{"plaintext port with iam", map[string]string{"MSK_BOOTSTRAP_SERVERS": strings.Replace(iam, "9098", "9092", 1)}, "port 9092 is MSK's plaintext port, but auth is iam", nil},
		{"bad duration", map[string]string{"MSK_BOOTSTRAP_SERVERS": iam, "MSK_PROXY_CHECK_AFTER": "soon"}, "MSK_PROXY_CHECK_AFTER", nil},
		{"zero duration", map[string]string{"MSK_BOOTSTRAP_SERVERS": iam, "MSK_PROXY_CHECK_TIMEOUT": "0s"}, "MSK_PROXY_CHECK_TIMEOUT", nil},
		{"bad level", map[string]string{"MSK_BOOTSTRAP_SERVERS": iam, "MSK_PROXY_LOG_LEVEL": "loud"}, "MSK_PROXY_LOG_LEVEL", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := FromEnv(func(k string) string { return tc.env[k] })
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, s)
				return
			}
			var ce *kafkaconn.ConfigError
			if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("FromEnv: %v, want a ConfigError naming %q", err, tc.want)
			}
			if strings.Contains(oneLine(err), "\n") {
				t.Errorf("oneLine left a newline: %q", oneLine(err))
			}
		})
	}
}
