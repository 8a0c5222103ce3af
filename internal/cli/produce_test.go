package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

// useEmulator starts an emulator and points the MSK_* and AWS_*
// environment at its IAM listener, as a user following `msklink local`'s
// export lines would.
func useEmulator(t *testing.T, topics ...string) *emulator.Cluster {
	t.Helper()
	cleanAWSEnv(t)
	opts := []emulator.Opt{emulator.Ephemeral()}
	for _, tp := range topics {
		opts = append(opts, emulator.WithTopic(tp, 3))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for k, v := range map[string]string{
		"MSK_BOOTSTRAP_SERVERS": c.Bootstrap(emulator.IAM), "MSK_TLS_CA_FILE": c.CAFile(), "MSK_REGION": c.Region(),
		"AWS_ACCESS_KEY_ID": emulator.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY": emulator.DefaultSecretAccessKey,
	} {
		t.Setenv(k, v)
	}
	return c
}

func TestProduceConsume(t *testing.T) {
	useEmulator(t, "lines")
	in := "k1:hello\nk2:world\n\n" + `k3:{"a":1}` + "\n"
	if _, errOut, code := runCLI(t, in, "produce", "--topic", "lines", "--key-delimiter", ":"); code != 0 {
		t.Fatalf("produce exit %d: %s", code, errOut)
	}
	jsonIn := `{"key":"k4","value":{"n":4},"headers":{"h":"v"},"partition":2}` + "\n" + `{"value":{"base64":"//4="}}` + "\n"
	if _, errOut, code := runCLI(t, jsonIn, "produce", "--topic", "lines", "--json"); code != 0 {
		t.Fatalf("produce --json exit %d: %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "", "consume", "--topic", "lines", "--from-beginning", "--max", "5", "--json", "--timeout", "20s")
	if code != 0 {
		t.Fatalf("consume exit %d: %s", code, errOut)
	}
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		key, _ := r["key"].(string)
		got[key] = r
	}
	for key, want := range map[string]string{"k1": "hello", "k2": "world", "k3": `{"a":1}`, "k4": `{"n":4}`} {
		if r := got[key]; r == nil || r["value"] != want {
			t.Errorf("key %s: got %v, want value %q", key, r, want)
		}
	}
	if r := got["k4"]; r == nil || r["partition"] != 2.0 || r["headers"].(map[string]any)["h"] != "v" {
		t.Errorf("k4: %v", got["k4"])
	}
	if r := got[""]; r == nil || r["value"].(map[string]any)["base64"] != "//4=" {
		t.Errorf("binary value: %v", got[""])
	}
}

func TestProduceErrors(t *testing.T) {
	useEmulator(t, "lines")
	for _, tc := range []struct {
		name, in string
		args     []string
		code     int
		want     string
	}{
		{"no topic", "x\n", []string{"produce"}, 2, "--topic"},
		{"bad json line", "{\"value\":1}\nnot json\n", []string{"produce", "--topic", "lines", "--json"}, 1, "line 2"},
		{"missing delimiter", "novalue\n", []string{"produce", "--topic", "lines", "--key-delimiter", "="}, 1, `line 1: no key delimiter "="`},
		{"unknown topic", "x\n", []string{"produce", "--topic", "nope", "--timeout", "3s"}, 1, "line 1: failed"},
		{"iam on scram port", "x\n", []string{"produce", "--topic", "lines", "--bootstrap", "b-1.x.y.c3.kafka.us-east-1.amazonaws.com:9096"}, 1, "scram port"},
		{"zero timeout", "x\n", []string{"produce", "--topic", "lines", "--timeout", "0s"}, 2, "--timeout must be positive"},
		{"negative partition", "x\n", []string{"produce", "--topic", "lines", "--partition", "-2"}, 2, "--partition must be"},
		{"consume negative timeout", "", []string{"consume", "--topic", "lines", "--timeout", "-1s"}, 2, "--timeout must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, tc.in, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}
