package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestProxyBadInput: command lines that cannot work are usage errors (exit
// 2) that name the flag and what to do, and nothing listens.
func TestProxyBadInput(t *testing.T) {
	useEmulator(t, "orders")
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice\n"), 0o600)
	for _, tc := range []struct {
		name string
		args []string
		want []string
		code int
	}{
		{"exposed", []string{"--listen", "0.0.0.0:19092"}, []string{"--listen 0.0.0.0:19092 is not a loopback address", "the proxy would expose the cluster", "with its own IAM identity", "--client-auth scram"}, 2},
		{"exposed, all interfaces", []string{"--listen", ":19092"}, []string{"is not a loopback address", "would expose the cluster"}, 2},
		{"unknown client auth", []string{"--client-auth", "mtls"}, []string{`--client-auth "mtls": use none, tls or scram`}, 2},
		{"unknown log format", []string{"--log-format", "xml"}, []string{`--log-format "xml": use json or text`}, 2},
		{"tls without certificates", []string{"--client-auth", "tls"}, []string{"--client-auth tls needs --listen-cert, --listen-key and --client-ca-file"}, 2},
		{"scram without users", []string{"--client-auth", "scram"}, []string{"--client-auth scram needs --client-scram-users"}, 2},
		{"bad users file", []string{"--client-auth", "scram", "--client-scram-users", users}, []string{"line 1: want user:password"}, 1},
		{"listen not host:port", []string{"--listen", "19092"}, []string{`--listen "19092": give host:port`}, 2},
		{"cert without key", []string{"--listen-cert", "c.pem"}, []string{"--listen-cert and --listen-key go together"}, 2},
		{"bad upstream", []string{"--listen", "127.0.0.1:0", "--bootstrap", "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9096"}, []string{"port 9096 is MSK's scram port"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, "", append([]string{"proxy"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, errOut)
			}
			for _, w := range tc.want {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestProxyCommand runs `msklink proxy` against the emulator from the
// MSK_*/AWS_* environment `msklink local` exports, produces through it with
// a client without TLS or SASL, and stops it.
func TestProxyCommand(t *testing.T) {
	useEmulator(t, "orders")
	ready := filepath.Join(t.TempDir(), "ready.json")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"proxy", "--listen", "127.0.0.1:0", "--ready-file", ready, "--log-format", "json"}, strings.NewReader(""), &stdout, &stderr)
	}()
	var r proxyReady
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && json.Unmarshal(b, &r) == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("proxy exited: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file; stderr:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(r.Brokers) != 4 || r.Brokers[0].Local != r.Bootstrap || r.ClientAuth != "none" {
		t.Fatalf("ready file: %+v", r)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.Bootstrap), kgo.DefaultProduceTopic("orders"), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	err = cl.ProduceSync(pctx, &kgo.Record{Value: []byte("through the CLI")}).FirstErr()
	pcancel()
	cl.Close()
	if err != nil {
		t.Fatalf("produce through the proxy: %v\n%s", err, stderr.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("proxy: %v", err)
	}
	if !strings.Contains(stdout.String(), "export MSK_PROXY_BOOTSTRAP="+r.Bootstrap) {
		t.Errorf("stdout: %s", stdout.String())
	}
	for _, w := range []string{`"msg":"proxy listening"`, `"msg":"client connected"`, "msklink proxy: stopped: 0 client connections open"} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if n := strings.Count(stderr.String(), "client connections open ("); n != 1 {
		t.Errorf("%d summary lines, want the final one only (no progress in a pipe):\n%s", n, stderr.String())
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Errorf("the ready file outlived the proxy: %v", err)
	}
}
