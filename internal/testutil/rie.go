package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RIEVersion is the version of AWS's Lambda Runtime Interface Emulator
// the tests run (installed by .ci/install-tools).
const RIEVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// RIEBinary finds aws-lambda-rie: on PATH or in $(go env GOPATH)/bin, or
// gives up on the test with MissingTool.
func RIEBinary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "aws-lambda-rie")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	MissingTool(t, "aws-lambda-rie", "go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+RIEVersion)
	return ""
}

// LambdaTags are the build tags of msklink's Lambda functions, as
// deploy/Makefile builds them: lambda.norpc drops aws-lambda-go's RPC mode
// (only the retired go1.x runtime used it), msklink.envcreds keeps the AWS
// SDK's config loader out (iamauth reads credentials from the environment,
// where Lambda puts them).
const LambdaTags = "lambda.norpc,msklink.envcreds"

// BuildLambda builds the Go package in dir (a path or an import path) as
// Lambda's provided.al2023 runtime runs it: CGO_ENABLED=0, GOOS=linux,
// GOARCH=arch, -tags LambdaTags. It returns the binary's path in a
// temporary directory.
func BuildLambda(t testing.TB, dir, arch string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", LambdaTags, "-o", out, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	start := time.Now()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s (GOARCH=%s): %v\n%s", dir, arch, err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s for %s: %.1f MB, built in %v", dir, arch, float64(fi.Size())/1e6, time.Since(start).Round(time.Millisecond))
	return out
}

// FreePort returns a TCP port free on 127.0.0.1 (for a moment).
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RIE is a running aws-lambda-rie with a function's bootstrap.
type RIE struct {
	// URL is the Invoke API of the function:
	// http://127.0.0.1:PORT/2015-03-31/functions/function/invocations.
	URL string
	// Output is RIE's and the bootstrap's stdout and stderr.
	Output *SyncBuffer

	cmd      *exec.Cmd
	stopOnce sync.Once
}

// StartRIE runs aws-lambda-rie with bootstrap on free loopback ports and
// waits until it listens. RIE passes its environment to the function: it
// gets only what a Lambda function would have (PATH, no AWS config files,
// no instance metadata, AWS_LAMBDA_FUNCTION_TIMEOUT=timeoutSec, a function
// name and memory size) and env, whose entries win. It is stopped at the
// end of the test; its output is logged when the test failed or
// MSKLINK_E2E_OUTPUT is set.
func StartRIE(t testing.TB, bootstrap string, timeoutSec int, env ...string) *RIE {
	t.Helper()
	bin := RIEBinary(t)
	apiPort, riePort := FreePort(t), FreePort(t)
	r := &RIE{Output: &SyncBuffer{}, URL: fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", riePort)}
	r.cmd = exec.Command(bin,
		"--runtime-interface-emulator-address", fmt.Sprintf("127.0.0.1:%d", riePort),
		"--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort),
		bootstrap)
	r.cmd.Env = append([]string{
		"PATH=/usr/bin:/bin",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(timeoutSec),
		"AWS_LAMBDA_FUNCTION_NAME=msklink-e2e",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
	}, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.Output, r.Output
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Stop(t) })
	WaitRIE(t, (&net.Dialer{}).DialContext, fmt.Sprintf("127.0.0.1:%d", riePort), 10*time.Second, r.Output)
	return r
}

// WaitRIE waits until dial connects to addr, where aws-lambda-rie listens,
// and fails t if it has not within that time, with out (its output).
func WaitRIE(t testing.TB, dial func(ctx context.Context, network, addr string) (net.Conn, error), addr string, within time.Duration, out *SyncBuffer) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := dial(ctx, "tcp", addr)
		cancel()
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie did not listen in %v: %v\n%s", within, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BootstrapPIDs returns the processes RIE started (the bootstrap).
func (r *RIE) BootstrapPIDs() []int {
	return childPIDs()[r.cmd.Process.Pid]
}

// ProcessTree returns pid and its descendants, parents first (at most
// 1,000 generations), as /proc shows them now.
func ProcessTree(pid int) []int {
	children := childPIDs()
	out := []int{pid}
	for i := 0; i < len(out) && i < 1000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// childPIDs maps each process in /proc to the processes it started.
func childPIDs() map[int][]int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; split after ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		if f := strings.Fields(s[i+1:]); len(f) > 1 {
			ppid, _ := strconv.Atoi(f[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	return children
}

// Stop stops RIE (SIGTERM, then SIGKILL after 3 s) and the bootstrap
// processes it started, even stopped ones. Safe to call more than once.
func (r *RIE) Stop(t testing.TB) {
	r.stopOnce.Do(func() {
		StopProcess(r.cmd, r.BootstrapPIDs(), 3*time.Second)
		if t.Failed() || os.Getenv("MSKLINK_E2E_OUTPUT") != "" {
			t.Logf("aws-lambda-rie and bootstrap output:\n%s", r.Output.String())
		}
	})
}

// StopProcess stops cmd's process, started, and pids, processes it started:
// SIGCONT to all of them (any may be stopped), SIGTERM to cmd's process,
// which is killed if it has not exited after grace, then SIGKILL to pids.
func StopProcess(cmd *exec.Cmd, pids []int, grace time.Duration) {
	cmd.Process.Signal(syscall.SIGCONT)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// Invoke posts payload (bytes as they are, anything else as JSON) to the
// Invoke API and returns the function's answer and how long it took. The
// HTTP client's timeout bounds it; an HTTP status other than 200 fails t.
func (r *RIE) Invoke(t testing.TB, payload any, timeout time.Duration) ([]byte, time.Duration) {
	t.Helper()
	b, ok := payload.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(payload); err != nil {
			t.Fatal(err)
		}
	}
	cl := &http.Client{Timeout: timeout}
	start := time.Now()
	resp, err := cl.Post(r.URL, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, r.Output.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("invoke: HTTP %d: %s\n%s", resp.StatusCode, body, r.Output.String())
	}
	return body, el
}

// Deps returns the packages the Go package in dir links (go list -deps),
// built with tags (comma-separated, may be empty).
func Deps(t testing.TB, dir, tags string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{"list", "-deps"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	out, err := exec.CommandContext(ctx, "go", append(args, dir)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("suspiciously few deps: %v", deps)
	}
	return deps
}
