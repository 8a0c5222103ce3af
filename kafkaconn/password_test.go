package kafkaconn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestPasswordNeverPrinted checks that a SCRAM password does not reach a
// log line or a message through its Config: slog (JSON and text, the
// Config or the password as an attribute), fmt's verbs, encoding/json.
func TestPasswordNeverPrinted(t *testing.T) {
	const secret = "s3cr3t-scram-pw"
	cfg := Config{Brokers: []string{"b:9096"}, Auth: AuthSCRAM, SCRAMUsername: "u", SCRAMPassword: secret}
	var out bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&out, nil), slog.NewTextHandler(&out, nil)} {
		l := slog.New(h)
		l.Info("config", "cfg", cfg, "ptr", &cfg, "password", cfg.SCRAMPassword)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&out, verb+"\n", cfg)
		fmt.Fprintf(&out, verb+"\n", cfg.SCRAMPassword)
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	out.Write(b)
	if strings.Contains(out.String(), secret) {
		t.Errorf("the password is printed:\n%s", out.String())
	}
	if string(cfg.SCRAMPassword) != secret {
		t.Error("the password's value changed")
	}
}
