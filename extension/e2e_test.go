package extension_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// readBack reads n records of topic from the emulator over IAM, as
// another client of the cluster would.
func readBack(t *testing.T, c *emulator.Cluster, topic string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts, err := kafkaconn.ClientOpts(ctx, kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), TLSCAFile: c.CAFile(), Region: c.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	recs := testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics(topic), kgo.FetchMaxWait(200*time.Millisecond)), n, 60*time.Second, 500*time.Millisecond)
	var vs []string
	for _, r := range recs {
		vs = append(vs, string(r.Value))
	}
	slices.Sort(vs)
	return vs
}

// TestPythonPublishReadBack: a kafka-python 2.0.2 function with neither
// signer nor token provider publishes through the extension over IAM; the
// records are read back from the emulator; the extension logged that it
// listened and reached MSK within Init, with the function's credentials
// (an empty AWS_SESSION_TOKEN, as under RIE), and no secret or token
// reached its log (at debug level).
func TestPythonPublishReadBack(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	env := mskEnv(c)
	env["MSK_PROXY_LOG_LEVEL"] = "debug"
	f := startFunction(t, pythonBootstrap(t), env)
	want := []string{"a", "b", "c"}
	r := f.invoke(produce("orders", want...))
	if !r.OK || len(r.Offsets) != 3 {
		t.Fatalf("produce through the extension: %+v", r)
	}
	if got := readBack(t, c, "orders", 3); !slices.Equal(got, want) {
		t.Errorf("read back %q, want %q", got, want)
	}
	f.logLine("msklink extension listening")
	l := f.logLine("msklink extension connected to MSK")
	if l["brokers"] != float64(3) {
		t.Errorf("connected line %v: want brokers 3", l)
	}
	for _, secret := range []string{emulator.DefaultSecretAccessKey, "X-Amz-Signature", "X-Amz-Credential", "auth=Bearer"} {
		if strings.Contains(f.out.String(), secret) {
			t.Errorf("the output holds %q: a secret or a token reached a log", secret)
		}
	}
}

// TestPythonSessionLifetime: MSK ends sessions after 2 s (here the
// emulator); kafka-python 2.0 cannot re-authenticate, but through the
// extension it publishes at retries=0 for 7 s without one error: the
// extension renews its sessions in place.
func TestPythonSessionLifetime(t *testing.T) {
	t.Parallel()
	c := startCluster(t, emulator.WithSessionMaxLifetime(2*time.Second))
	env := mskEnv(c)
	env["MSK_PROXY_LOG_LEVEL"] = "debug"
	f := startFunction(t, pythonBootstrap(t), env)
	n := 0
	for start := time.Now(); time.Since(start) < 7*time.Second; n++ {
		if r := f.invoke(produce("orders", fmt.Sprintf("v%d", n))); !r.OK {
			t.Fatalf("invoke %d at %s: %+v", n, time.Since(start).Round(time.Millisecond), r)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if f.count("upstream re-authenticated")+f.count("upstream reconnected") == 0 {
		t.Errorf("%d invokes over 7 s of 2 s sessions, and no session was renewed", n)
	}
}

// TestPythonFreeze: the whole environment (RIE, the extension, the
// function) is frozen with SIGSTOP, as Lambda freezes it between
// invocations, and thawed by an invoke that waited for it (the function's
// request races the extension's thaw). Meanwhile MSK closed the idle
// connections (the emulator's idle close, 2 s), or they lead nowhere (a
// NAT's state lost: the emulator drops what they carry until shortly
// after the thaw, below the extension's 1 s check timeout). Each time, the
// first publish after the thaw succeeds at retries=0.
func TestPythonFreeze(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		opts      []emulator.Opt
		blackhole bool
	}{
		{"idle close", []emulator.Opt{emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(2 * time.Second)})}, false},
		{"connections lead nowhere", nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := startCluster(t, tc.opts...)
			env := mskEnv(c)
			env["MSK_PROXY_CHECK_AFTER"] = "1s"
			f := startFunction(t, pythonBootstrap(t), env)
			if r := f.invoke(produce("orders", "before")); !r.OK {
				t.Fatalf("first invoke: %+v", r)
			}
			dark := func(on bool) {
				for i := range int32(3) {
					c.Listener(i, emulator.IAM).SetFaults(emulator.Faults{Blackhole: on})
				}
			}
			for i := range 3 {
				f.signal(syscall.SIGSTOP)
				if tc.blackhole {
					dark(true)
				}
				time.Sleep(3 * time.Second)
				done := make(chan result, 1)
				go func() { done <- f.invoke(produce("orders", fmt.Sprintf("thaw-%d", i))) }()
				time.Sleep(200 * time.Millisecond) // the invoke waits for the thaw
				f.signal(syscall.SIGCONT)
				if tc.blackhole {
					time.Sleep(300 * time.Millisecond)
					dark(false)
				}
				if r := <-done; !r.OK {
					t.Fatalf("first publish after freeze %d: %+v", i, r)
				}
			}
			if f.count("upstream reconnected") == 0 {
				t.Error("no upstream connection was replaced after the freezes")
			}
			if got := readBack(t, c, "orders", 4); len(got) != 4 {
				t.Errorf("read back %q, want 4 records", got)
			}
		})
	}
}

