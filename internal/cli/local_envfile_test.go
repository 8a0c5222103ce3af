package cli

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLocalEnvFile: msklink local --env-file writes the export lines it
// prints once every listener is up, all at once (a shell waiting for the
// file never sources half of it), the shell can source them, and the file
// is gone when local stops.
func TestLocalEnvFile(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "msk.env")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuf
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"local", "--ephemeral", "--topic", "orders:1", "--env-file", envFile, "--admin-addr", ""},
			strings.NewReader(""), &stdout, &stderr)
	}()
	var b []byte
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if b, err = os.ReadFile(envFile); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("local ended before writing --env-file: %v\n%s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no --env-file after 60s; stderr:\n%s", stderr.String())
		}
	}
	if string(b) != stdout.String() || !strings.Contains(string(b), "export MSK_BOOTSTRAP_SERVERS=") {
		t.Fatalf("--env-file holds:\n%s\nstdout:\n%s", b, stdout.String())
	}
	out, err := exec.Command("bash", "-c", `. "$1" && echo "$MSK_BOOTSTRAP_SERVERS"`, "bash", envFile).CombinedOutput()
	if err != nil {
		t.Fatalf("sourcing --env-file: %v\n%s", err, out)
	}
	for _, addr := range strings.Split(strings.TrimSpace(string(out)), ",") {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("MSK_BOOTSTRAP_SERVERS from --env-file: %v", err)
		}
		nc.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("local: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("local did not stop within 30s of its context's end")
	}
	if _, err := os.Stat(envFile); !os.IsNotExist(err) {
		t.Fatalf("--env-file left behind after local stopped: %v", err)
	}
}
