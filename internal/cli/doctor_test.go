package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

func doctorCluster(t *testing.T) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDoctorCommand(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", emulator.DefaultAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", emulator.DefaultSecretAccessKey)
	c := doctorCluster(t)
	conn := []string{"--bootstrap", c.Bootstrap(emulator.IAM), "--region", c.Region(), "--ca-file", c.CAFile()}

	t.Run("healthy, text", func(t *testing.T) {
		out, errOut, code := runCLI(t, "", append([]string{"doctor", "--topic", "orders", "--produce", "--consume", "--group", "g1"}, conn...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s%s", code, out, errOut)
		}
		for _, want := range []string{"pass  config", "pass  tcp 127.0.0.1:", "pass  authz write_data", "pass  produce", "pass  consume", "OK: every check passed"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("healthy, json", func(t *testing.T) {
		out, _, code := runCLI(t, "", append([]string{"doctor", "--json", "--topic", "orders"}, conn...)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		checkDoctorJSON(t, out, true, "ok")
	})
	t.Run("problem, json", func(t *testing.T) {
		out, _, code := runCLI(t, "", "doctor", "--json", "--timeout", "1s", "--bootstrap", c.Bootstrap(emulator.IAM), "--region", "us-west-2", "--ca-file", c.CAFile())
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		checkDoctorJSON(t, out, false, "token_region")
	})
	t.Run("problem, text", func(t *testing.T) {
		out, _, code := runCLI(t, "", "doctor", "--timeout", "1s", "--bootstrap", c.Bootstrap(emulator.SCRAM), "--region", c.Region(), "--ca-file", c.CAFile())
		if code != 1 || !strings.Contains(out, "PROBLEM (auth_mechanism)") || !strings.Contains(out, "Fix: ") {
			t.Fatalf("exit %d\n%s", code, out)
		}
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"doctor", "--nosuchflag"},
			{"doctor", "extra"},
			{"doctor", "--produce", "--bootstrap", "127.0.0.1:1"},
			{"doctor", "--timeout", "-1s"},
		} {
			if _, errOut, code := runCLI(t, "", args...); code != 2 {
				t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
			}
		}
	})
}

// checkDoctorJSON checks the output is exactly one JSON object with exactly
// the documented keys.
func checkDoctorJSON(t *testing.T, out string, ok bool, cause string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var m map[string]json.RawMessage
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if dec.More() {
		t.Fatalf("more than one JSON value:\n%s", out)
	}
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	if len(m) != 5 || m["ok"] == nil || m["cause"] == nil || m["summary"] == nil || m["fix"] == nil || m["checks"] == nil {
		t.Fatalf("keys %v", keys)
	}
	var gotOK bool
	var gotCause string
	json.Unmarshal(m["ok"], &gotOK)
	json.Unmarshal(m["cause"], &gotCause)
	if gotOK != ok || gotCause != cause {
		t.Errorf("ok %v cause %q, want %v %q", gotOK, gotCause, ok, cause)
	}
	var checks []map[string]json.RawMessage
	if err := json.Unmarshal(m["checks"], &checks); err != nil || len(checks) == 0 {
		t.Fatalf("checks: %v", err)
	}
	for _, c := range checks {
		if len(c) != 4 || c["name"] == nil || c["status"] == nil || c["duration_ms"] == nil || c["detail"] == nil {
			t.Errorf("check keys: %v", c)
		}
	}
}

func TestExplainCommand(t *testing.T) {
	out, _, code := runCLI(t, "", "explain", "Connection reset during recv")
	if code != 0 || !strings.Contains(out, "1. auth_denied") || !strings.Contains(out, "confirm: msklink doctor") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "org.apache.kafka.common.errors.SaslAuthenticationException: [x]: Too many connects\n", "explain")
	if code != 0 || !strings.Contains(out, "1. too_many_connects") {
		t.Fatalf("stdin: exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "", "explain", "--json", "TOPIC_AUTHORIZATION_FAILED")
	var ex []struct {
		Causes []struct{ Cause, Confirm string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &ex) != nil || len(ex) == 0 || ex[0].Causes[0].Cause != "authz_topic" {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	if _, _, code = runCLI(t, "", "explain", "all good here"); code != 1 {
		t.Errorf("unknown text: exit %d, want 1", code)
	}
	if _, _, code = runCLI(t, "", "explain"); code != 2 {
		t.Errorf("no text: exit %d, want 2", code)
	}
}

// TestDoctorBadEnvironment checks that an MSK_* variable that cannot be
// read is a diagnosis (cause config, exit 1, one JSON object with --json
// naming the variable), as in the Lambda, not a usage error without JSON.
func TestDoctorBadEnvironment(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("MSK_DIAL_TIMEOUT", "5")
	out, errOut, code := runCLI(t, "", "doctor", "--json", "--bootstrap", "127.0.0.1:9098")
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	checkDoctorJSON(t, out, false, "config")
	if !strings.Contains(out, "MSK_DIAL_TIMEOUT") || !strings.Contains(out, "Go duration") {
		t.Errorf("the report does not name the variable and the fix:\n%s", out)
	}
}
