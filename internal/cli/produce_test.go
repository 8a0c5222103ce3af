package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
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

// iamClientOpts are franz-go options for the emulator's IAM listener with
// its default identity, to read what a test produced.
func iamClientOpts(t *testing.T, c *emulator.Cluster) []kgo.Opt {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), Region: c.Region(), TLSCAFile: c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")})
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func TestProduceConsume(t *testing.T) {
	useEmulator(t, "lines")
	in := "k1:hello\nk2:world\n\n" + `k3:{"a":1}` + "\n"
	start := time.Now().Truncate(time.Millisecond)
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
	end := time.Now()
	for key, r := range got {
		// Each record is stamped when its line was read (Kafka keeps
		// milliseconds).
		ts, err := time.Parse(time.RFC3339Nano, fmt.Sprint(r["timestamp"]))
		if err != nil || ts.Before(start) || ts.After(end) {
			t.Errorf("key %q: timestamp %v (%v), want between %v and %v", key, r["timestamp"], err, start, end)
		}
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
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t))) // nothing listens: connection refused
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
		// Nothing listens: the run stops at once and says so (more in
		// TestUnreachable).
		{"closed port", "x\n", []string{"produce", "--topic", "lines", "--auth", "tls", "--bootstrap", closed, "--timeout", "60s"}, 1,
			"nothing answers at " + closed + " (cause tcp_refused"},
		{"consume closed port", "", []string{"consume", "--topic", "lines", "--auth", "tls", "--bootstrap", closed, "--max", "1"}, 1,
			"msklink: consume: nothing answers at " + closed + " (cause tcp_refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, tc.in, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errOut, tc.code, tc.want)
			}
		})
	}
}

