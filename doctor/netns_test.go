package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"

	"github.com/msklink/msklink/internal/testutil"
)

// TestCauseTCPTimeout reproduces a security group that drops packets: the
// test binary re-runs itself in a new network namespace (unshare -n) whose
// loopback drops TCP to port 9098 (iptables DROP), and diagnoses
// 127.0.0.1:9098 there. Only that private namespace's loopback is touched.
// It needs root, unshare and iptables (CI's .ci/run installs iproute2 and
// iptables); otherwise it is skipped with the reason.
func TestCauseTCPTimeout(t *testing.T) {
	if os.Getenv("MSKLINK_DOCTOR_NETNS_CHILD") == "1" {
		netnsChild(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: needs root to create a network namespace and an iptables rule")
	}
	for _, tool := range []string{"unshare", "ip", "iptables"} {
		testutil.LookTool(t, tool, "apt-get install util-linux iproute2 iptables")
	}
	script := `set -e; ip link set lo up; iptables -A INPUT -p tcp --dport 9098 -j DROP; exec "$0" -test.run='^TestCauseTCPTimeout$' -test.v -test.count=1`
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", "-c", script, os.Args[0])
	cmd.Env = append(os.Environ(), "MSKLINK_DOCTOR_NETNS_CHILD=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("child (%s):\n%s", time.Since(start), out.String())
	if err != nil {
		if bytes.Contains(out.Bytes(), []byte("--- FAIL")) {
			t.Fatalf("diagnosis in the namespace failed: %v", err)
		}
		t.Skipf("skipped: cannot set up a network namespace with an iptables DROP rule here: %v", err)
	}
	if !bytes.Contains(out.Bytes(), []byte("--- PASS: TestCauseTCPTimeout")) {
		t.Fatal("the child did not run the diagnosis")
	}
}

// netnsChild runs inside the namespace.
func netnsChild(t *testing.T) {
	cfg := kafkaconn.Config{Brokers: []string{"127.0.0.1:9098"}, Region: "us-east-1",
		Credentials: staticCreds(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	start := time.Now()
	r := diagnose(t, cfg, CauseTCPTimeout, time.Second)
	took := time.Since(start)
	if took < time.Second || took > 3*time.Second {
		t.Errorf("took %s; want the 1s TCP timeout plus a small margin", took)
	}
	ch, _ := r.Check("tcp")
	b, _ := json.Marshal(ch)
	if !bytes.Contains(b, []byte("9098")) || !bytes.Contains(b, []byte("security group")) {
		t.Errorf("tcp check does not name port 9098 and the security group: %s", b)
	}
}
