package extension_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
)

// extBin is the extension, built once by TestMain as deploy/Makefile
// builds the layer's extensions/msklink.
var extBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "msklink-extension-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	extBin = filepath.Join(dir, "msklink")
	cmd := exec.Command("go", "build", "-tags", testutil.LambdaTags, "-o", extBin, "../cmd/msklink-extension")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the extension: %v\n%s", err, out)
		os.Exit(1)
	}
	testutil.Main(cleanAfter{m, dir})
}

// cleanAfter runs the tests, then removes the extension's build directory.
type cleanAfter struct {
	m   *testing.M
	dir string
}

func (c cleanAfter) Run() int {
	defer os.RemoveAll(c.dir)
	return c.m.Run()
}

// needRIE skips the test (fails it in CI) without what the harness needs:
// root (for a mount namespace), unshare (util-linux) and aws-lambda-rie.
func needRIE(t testing.TB) string {
	t.Helper()
	if os.Geteuid() != 0 {
		testutil.MissingTool(t, "root", "run the tests as root: a private mount namespace on /opt needs it")
	}
	testutil.LookTool(t, "unshare", "apt-get install util-linux")
	return testutil.RIEBinary(t)
}

// startCluster starts an emulated MSK cluster for the function to reach.
func startCluster(t testing.TB, opts ...emulator.Opt) *emulator.Cluster {
	t.Helper()
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{emulator.Ephemeral(), emulator.WithTopic("orders", 3),
		emulator.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		if t.Failed() {
			t.Logf("emulator log:\n%s", logs.String())
		}
	})
	return c
}