// TestProduceStreams feeds produce through a pipe, a few lines at a time:
// the records of the first lines are in the topic while stdin is still
// open (nothing waits for a batch), and each line not acked (a partition
// the topic does not have) is reported on stderr by its number, in order,
// blank lines counted.
func TestProduceStreams(t *testing.T) {
	c := useEmulator(t, "lines")
	pr, pw := io.Pipe()
	errOut := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), []string{"produce", "--topic", "lines", "--json"}, pr, io.Discard, errOut)
	}()
	write := func(lines ...string) {
		t.Helper()
		if _, err := io.WriteString(pw, strings.Join(lines, "\n")+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"value": "one"}`, ``, `{"value": "lost", "partition": 7}`, `{"value": "two"}`)
	opts := iamClientOpts(t, c)
	got := testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics("lines")), 2, 30*time.Second, 0)
	if len(got) != 2 {
		t.Fatalf("read %d records while stdin is open, want 2", len(got))
	}
	for wait := time.Now().Add(10 * time.Second); !strings.Contains(errOut.String(), "line 3: failed") && time.Now().Before(wait); {
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(errOut.String(), "line 3: failed") {
		t.Fatalf("line 3 not reported while stdin is open: %q", errOut.String())
	}
	write(`{"value": "three"}`, `{"value": "lost again", "partition": 9}`)
	pw.Close()
	var err error
	select {
	case err = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("produce did not return after stdin closed")
	}
	if ExitCode(err) != 1 {
		t.Errorf("exit %d (%v), want 1: two lines were not acked", ExitCode(err), err)
	}
	text := errOut.String()
	i3, i6 := strings.Index(text, "line 3: failed"), strings.Index(text, "line 6: failed")
	if i3 < 0 || i6 < i3 || strings.Count(text, ": failed") != 2 || !strings.Contains(text, "msklink: 3 of 5 records acked") {
		t.Errorf("stderr:\n%s\nwant lines 3 and 6 failed, in order, and 3 of 5 acked", text)
	}
	got = testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics("lines")), 3, 30*time.Second, 300*time.Millisecond)
	var values []string
	for _, r := range got {
		values = append(values, string(r.Value))
	}
	sort.Strings(values)
	if strings.Join(values, ",") != "one,three,two" {
		t.Errorf("topic holds %v", values)
	}
}

// TestProduceStall: the cluster stops answering (3 s added to every
// response) after the first record, and --timeout is 1 s: produce stops,
// reports the records in flight unconfirmed (one line for the two) and
// says that the later lines were not sent.
func TestProduceStall(t *testing.T) {
	c := useEmulator(t, "lines")
	pr, pw := io.Pipe()
	defer pw.Close()
	errOut := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), []string{"produce", "--topic", "lines", "--timeout", "1s"}, pr, io.Discard, errOut)
	}()
	if _, err := io.WriteString(pw, "a\n"); err != nil {
		t.Fatal(err)
	}
	testutil.ConsumeN(t, append(iamClientOpts(t, c), kgo.ConsumeTopics("lines")), 1, 30*time.Second, 0) // "a" is acked: connected
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 3 * time.Second})
	}
	go io.WriteString(pw, "b\nc\n") // then stdin stays open
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("produce did not stop")
	}
	text := errOut.String()
	if ExitCode(err) != 1 || strings.Contains(text, "line 1:") || !strings.Contains(text, "lines 2-3: unconfirmed") ||
		!strings.Contains(text, "stopped after line 3: no answer from the cluster for 1s (--timeout)") || !strings.Contains(text, "1 of 3 records acked") {
		t.Errorf("exit %d (%v), stderr:\n%s", ExitCode(err), err, text)
	}
}

// TestReadLinesStamps: lines read from one buffer share a clock read; a
// line that had to wait for input is stamped when it came.
func TestReadLinesStamps(t *testing.T) {
	pr, pw := io.Pipe()
	second := make(chan time.Time, 1) // when the second write began
	go func() {
		io.WriteString(pw, "a\nb\nc")
		time.Sleep(50 * time.Millisecond)
		second <- time.Now()
		io.WriteString(pw, "\nd\n")
		pw.Close()
	}()
	var lines lineNumbers
	out := make(chan lineBatch, 8)
	start := time.Now()
	go readLines(pr, lineParser("", false), &recordAlloc{}, -1, &lines, out, make(chan struct{}))
	var recs []*kgo.Record
	for b := range out {
		if b.err != nil {
			t.Fatal(b.err)
		}
		recs = append(recs, b.recs...)
	}
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	a, b, c, d := recs[0].Timestamp, recs[1].Timestamp, recs[2].Timestamp, recs[3].Timestamp
	if a.Before(start) || !b.Equal(a) {
		t.Errorf("a and b, read together: %v and %v, want one stamp after %v", a, b, start)
	}
	// c waited for the second write: stamped once it came, not with a
	// (however late the reader ran, which a loaded machine may make it).
	if w := <-second; !c.After(a) || c.Before(w) || !d.Equal(c) {
		t.Errorf("c (completed 50ms later) %v and d %v, a %v, second write at %v: want c after a and not before the write, d = c", c, d, a, w)
	}
}

// TestRecordAllocReuse hands out records with keys and values of random
// sizes (the byte blocks fill at other points than the record blocks) while
// outcomes come in order with up to 2,000 records in flight: no record in
// flight is ever overwritten, and after warming up no block is allocated.
func TestRecordAllocReuse(t *testing.T) {
	var a recordAlloc
	rng := rand.New(rand.NewPCG(1, 2))
	type held struct {
		r          *kgo.Record
		key, value string
	}
	var live []held // records handed out and not done, oldest first
	blocks := map[*recordBlock]bool{}
	const n = 100_000
	for i := range n {
		key := fmt.Sprintf("k%d", i)
		value := strings.Repeat(string(rune('a'+i%26)), rng.IntN(600))
		r := a.record()
		if r.Key != nil || r.Value != nil || !r.Timestamp.IsZero() || r.Context != nil {
			t.Fatalf("record %d handed out not zeroed: key %q, %d bytes of value", i, r.Key, len(r.Value))
		}
		r.Key, r.Value = a.bytes([]byte(key)), a.bytes([]byte(value))
		r.Timestamp, r.Context = time.Now(), context.Background()
		live = append(live, held{r, key, value})
		blocks[a.cur] = true
		if i == n/2 {
			clear(blocks) // from here on, only reused blocks
		}
		if len(live) > 2000 || rng.IntN(8) == 0 {
			k := rng.IntN(len(live) + 1)
			live = live[k:]
			a.done.Add(int64(k))
		}
		if i%1000 == 0 || i == n-1 {
			for _, h := range live {
				if string(h.r.Key) != h.key || string(h.r.Value) != h.value {
					t.Fatalf("after record %d: a record in flight now holds %q=%.20q, want %q=%.20q", i, h.r.Key, h.r.Value, h.key, h.value)
				}
			}
		}
	}
	// 2,000 records in flight of at most ~600 bytes need at most ~20
	// blocks of 64 KiB, or 9 of 256 records.
	if len(blocks) > 25 {
		t.Errorf("%d blocks used in the second half, want them reused (at most ~20)", len(blocks))
	}
}

// TestProduceManyLines sends 60,000 distinct lines through produce and
// reads every one back intact: more than the Stream lets be undelivered
// (20,000), so the reader reuses the blocks of records already acked.
func TestProduceManyLines(t *testing.T) {
	c := useEmulator(t, "many")
	const n = 60_000
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "k%d:%s%d\n", i, strings.Repeat("v", i%300), i)
	}
	if _, errOut, code := runCLI(t, in.String(), "produce", "--topic", "many", "--key-delimiter", ":"); code != 0 || !strings.Contains(errOut, fmt.Sprintf("%d of %d records acked", n, n)) {
		t.Fatalf("produce exit %d: %s", code, errOut)
	}
	got := testutil.ConsumeN(t, append(iamClientOpts(t, c), kgo.ConsumeTopics("many")), n, time.Minute, 300*time.Millisecond)
	seen := make([]bool, n)
	for _, r := range got {
		var i int
		if _, err := fmt.Sscanf(string(r.Key), "k%d", &i); err != nil || i < 0 || i >= n || seen[i] {
			t.Fatalf("key %q: not one of the input's, or twice", r.Key)
		}
		if want := strings.Repeat("v", i%300) + strconv.Itoa(i); string(r.Value) != want {
			t.Fatalf("key %q: value %.40q, want %.40q", r.Key, r.Value, want)
		}
		seen[i] = true
	}
	if len(got) != n {
		t.Fatalf("read back %d records, want %d", len(got), n)
	}
}

func TestLineNumbers(t *testing.T) {
	var l lineNumbers
	// lines: 1 rec0, 2 blank, 3 blank, 4 rec1, 5 rec2, 6 blank, 7 rec3
	l.skip(1)
	l.skip(1)
	l.skip(3)
	for i, want := range []int64{1, 4, 5, 7} {
		if got := l.of(int64(i)); got != want {
			t.Errorf("record %d: line %d, want %d", i, got, want)
		}
	}
}

// TestConsumeFormat prints records with --format, kcat -f's counterpart:
// key, value, headers, topic, partition and offset, in partition order.
func TestConsumeFormat(t *testing.T) {
	useEmulator(t, "fmt")
	in := `{"key": "k1", "value": "v1", "headers": {"h": "x", "g": "y"}, "partition": 1}` + "\n" + `{"key": "k2", "value": {"n": 2}, "partition": 1}` + "\n"
	if _, errOut, code := runCLI(t, in, "produce", "--topic", "fmt", "--json"); code != 0 {
		t.Fatalf("produce exit %d: %s", code, errOut)
	}
	out, errOut, code := runCLI(t, "", "consume", "--topic", "fmt", "--from-beginning", "--max", "2", "--timeout", "20s",
		"--format", `%t [%p] at offset %o: key %k: %v {%h{%k=%v,}}\n`)
	if code != 0 {
		t.Fatalf("consume exit %d: %s", code, errOut)
	}
	want := "fmt [1] at offset 0: key k1: v1 {g=y,h=x,}\nfmt [1] at offset 1: key k2: {\"n\":2} {}\n"
	if out != want {
		t.Errorf("got\n%q\nwant\n%q", out, want)
	}
	for _, args := range [][]string{
		{"--format", "%v", "--json"},
		{"--format", "%v{nope}"},
	} {
		if _, errOut, code := runCLI(t, "", append([]string{"consume", "--topic", "fmt"}, args...)...); code != 2 || !strings.Contains(errOut, "--format") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error naming --format", args, code, errOut)
		}
	}
}

// stuckWriter blocks each write for longer than franz-go's autocommit
// interval (5 s), then fails it, as a stuck and then closed pipe would.
type stuckWriter struct{}

func (stuckWriter) Write([]byte) (int, error) {
	time.Sleep(7 * time.Second)
	return 0, io.ErrClosedPipe
}

// TestConsumeGroupCommitsWhatWasWritten: `consume --group` commits the
// records it wrote and nothing else. A run whose output is stuck past an
// autocommit and then fails commits nothing; runs stopped by --max resume where the last left off, no record
// skipped or repeated.
func TestConsumeGroupCommitsWhatWasWritten(t *testing.T) {
	useEmulator(t, "grp")
	var in strings.Builder
	for i := range 10 {
		fmt.Fprintf(&in, `{"value": "r%d", "partition": 0}`+"\n", i)
	}
	if _, errOut, code := runCLI(t, in.String(), "produce", "--topic", "grp", "--json"); code != 0 {
		t.Fatalf("produce exit %d: %s", code, errOut)
	}
	var errOut strings.Builder
	err := Run(context.Background(), []string{"consume", "--topic", "grp", "--group", "g", "--from-beginning", "--timeout", "20s"},
		strings.NewReader(""), stuckWriter{}, &errOut)
	if err == nil || !strings.Contains(err.Error(), "writing records") {
		t.Fatalf("consume to a broken pipe: %v; want a write error", err)
	}
	var got []string
	for _, max := range []string{"4", "6"} {
		out, errOut, code := runCLI(t, "", "consume", "--topic", "grp", "--group", "g", "--from-beginning", "--max", max, "--timeout", "20s")
		if code != 0 {
			t.Fatalf("consume --max %s exit %d: %s", max, code, errOut)
		}
		got = append(got, strings.Fields(out)...)
	}
	if want := "r0 r1 r2 r3 r4 r5 r6 r7 r8 r9"; strings.Join(got, " ") != want {
		t.Errorf("the group read %q, want %q: a record was committed unwritten, skipped or repeated", strings.Join(got, " "), want)
	}
}
