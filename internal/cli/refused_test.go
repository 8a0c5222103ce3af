package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/publish"
)

// limited is an emulator identity (access key akid, secret "secret-"+akid)
// whose policy allows only actions (quoted, comma-separated) on every
// resource.
func limited(akid, actions string) emulator.Identity {
	return emulator.Identity{Name: akid, ARN: "arn:aws:iam::000000000000:role/" + akid, AccessKeyID: akid, SecretAccessKey: "secret-" + akid,
		Policies: []json.RawMessage{json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` + actions + `],"Resource":"*"}]}`)}}
}

// TestProduceRefused: when the cluster refuses every record, produce stops
// reading, says why (not "no answer" at --timeout) and reports the lines
// in flight in a few lines, not one each. Each case sends 30,000 lines,
// three times what may be in flight, so a run that kept reading would
// report all 30,000 lines and no stop.
func TestProduceRefused(t *testing.T) {
	cleanAWSEnv(t)
	const base = `"kafka-cluster:Connect","kafka-cluster:DescribeTopic"`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3),
		emulator.WithIdentity(limited("AKIANOWRITEDATA00001", base+`,"kafka-cluster:WriteDataIdempotently"`)),
		emulator.WithIdentity(limited("AKIANOIDEMPOTENCE001", base+`,"kafka-cluster:WriteData"`)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var in strings.Builder
	for i := range 30_000 {
		fmt.Fprintf(&in, "record %d\n", i)
	}
	for _, tc := range []struct {
		name         string
		akid, secret string
		caFile       string
		topic        string
		want         string // in the stop message
		lineErr      string // in the report of the lines in flight
		extra        []string
	}{
		{"unknown topic", emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, c.CAFile(), "nope",
			`topic "nope" does not exist on the cluster (UNKNOWN_TOPIC_OR_PARTITION): create it, or check --topic`, "failed: UNKNOWN_TOPIC_OR_PARTITION", nil},
		{"wrong secret", emulator.DefaultAccessKeyID, "not-the-secret", c.CAFile(), "orders",
			"the cluster refused the connection (cause auth_denied): SASL_AUTHENTICATION_FAILED", "failed: not sent: the cluster refused the connection", nil},
		{"untrusted certificate", emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "", "orders",
			"the cluster refused the connection (cause tls_untrusted)", "failed: not sent: the cluster refused the connection", nil},
		{"no WriteData", "AKIANOWRITEDATA00001", "secret-AKIANOWRITEDATA00001", c.CAFile(), "orders",
			`the principal may not write to topic "orders" (TOPIC_AUTHORIZATION_FAILED)`, "failed: TOPIC_AUTHORIZATION_FAILED", nil},
		{"no WriteDataIdempotently", "AKIANOIDEMPOTENCE001", "secret-AKIANOIDEMPOTENCE001", c.CAFile(), "orders",
			"the cluster refused the idempotent producer (CLUSTER_AUTHORIZATION_FAILED)", "failed: CLUSTER_AUTHORIZATION_FAILED", nil},
		{"no such partition", emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, c.CAFile(), "orders",
			`topic "orders" has 3 partitions, 0 to 2: there is no partition 7 (--partition)`, "failed: invalid record partitioning choice of 7", []string{"--partition", "7"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.akid)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			args := []string{"produce", "--bootstrap", c.Bootstrap(emulator.IAM), "--region", c.Region(), "--topic", tc.topic, "--timeout", "60s"}
			if tc.caFile != "" {
				args = append(args, "--ca-file", tc.caFile)
			}
			args = append(args, tc.extra...)
			_, errOut, code := runCLI(t, in.String(), args...)
			m := regexp.MustCompile(`msklink: stopped (?:after line (\d+)|before the first line): (.*); the lines after it were not sent\n`).FindStringSubmatch(errOut)
			if code != 1 || m == nil || !strings.Contains(m[2], tc.want) {
				t.Fatalf("exit %d, stderr:\n%.3000s\nwant exit 1 and a stop saying %q", code, errOut, tc.want)
			}
			last, _ := strconv.Atoi(m[1]) // 0: the check answered before a line was read
			if last >= 30_000 {
				t.Errorf("stopped after line %d: it read the whole input", last)
			}
			// The lines sent, 1 to last, are each reported once, in order,
			// in runs of lines that failed the same way.
			runs := regexp.MustCompile(`(?m)^lines? (\d+)(?:-(\d+))?: (.*)$`).FindAllStringSubmatch(errOut, -1)
			next := 1
			for _, r := range runs {
				from, _ := strconv.Atoi(r[1])
				to := from
				if r[2] != "" {
					to, _ = strconv.Atoi(r[2])
				}
				if from != next || to < from || !strings.Contains(r[3], tc.lineErr) {
					t.Fatalf("report line %q: want lines from %d, failed with %q\n%.3000s", r[0], next, tc.lineErr, errOut)
				}
				next = to + 1
			}
			if next != last+1 || len(runs) > 10 {
				t.Errorf("%d report lines cover lines 1-%d, want 1-%d in a few lines\n%.3000s", len(runs), next-1, last, errOut)
			}
			if !strings.Contains(errOut, fmt.Sprintf("msklink: 0 of %d records acked", last)) {
				t.Errorf("stderr:\n%.3000s\nwant 0 of %d acked", errOut, last)
			}
		})
	}
}

// TestFailureReport: consecutive lines that failed the same way are one
// report line; an acked line, a gap (a blank line) or another error starts
// a new one; a run waiting is printed after reportDelay without more
// outcomes.
func TestFailureReport(t *testing.T) {
	var (
		mu  sync.Mutex
		out []string
	)
	r := &failureReport{printf: func(format string, args ...any) {
		mu.Lock()
		out = append(out, fmt.Sprintf(format, args...))
		mu.Unlock()
	}}
	failed := func(err string) publish.Outcome { return publish.Outcome{Status: publish.Failed, Err: errors.New(err)} }
	r.failed(1, failed("x"))
	r.failed(2, failed("x"))
	r.failed(3, failed("x"))
	r.acked()
	r.failed(5, failed("x"))
	r.failed(6, failed("y"))
	r.failed(8, failed("y")) // line 7 was blank
	r.failed(9, publish.Outcome{Status: publish.Unconfirmed, Err: errors.New("y")})
	r.acked()
	r.failed(11, failed("z"))
	r.failed(12, failed("z"))
	want := "lines 1-3: failed: x\nline 5: failed: x\nline 6: failed: y\nline 8: failed: y\nline 9: unconfirmed: y\nlines 11-12: failed: z\n"
	// No stop: the timer prints 11-12, reportDelay after 11.
	start := time.Now()
	var got string
	for ; time.Since(start) < 10*time.Second; time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		got = strings.Join(out, "")
		mu.Unlock()
		if got == want {
			break
		}
	}
	if got != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}
	if el := time.Since(start); el < reportDelay/2 {
		t.Errorf("lines 11-12 printed %s after the last outcome, before the report delay (%s)", el, reportDelay)
	}
	r.failed(13, failed("z")) // after a print, a new run
	r.stop()
	r.stop()
	if got := strings.Join(out, ""); got != want+"line 13: failed: z\n" {
		t.Errorf("after stop:\n%s", got)
	}
}

// TestConsumeRefused: consume exits at once with the cause when the topic
// does not exist (as kcat -C does), when authentication fails, and when
// the policy does not allow describing the topic, instead of waiting in
// silence until --timeout.
func TestConsumeRefused(t *testing.T) {
	cleanAWSEnv(t)
	noDescribe := limited("AKIANODESCRIBETOPIC1", `"kafka-cluster:Connect","kafka-cluster:ReadData"`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3), emulator.WithIdentity(noDescribe))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name, akid, secret, topic, want string
	}{
		{"unknown topic", emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "nope", `consume: topic "nope" does not exist on the cluster (UNKNOWN_TOPIC_OR_PARTITION)`},
		{"wrong secret", emulator.DefaultAccessKeyID, "not-the-secret", "orders", "consume: the cluster refused the connection (cause auth_denied)"},
		{"no DescribeTopic", noDescribe.AccessKeyID, noDescribe.SecretAccessKey, "orders", `consume: the principal may not read topic "orders" (TOPIC_AUTHORIZATION_FAILED)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", tc.akid)
			t.Setenv("AWS_SECRET_ACCESS_KEY", tc.secret)
			start := time.Now()
			out, errOut, code := runCLI(t, "", "consume", "--bootstrap", c.Bootstrap(emulator.IAM), "--region", c.Region(), "--ca-file", c.CAFile(),
				"--topic", tc.topic, "--from-beginning", "--max", "1", "--timeout", "60s")
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d after %s, stdout %q, stderr:\n%s\nwant exit 1 and %q", code, time.Since(start), out, errOut, tc.want)
			}
		})
	}
}