// function is a Lambda function under AWS's Runtime Interface Emulator,
// with the extension in /opt/extensions.
type function struct {
	t      testing.TB
	url    string
	listen string // MSK_PROXY_LISTEN
	out    *testutil.SyncBuffer
	cmd    *exec.Cmd
	once   sync.Once
	client *http.Client
	dial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// mskEnv is the function's environment for cluster c: the MSK_* settings
// and the credentials Lambda would give the function's role (the
// emulator's default identity), with an empty AWS_SESSION_TOKEN, as RIE
// leaves it.
func mskEnv(c *emulator.Cluster) map[string]string {
	return map[string]string{
		"MSK_BOOTSTRAP_SERVERS": strings.Join(c.BootstrapAddrs(emulator.IAM), ","),
		"MSK_TLS_CA_FILE":       c.CAFile(),
		"MSK_REGION":            c.Region(),
		"AWS_REGION":            c.Region(),
		"AWS_ACCESS_KEY_ID":     emulator.DefaultAccessKeyID,
		"AWS_SECRET_ACCESS_KEY": emulator.DefaultSecretAccessKey,
		"AWS_SESSION_TOKEN":     "",
	}
}

// startFunction runs the custom-runtime bootstrap under RIE in a mount
// namespace of its own, whose /opt is a temporary directory holding
// extensions/msklink (nothing is left in the real /opt, and tests run in
// parallel), with env (entries override the defaults; an empty value
// removes a variable) and a listen port of its own.
func startFunction(t testing.TB, bootstrap string, env map[string]string) *function {
	t.Helper()
	return launch(t, bootstrap, env, true, 0)
}

// startFunctionExt is startFunction, with the extension in /opt/extensions
// or (withExtension false) none.
func startFunctionExt(t testing.TB, bootstrap string, env map[string]string, withExtension bool) *function {
	t.Helper()
	return launch(t, bootstrap, env, withExtension, 0)
}

// startFunctionDropping is startFunction in a network namespace of its own
// too, whose loopback drops TCP to dropPort (iptables DROP: a connect
// times out, as through a security group without the rule); the test
// reaches RIE there through a thread that joined the namespace.
func startFunctionDropping(t testing.TB, bootstrap string, env map[string]string, dropPort int) *function {
	t.Helper()
	for _, tool := range []string{"ip", "iptables"} {
		testutil.LookTool(t, tool, "apt-get install iproute2 iptables")
	}
	return launch(t, bootstrap, env, true, dropPort)
}

func launch(t testing.TB, bootstrap string, env map[string]string, withExtension bool, dropPort int) *function {
	t.Helper()
	rie := needRIE(t)
	opt := t.TempDir()
	if err := os.Mkdir(filepath.Join(opt, "extensions"), 0o755); err != nil {
		t.Fatal(err)
	}
	if withExtension {
		b, err := os.ReadFile(extBin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(opt, "extensions", "msklink"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	boot, err := filepath.Abs(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	apiPort, riePort := testutil.FreePort(t), testutil.FreePort(t)
	f := &function{t: t, out: &testutil.SyncBuffer{},
		url:    fmt.Sprintf("http://127.0.0.1:%d/2015-03-31/functions/function/invocations", riePort),
		listen: fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}
	vars := map[string]string{
		"PATH": "/usr/bin:/bin", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "60", "AWS_LAMBDA_FUNCTION_NAME": "msklink-extension-e2e",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"MSK_PROXY_LISTEN":                f.listen, "FN_BOOTSTRAP": f.listen,
	}
	for k, v := range env {
		vars[k] = v
	}
	if v, ok := env["MSK_PROXY_LISTEN"]; ok && v != "" {
		vars["FN_BOOTSTRAP"] = v
	}
	var envList []string
	for k, v := range vars {
		if v != "" || k == "AWS_SESSION_TOKEN" {
			envList = append(envList, k+"="+v)
		}
	}
	script := `mount --bind "$1" /opt && exec "$2" --runtime-interface-emulator-address "$3" --runtime-api-address "$4" "$5"`
	unshare := []string{"-m", "--propagation", "private"}
	ip, _ := exec.LookPath("ip")
	iptables, _ := exec.LookPath("iptables")
	if dropPort > 0 {
		script = `"$7" link set lo up && "$8" -A OUTPUT -o lo -p tcp --dport "$6" -j DROP && ` + script
		unshare = append(unshare, "-n")
	}
	f.cmd = exec.Command("unshare", append(unshare, "sh", "-c", script, "sh",
		opt, rie, fmt.Sprintf("127.0.0.1:%d", riePort), fmt.Sprintf("127.0.0.1:%d", apiPort), boot, strconv.Itoa(dropPort), ip, iptables)...)
	f.cmd.Env = envList
	f.cmd.Stdout, f.cmd.Stderr = f.out, f.out
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.stop)
	f.dial = (&net.Dialer{}).DialContext
	if dropPort > 0 {
		f.dial = dialInNetns(fmt.Sprintf("/proc/%d/ns/net", f.cmd.Process.Pid))
	}
	f.client = &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{DialContext: f.dial}}
	testutil.WaitRIE(t, f.dial, fmt.Sprintf("127.0.0.1:%d", riePort), 20*time.Second, f.out)
	return f
}

// signal sends sig to RIE and every process it started (each in its own
// process group).
func (f *function) signal(sig syscall.Signal) {
	for _, pid := range testutil.ProcessTree(f.cmd.Process.Pid) {
		syscall.Kill(pid, sig)
	}
}

// stop sends RIE SIGTERM (it shuts the extensions down) and waits, then
// kills whatever is left.
func (f *function) stop() {
	f.once.Do(func() {
		testutil.StopProcess(f.cmd, testutil.ProcessTree(f.cmd.Process.Pid)[1:], 10*time.Second)
		if f.t.Failed() || os.Getenv("MSKLINK_E2E_OUTPUT") != "" {
			f.t.Logf("aws-lambda-rie, extension and function output:\n%s", f.out.String())
		}
	})
}

// result is the bootstrap's answer.
type result struct {
	OK      bool    `json:"ok"`
	Offsets []int64 `json:"offsets"`
	Type    string  `json:"type"`
	Error   string  `json:"error"`
	TookMs  float64 `json:"took_ms"`
}

// invoke invokes the function with event and decodes its answer.
func (f *function) invoke(event any) result {
	f.t.Helper()
	b, _ := json.Marshal(event)
	resp, err := f.client.Post(f.url, "application/json", bytes.NewReader(b))
	if err != nil {
		f.t.Fatalf("invoke: %v\n%s", err, f.out.String())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r result
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil {
		f.t.Fatalf("invoke: HTTP %d: %s\n%s", resp.StatusCode, body, f.out.String())
	}
	return r
}

func produce(topic string, values ...string) map[string]any {
	return map[string]any{"action": "produce", "topic": topic, "values": values}
}

// logLine returns the first JSON line the extension logged with msg,
// waiting up to 30 s for it.
func (f *function) logLine(msg string) map[string]any {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		sc := bufio.NewScanner(strings.NewReader(f.out.String()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if i := strings.Index(line, `{"time"`); i >= 0 {
				var m map[string]any
				if json.Unmarshal([]byte(line[i:]), &m) == nil && m["extension"] == "msklink" && m["msg"] == msg {
					return m
				}
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the extension did not log %q:\n%s", msg, f.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// count returns how many of the extension's lines have msg.
// waitCount waits up to 30 s until the extension has logged msg at least
// n times.
func (f *function) waitCount(msg string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.count(msg) < n {
		if time.Now().After(deadline) {
			f.t.Fatalf("the extension logged %q %d times, want %d:\n%s", msg, f.count(msg), n, f.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *function) count(msg string) int {
	return strings.Count(f.out.String(), `"msg":"`+msg+`"`)
}

func pythonBootstrap(t testing.TB) string {
	t.Helper()
	testutil.NeedTool(t, "/usr/bin/python3", "apt-get install python3-kafka")
	return "testdata/python/bootstrap"
}

// invokeRaw invokes the function and returns the HTTP status and body,
// whatever they are.
func (f *function) invokeRaw(event any) (int, string) {
	f.t.Helper()
	b, _ := json.Marshal(event)
	resp, err := f.client.Post(f.url, "application/json", bytes.NewReader(b))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// dialInNetns dials from the network namespace at nsPath: each dial runs
// on an OS thread that joined it (the socket is made there), which is not
// returned to the Go runtime's pool afterwards.
func dialInNetns(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread exits with this goroutine
			fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- res{nil, fmt.Errorf("setns %s: %w", nsPath, err)}
				return
			}
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}