// TestInvokeHint: after a freeze past the emulator's idle close, the
// INVOKE event alone makes the extension replace the closed upstream
// connections, before the function sends anything (here it sends
// nothing): the reconnect's pause falls before the function's request,
// not in front of it.
//
// kafka-python may send a request of its own right after a thaw (its
// background thread's timers ran out during the freeze); such a thaw
// proves nothing about the hint, so the test freezes again, up to three
// times, until one thaw is quiet.
func TestInvokeHint(t *testing.T) {
	t.Parallel()
	c := startCluster(t, emulator.WithLimits(emulator.Limits{IdleTimeout: emulator.Duration(2 * time.Second)}))
	env := mskEnv(c)
	env["MSK_PROXY_CHECK_AFTER"] = "1s"
	f := startFunction(t, pythonBootstrap(t), env)
	if r := f.invoke(produce("orders", "before")); !r.OK {
		t.Fatalf("produce: %+v", r)
	}
	const closed, reconnected = "upstream closed while idle: the next request reconnects", "upstream reconnected"
	for thaw := 1; ; thaw++ {
		closes, reconnects := f.count(closed), f.count(reconnected)
		f.signal(syscall.SIGSTOP)
		time.Sleep(3 * time.Second)
		f.signal(syscall.SIGCONT)
		f.waitCount(closed, closes+1)
		time.Sleep(300 * time.Millisecond) // room for the client's own request, if it sends one
		if f.count(reconnected) == reconnects {
			break // a quiet thaw: only the hint can reconnect now
		}
		if thaw == 3 {
			t.Fatalf("the function's client sent a request after each of %d thaws: the hint could not be told apart", thaw)
		}
		t.Logf("thaw %d: the client sent a request of its own; freezing again", thaw)
	}
	reconnects := f.count(reconnected)
	if r := f.invoke(map[string]any{"action": "noop"}); !r.OK {
		t.Fatalf("noop: %+v", r)
	}
	f.waitCount(reconnected, reconnects+1)
}

// TestPythonMSKFailsAtInit: MSK refuses the function's role, or cannot be
// reached (nothing listens; a security group drops the packets, here an
// iptables DROP in the function's own network namespace): the extension logs one line with the doctor's cause code and
// its fix during Init, and the function's client gets a Kafka error, not
// a timeout (its own timeouts are 20 s).
func TestPythonMSKFailsAtInit(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for _, tc := range []struct {
		name, cause, fix string
		env              map[string]string
		drop             int // a port the function's network drops
	}{
		{"role refused", "auth_denied", "kafka-cluster:Connect", map[string]string{"AWS_SECRET_ACCESS_KEY": "not-the-role's-key"}, 0},
		{"broker port closed", "tcp_refused", "use the port of an enabled listener", map[string]string{
			"MSK_BOOTSTRAP_SERVERS": fmt.Sprintf("127.0.0.1:%d", testutil.FreePort(t))}, 0},
		{"security group drops", "tcp_timeout", "allow inbound TCP 9098", map[string]string{
			"MSK_BOOTSTRAP_SERVERS": "127.0.0.1:9098", "MSK_DIAL_TIMEOUT": "1s"}, 9098},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := mskEnv(c)
			for k, v := range tc.env {
				env[k] = v
			}
			env["FN_REQUEST_TIMEOUT_MS"], env["FN_MAX_BLOCK_MS"] = "20000", "20000"
			var f *function
			if tc.drop > 0 {
				f = startFunctionDropping(t, pythonBootstrap(t), env, tc.drop)
			} else {
				f = startFunction(t, pythonBootstrap(t), env)
			}
			start := time.Now()
			r := f.invoke(produce("orders", "x"))
			took := time.Since(start)
			if r.OK || r.Type == "" || r.Type == "KafkaTimeoutError" {
				t.Fatalf("produce answered %+v, want a Kafka error other than a timeout", r)
			}
			if took >= 20*time.Second {
				t.Errorf("the error took %s: the client's own timeout", took)
			}
			t.Logf("the function got %s: %s in %s (invoke %s, Init included)", r.Type, r.Error, time.Duration(r.TookMs*float64(time.Millisecond)), took)
			l := f.logLine("msklink extension cannot reach MSK: the function's Kafka client gets Kafka errors until it can")
			if l["cause"] != tc.cause || !strings.Contains(fmt.Sprint(l["fix"]), tc.fix) {
				t.Errorf("cause line %v: want cause %s and a fix naming %q", l, tc.cause, tc.fix)
			}
			if n := f.count("msklink extension cannot reach MSK: the function's Kafka client gets Kafka errors until it can"); n != 1 {
				t.Errorf("the cause line was logged %d times, want once", n)
			}
			// Within Init: before RIE reports the runtime's Init done (the
			// runtime starts after the extensions' Init).
			out := f.out.String()
			if i, j := strings.Index(out, "cannot reach MSK"), strings.Index(out, "INIT RTDONE"); j >= 0 && i > j {
				t.Errorf("the cause line came after Init:\n%s", out)
			}
		})
	}
}