// TestUnreachable: produce and consume never wait in silence on a cluster
// that does not answer. Nothing listening on the port, or a host name that
// does not resolve: they stop at once with the doctor's cause code and
// fix, as kcat -P does ("1/1 brokers are down: terminating"), where
// consume used to wait until Ctrl-C and produce for its whole --timeout.
// A listener that accepts but never answers (the emulator's Blackhole):
// they say so, with the cause, while still waiting, and end at --timeout.
// Each run is bounded by a context far longer than the run should take;
// the old behaviour fails the message checks, not a timing.
func TestUnreachable(t *testing.T) {
	useEmulator(t, "orders") // the AWS credentials
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
	hole := emulatorWithFaults(t, emulator.Faults{Blackhole: true})
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  []string // in stderr, in order
	}{
		{"consume closed port", "", []string{"consume", "--topic", "orders", "--bootstrap", closed, "--max", "1"},
			[]string{"msklink: consume: nothing answers at " + closed + " (cause tcp_refused", "connection refused", "\nFix: use the port of an enabled listener"}},
		{"produce closed port", "x\n", []string{"produce", "--topic", "orders", "--bootstrap", closed},
			[]string{"nothing answers at " + closed + " (cause tcp_refused", "\nFix: use the port of an enabled listener", "0 of "}},
		{"consume unknown host", "", []string{"consume", "--topic", "orders", "--bootstrap", "b-1.nosuch.invalid:9098", "--max", "1"},
			[]string{"msklink: consume: b-1.nosuch.invalid does not resolve (cause dns", "\nFix: copy the bootstrap string"}},
		{"produce unknown host", "x\n", []string{"produce", "--topic", "orders", "--bootstrap", "b-1.nosuch.invalid:9098"},
			[]string{"b-1.nosuch.invalid does not resolve (cause dns", "\nFix: copy the bootstrap string"}},
		{"consume blackhole", "", []string{"consume", "--topic", "orders", "--bootstrap", hole.Bootstrap(emulator.IAM), "--ca-file", hole.CAFile(), "--dial-timeout", "1s", "--max", "1", "--timeout", "6s"},
			[]string{"msklink: no broker has answered in 2s", "(cause broker_timeout", "\nFix: ", "still waiting: until --timeout 6s", "0 of 1 records before the timeout"}},
		{"produce blackhole", "x\n", []string{"produce", "--topic", "orders", "--bootstrap", hole.Bootstrap(emulator.IAM), "--ca-file", hole.CAFile(), "--dial-timeout", "1s", "--timeout", "6s"},
			[]string{"msklink: no broker has answered in 2s", "(cause broker_timeout", "\nFix: ", "still waiting: until --timeout 6s", "no answer from the cluster for 6s (--timeout)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			var out, errOut strings.Builder
			start := time.Now()
			err := Run(ctx, tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			text := errOut.String()
			if ExitCode(err) != 1 || ctx.Err() != nil {
				t.Errorf("exit %d after %s (the test's bound: %v), stderr:\n%s", ExitCode(err), time.Since(start), ctx.Err(), text)
			}
			rest := text
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("stderr:\n%s\nwant, after what came before, %q", text, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

// emulatorWithFaults starts an emulator whose IAM listeners inject f.
func emulatorWithFaults(t *testing.T, f emulator.Faults) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(f)
	}
	return c
}

// TestInterrupted: Ctrl-C (the context canceled) is reported as such.
// consume --max without --timeout says "when interrupted", not "before the
// timeout" (there is none); produce says "interrupted" for the line that
// was never sent, not franz-go's "context canceled". The cluster answers
// nothing (Blackhole), so the records are still waiting when the run is
// interrupted.
func TestInterrupted(t *testing.T) {
	useEmulator(t, "orders") // the AWS credentials
	hole := emulatorWithFaults(t, emulator.Faults{Blackhole: true})
	for _, tc := range []struct {
		name string
		args []string
		want []string // in stderr
	}{
		{"consume", []string{"consume", "--topic", "orders", "--max", "1"}, []string{"msklink: 0 of 1 records when interrupted"}},
		{"produce", []string{"produce", "--topic", "orders"}, []string{"line 1: failed: not sent: interrupted", "msklink: stopped after line 1: interrupted"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := io.Pipe() // stdin stays open, as a terminal's
			defer pw.Close()
			go io.WriteString(pw, "x\n")
			ctx, cancel := context.WithCancel(context.Background())
			errOut := &testutil.SyncBuffer{}
			done := make(chan error, 1)
			args := append(tc.args, "--bootstrap", hole.Bootstrap(emulator.IAM), "--ca-file", hole.CAFile())
			go func() { done <- Run(ctx, args, pr, io.Discard, errOut) }()
			time.Sleep(time.Second) // the run is under way: then Ctrl-C
			cancel()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("the run did not stop when interrupted")
			}
			text := errOut.String()
			for _, w := range tc.want {
				if !strings.Contains(text, w) {
					t.Errorf("stderr:\n%s\nwant %q", text, w)
				}
			}
			if ExitCode(err) != 1 || strings.Contains(text, "context canceled") || strings.Contains(text, "timeout") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1, no \"context canceled\", no timeout", ExitCode(err), text)
			}
		})
	}
}
