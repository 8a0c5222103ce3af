package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
)

type syncBuf = testutil.SyncBuffer

func TestLocalReadyFile(t *testing.T) {
	dir := t.TempDir()
	ready := filepath.Join(dir, "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"local", "--ephemeral", "--topic", "orders:2", "--ready-file", ready, "--log-format", "json"},
			strings.NewReader(""), &stdout, &stderr)
	}()
	var b []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if b, err = os.ReadFile(ready); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var r localReady
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Region != "us-east-1" || !strings.HasPrefix(r.ClusterARN, "arn:aws:kafka:us-east-1:000000000000:cluster/local/") ||
		r.CAFile == "" || len(r.Identities) != 1 || len(r.SCRAMUsers) != 1 {
		t.Fatalf("ready file: %s", b)
	}
	for _, k := range []string{"plaintext", "tls", "scram", "iam"} {
		addrs := strings.Split(r.Bootstrap[k], ",")
		if len(addrs) != 3 {
			t.Fatalf("%s bootstrap %q", k, r.Bootstrap[k])
		}
		nc, err := net.DialTimeout("tcp", addrs[0], 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.Close()
	}
	resp, err := http.Get(r.AdminURL + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("admin status %d", resp.StatusCode)
	}
	out := stdout.String()
	for _, w := range []string{"export MSK_BOOTSTRAP_SERVERS=", "export MSK_TLS_CA_FILE=", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "export MSK_LOCAL_BOOTSTRAP_SCRAM="} {
		if !strings.Contains(out, w) {
			t.Errorf("stdout lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(stderr.String(), "wJalrXUtnFEMI") {
		t.Error("secret key in the log")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("local did not stop")
	}
	if _, err := os.Stat(r.CAFile); !os.IsNotExist(err) {
		t.Errorf("CA file left behind: %v", err)
	}
}

// TestLocalVerboseAuthErrors: by default a refused token gets MSK's bare
// "[<id>]: Access denied"; --verbose-auth-errors adds the emulator's
// reason. The doctor's verdict is the same either way.
func TestLocalVerboseAuthErrors(t *testing.T) {
	testutil.IsolateAWS(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	for _, verbose := range []bool{false, true} {
		dir := t.TempDir()
		ready := filepath.Join(dir, "ready.json")
		ctx, cancel := context.WithCancel(context.Background())
		args := []string{"local", "--ephemeral", "--ready-file", ready, "--admin-addr", ""}
		if verbose {
			args = append(args, "--verbose-auth-errors")
		}
		var stdout, stderr syncBuf
		done := make(chan error, 1)
		go func() { done <- Run(ctx, args, strings.NewReader(""), &stdout, &stderr) }()
		var r localReady
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &r) == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no ready file; stderr:\n%s", stderr.String())
			}
		}
		var out, errOut bytes.Buffer
		err := Run(context.Background(), []string{"doctor", "--bootstrap", r.Bootstrap["iam"], "--ca-file", r.CAFile, "--region", "eu-west-1", "--json"},
			strings.NewReader(""), &out, &errOut)
		if ExitCode(err) != 1 {
			t.Fatalf("verbose %v: doctor exit %d (%v): %s %s", verbose, ExitCode(err), err, out.String(), errOut.String())
		}
		var rep struct{ Cause, Summary string }
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("doctor --json: %v\n%s", err, out.String())
		}
		if rep.Cause != "token_region" {
			t.Errorf("verbose %v: cause %q, want token_region: %s", verbose, rep.Cause, rep.Summary)
		}
		if got := strings.Contains(rep.Summary, "]: Access denied: iamauth: token rejected (region)"); got != verbose {
			t.Errorf("verbose %v: the broker's reason in the message: %v, want %v: %s", verbose, got, verbose, rep.Summary)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalUsage(t *testing.T) {
	for _, args := range [][]string{
		{"local", "--topic", ":3"},
		{"local", "--topic", "a:0"},
		{"local", "--log-format", "xml"},
		{"local", "extra"},
		{"local", "--admin-addr", "0.0.0.0:0"},
	} {
		var stdout, stderr bytes.Buffer
		err := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		if ExitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args, ExitCode(err), err)
		}
	}
}

// The exports must replace a session token left in the shell: the
// emulator rejects a long-term key signed with one, and a temporary
// identity's token must be exported.
func TestLocalExportsSessionToken(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"", "unset AWS_SESSION_TOKEN\n"},
		{"tok123", "export AWS_SESSION_TOKEN=tok123\n"},
	} {
		var out bytes.Buffer
		printLocalExports(&env{stdout: &out}, &localReady{Region: "us-east-1",
			Identities: []localIdentity{{Name: "a", AccessKeyID: "AKIA0", SecretAccessKey: "s", SessionToken: tc.token}}})
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("session token %q: output lacks %q:\n%s", tc.token, tc.want, out.String())
		}
	}
}