// TestBadConfiguration: settings that cannot work get one clear line and
// an Init error (Extension.ConfigInvalid), not a crash.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no bootstrap servers", map[string]string{"MSK_BOOTSTRAP_SERVERS": ""}, "MSK_BOOTSTRAP_SERVERS"},
		{"not the IAM port", map[string]string{"MSK_BOOTSTRAP_SERVERS": "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9092", "MSK_REGION": ""}, "port 9092 is MSK's plaintext port, but auth is iam"},
		{"listen beyond loopback", map[string]string{"MSK_PROXY_LISTEN": "0.0.0.0:0"}, "beyond loopback"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := mskEnv(c)
			for k, v := range tc.env {
				env[k] = v
			}
			f := startFunction(t, pythonBootstrap(t), env)
			f.invokeRaw(produce("orders", "x"))
			var l map[string]any
			if strings.Contains(tc.name, "listen") {
				l = f.logLine("msklink extension: cannot start: the function's Kafka client will find nothing at " + tc.env["MSK_PROXY_LISTEN"])
			} else {
				l = f.logLine("msklink extension: bad configuration: the function's Kafka client will find nothing at " + f.listen)
			}
			if !strings.Contains(fmt.Sprint(l["err"]), tc.want) || l["error_type"] != "Extension.ConfigInvalid" {
				t.Errorf("line %v: want an error naming %q, type Extension.ConfigInvalid", l, tc.want)
			}
			if strings.Contains(f.out.String(), "panic:") || strings.Contains(f.out.String(), "goroutine ") {
				t.Error("the extension crashed")
			}
		})
	}
}

// TestShutdown: RIE shuts the environment down (SIGTERM): the extension
// gets SHUTDOWN, stops, and logs it within the budget.
func TestShutdown(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	f := startFunction(t, pythonBootstrap(t), mskEnv(c))
	if r := f.invoke(produce("orders", "s")); !r.OK {
		t.Fatalf("produce: %+v", r)
	}
	f.stop()
	l := f.logLine("msklink extension shut down")
	if _, failed := l["err"]; failed {
		t.Errorf("shutdown line %v: the budget ran out", l)
	}
}

// nodeBootstrap returns the Node function, skipping the test (failing it
// in CI) when node or kafkajs (npm ci in testdata/node) is missing.
func nodeBootstrap(t *testing.T) string {
	t.Helper()
	testutil.NeedTool(t, "/usr/bin/node", "apt-get install nodejs")
	if _, err := os.Stat("testdata/node/node_modules/kafkajs/package.json"); err != nil {
		testutil.MissingTool(t, "kafkajs", "npm ci --prefix extension/testdata/node")
	}
	return "testdata/node/bootstrap"
}

// TestNodePublishReadBack: a kafkajs function without SASL publishes
// through the extension over IAM, and publishes again at retries=0 after
// a freeze in which its upstream connections came to lead nowhere.
func TestNodePublishReadBack(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	env := mskEnv(c)
	env["MSK_PROXY_CHECK_AFTER"] = "1s"
	f := startFunction(t, nodeBootstrap(t), env)
	if r := f.invoke(produce("orders", "n1", "n2", "n3")); !r.OK || len(r.Offsets) == 0 {
		t.Fatalf("produce through the extension: %+v", r)
	}
	f.signal(syscall.SIGSTOP)
	for i := range int32(3) {
		c.Listener(i, emulator.IAM).SetFaults(emulator.Faults{Blackhole: true})
	}
	time.Sleep(2 * time.Second)
	done := make(chan result, 1)
	go func() { done <- f.invoke(produce("orders", "n4")) }()
	time.Sleep(200 * time.Millisecond)
	f.signal(syscall.SIGCONT)
	time.Sleep(300 * time.Millisecond)
	for i := range int32(3) {
		c.Listener(i, emulator.IAM).SetFaults(emulator.Faults{})
	}
	if r := <-done; !r.OK {
		t.Fatalf("first publish after the freeze: %+v", r)
	}
	if got := readBack(t, c, "orders", 4); !slices.Equal(got, []string{"n1", "n2", "n3", "n4"}) {
		t.Errorf("read back %q", got)
	}
}
