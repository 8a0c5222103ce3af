package cli

// Side-by-side benchmarks of the msklink command against other Kafka
// clients on one emulator: whole processes timed, start-up included, the
// same input, and the topic read back after each run (a record missing or
// duplicated fails the benchmark). docs/BENCHMARKS.md has the commands and
// the figures.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	benchRecords    = flag.Int("bench-records", 300_000, "records per side-by-side CLI benchmark run")
	benchPartitions = flag.Int("bench-partitions", 6, "partitions of each CLI benchmark topic")
	benchMsklink    = flag.String("bench-msklink", "", "msklink binary to benchmark (default: built from this tree), e.g. an older build to compare")
)

// benchValueSize is the size of each benchmark record (the line, without
// its newline).
const benchValueSize = 100

// buildOnce returns a function that builds the Go package pkg into a
// binary called name, once per test binary, and returns its path.
func buildOnce(pkg, name string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", name+"-bench")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
		return bin, nil
	})
}

var (
	benchBinary   = buildOnce("github.com/msklink/msklink/cmd/msklink", "msklink")
	franzgoBinary = buildOnce("./testdata/franzgo_produce", "franzgo_produce")
)

func msklinkBin(b *testing.B) string {
	b.Helper()
	if *benchMsklink != "" {
		return *benchMsklink
	}
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// benchTool returns the path of a third-party client or skips.
func benchTool(b *testing.B, path string) string {
	b.Helper()
	return testutil.NeedTool(b, path, "apt-get install kcat python3-kafka python3-botocore")
}

// benchCluster is the side-by-side benchmarks' emulator: `msklink local
// --ephemeral` (built from this tree) in a process of its own, as a
// broker is, so that neither the read-back nor the test binary's garbage
// shares its heap.
//
// It runs with GODEBUG=madvdontneed=0: the Go runtime then gives memory
// it no longer needs back to the kernel with MADV_FREE, which the kernel
// reclaims only under memory pressure, instead of MADV_DONTNEED, which
// drops the pages at once. On this project's 2-core VM a page fault
// costs 10-12 µs (256 MiB touched in 0.7-0.8 s), and with the default,
// the pages the emulator freed after one run's topic was deleted were
// faulted back in during the next run: up to 37,000 faults in a run, in
// which the emulator then took 1.05-1.17 s of CPU instead of 0.17 s,
// charged to whichever client was running.
type benchCluster struct {
	ready localReady
	pid   int
}

func (c *benchCluster) Bootstrap(kind emulator.ListenerKind) string {
	return c.ready.Bootstrap[kind.String()]
}

func (c *benchCluster) BootstrapAddrs(kind emulator.ListenerKind) []string {
	return strings.Split(c.Bootstrap(kind), ",")
}

func (c *benchCluster) CAFile() string { return c.ready.CAFile }

func (c *benchCluster) Region() string { return c.ready.Region }

// faults returns the emulator's minor page faults so far (0 where /proc
// is not there).
func (c *benchCluster) faults() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		return 0
	}
	// minflt is the 10th field, the 8th after the command's ")".
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 8 {
		return 0
	}
	n, _ := strconv.ParseInt(f[7], 10, 64)
	return n
}

func benchEmulator(b *testing.B) *benchCluster {
	b.Helper()
	bin, err := benchBinary()
	if err != nil {
		b.Fatal(err)
	}
	readyFile := filepath.Join(b.TempDir(), "ready.json")
	cmd := exec.Command(bin, "local", "--ephemeral", "--ready-file", readyFile)
	cmd.Env = append(benchEnv(), "GODEBUG=madvdontneed=0")
	var stderr testutil.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	b.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	c := &benchCluster{pid: cmd.Process.Pid}
	emuFaults = c.faults
	for deadline := time.Now().Add(30 * time.Second); ; {
		if data, err := os.ReadFile(readyFile); err == nil {
			if err := json.Unmarshal(data, &c.ready); err != nil {
				b.Fatalf("msklink local --ready-file: %v", err)
			}
			return c
		}
		select {
		case err := <-exited:
			b.Fatalf("msklink local exited before it was ready: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b.Fatalf("msklink local was not ready in 30 s:\n%s", stderr.String())
		}
	}
}

// benchTopic creates a fresh topic of *benchPartitions partitions.
func benchTopic(b *testing.B, c *benchCluster, name string) string {
	b.Helper()
	return testutil.CreateTopic(b, c.BootstrapAddrs(emulator.Plaintext), name, int32(*benchPartitions))
}

// benchInput writes n lines of benchValueSize bytes, line i starting with
// its number, and returns the file's path.
func benchInput(b *testing.B, n int) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "records.txt")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	pad := bytes.Repeat([]byte("x"), benchValueSize)
	for i := range n {
		s := strconv.AppendInt(nil, int64(i), 10)
		s = append(s, ' ')
		w.Write(s)
		w.Write(pad[:benchValueSize-len(s)])
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchEnv is a process environment with nothing of the caller's: the
// emulator's default identity, no AWS config files, no metadata service.
func benchEnv() []string {
	return []string{
		"PATH=/usr/bin:/bin", "HOME=" + os.TempDir(),
		"AWS_ACCESS_KEY_ID=" + emulator.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY=" + emulator.DefaultSecretAccessKey,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
	}
}

// runTimed runs a whole process with stdin from a file and stdout to
// stdoutPath ("" discards it), and returns how long it took.
func runTimed(b *testing.B, stdinPath, stdoutPath string, name string, args ...string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = benchEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if stdinPath != "" {
		f, err := os.Open(stdinPath)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if stdoutPath != "" {
		f, err := os.Create(stdoutPath)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdout = f
	}
	// Collect the read-back's garbage now, not beside the run timed.
	runtime.GC()
	faults := emuFaults()
	start := time.Now()
	err := cmd.Run()
	el := time.Since(start)
	lastFaults = emuFaults() - faults
	if err != nil {
		b.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, stderr.String())
	}
	return el
}

// lastFaults is how many minor page faults the emulator took during the
// last runTimed (see benchCluster): the side-by-side benchmarks log it,
// so that a round the emulator's memory slowed down shows as such.
var (
	lastFaults int64
	emuFaults  = func() int64 { return 0 }
)

// checkValues fails b unless values holds each record number 0..n-1
// exactly once (what benchInput wrote, a line each).
func checkValues(b *testing.B, who string, n int, values func(yield func([]byte) bool)) {
	b.Helper()
	seen := make([]bool, n)
	got := 0
	for v := range values {
		sp := bytes.IndexByte(v, ' ')
		i, err := strconv.Atoi(string(v[:max(sp, 0)]))
		if sp < 0 || err != nil || i < 0 || i >= n || len(v) != benchValueSize {
			b.Fatalf("%s: record %.40q is not one of the input's", who, v)
		}
		if seen[i] {
			b.Fatalf("%s: record %d is duplicated", who, i)
		}
		seen[i] = true
		got++
	}
	if got != n {
		b.Fatalf("%s: %d of %d records", who, got, n)
	}
}

// readBack consumes topic from the start through the plaintext listener
// and checks it holds exactly the n input records.
func readBack(b *testing.B, c *benchCluster, who, topic string, n int) {
	b.Helper()
	recs := testutil.ConsumeN(b, []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(emulator.Plaintext)...), kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(100 * time.Millisecond)}, n, 2*time.Minute, 500*time.Millisecond)
	checkValues(b, who+" (read back)", n, func(yield func([]byte) bool) {
		for _, r := range recs {
			if !yield(r.Value) {
				return
			}
		}
	})
}

// lines yields the lines of the file at path.
func lines(b *testing.B, path string) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if !yield(sc.Bytes()) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// side is one client of a side-by-side benchmark: run runs it once on
// the input, its process timed whole, checks what it did (the topic read
// back, or its output), and returns the time.
type side struct {
	name string
	run  func(b *testing.B) time.Duration
}

// sideBySide runs ours and theirs once per iteration (a round), the side
// going first alternating between rounds so that a change in the shared
// machine's load hits both, and reports each side's median records/s and
// the median of the rounds' ratios.
func sideBySide(b *testing.B, n int, ours, theirs side) {
	b.Helper()
	// One round first, checked but not counted: the emulator's heap
	// grows to hold a run's records (with the page faults that costs)
	// and the input file comes into the page cache.
	ours.run(b)
	theirs.run(b)
	var oursRates, theirRates, ratios []float64
	faults := map[string][]float64{}
	for round := 0; b.Loop(); round++ {
		order := []side{ours, theirs}
		if round%2 == 1 {
			order[0], order[1] = theirs, ours
		}
		rates := map[string]float64{}
		for _, sd := range order {
			rates[sd.name] = float64(n) / sd.run(b).Seconds()
			faults[sd.name] = append(faults[sd.name], float64(lastFaults))
		}
		oursRates = append(oursRates, rates[ours.name])
		theirRates = append(theirRates, rates[theirs.name])
		ratios = append(ratios, rates[ours.name]/rates[theirs.name])
	}
	testutil.ReportRounds(b, ours.name, theirs.name, oursRates, theirRates, ratios)
	b.Logf("%d records of %d bytes, whole processes: %s rec/s %.0f, %s rec/s %.0f, ratios %.2f; the emulator's page faults during the runs: %s %.0f, %s %.0f",
		n, benchValueSize, ours.name, oursRates, theirs.name, theirRates, ratios, ours.name, faults[ours.name], theirs.name, faults[theirs.name])
}

// producing is one side of a produce benchmark: each run goes to a fresh
// topic (its name starting with prefix), which is read back (every one of
// the n input records, once) and deleted after the run; run runs the
// client on topic and returns its time.
func producing(c *benchCluster, n int, name, prefix string, run func(b *testing.B, topic string) time.Duration) side {
	return side{name, func(b *testing.B) time.Duration {
		topic := benchTopic(b, c, prefix)
		el := run(b, topic)
		readBack(b, c, name, topic, n)
		testutil.DeleteTopic(b, c.BootstrapAddrs(emulator.Plaintext), topic)
		return el
	}}
}

// msklinkTLS is `msklink produce` over the TLS listener, stdin from in.
func msklinkTLS(bin string, c *benchCluster, in string) func(*testing.B, string) time.Duration {
	return func(b *testing.B, topic string) time.Duration {
		return runTimed(b, in, "", bin, "produce", "--auth", "tls", "--bootstrap", c.Bootstrap(emulator.TLS), "--ca-file", c.CAFile(), "--topic", topic)
	}
}

// BenchmarkCLIProduceTLS: `msklink produce` against `kcat -P` (librdkafka
// 2.0.2), both over the emulator's TLS listener with acks=all and
// idempotence, the same input file on stdin, each to a fresh topic read
// back after the run.
func BenchmarkCLIProduceTLS(b *testing.B) {
	kcat := benchTool(b, "/usr/bin/kcat")
	bin := msklinkBin(b)
	c := benchEmulator(b)
	n := *benchRecords
	in := benchInput(b, n)
	sideBySide(b, n, producing(c, n, "msklink", "tls-msklink", msklinkTLS(bin, c, in)),
		producing(c, n, "kcat", "tls-kcat", func(b *testing.B, topic string) time.Duration {
			return runTimed(b, in, "", kcat, "-P", "-b", c.Bootstrap(emulator.TLS), "-t", topic,
				"-X", "security.protocol=SSL", "-X", "ssl.ca.location="+c.CAFile(), "-X", "acks=all", "-X", "enable.idempotence=true")
		}))
}

// BenchmarkCLIProduceFranzGo: `msklink produce` against a bare franz-go
// program (testdata/franzgo_produce: a bufio.Scanner, a copy of each line,
// the asynchronous Produce, Flush) with the same producer options, both
// over the emulator's TLS listener, each to a fresh topic read back after
// the run. It says how much of msklink's speed is franz-go's, and so
// where the ceiling of BenchmarkCLIProduceTLS's ratio is on a machine.
func BenchmarkCLIProduceFranzGo(b *testing.B) {
	bin := msklinkBin(b)
	franz, err := franzgoBinary()
	if err != nil {
		b.Fatal(err)
	}
	c := benchEmulator(b)
	n := *benchRecords
	in := benchInput(b, n)
	sideBySide(b, n, producing(c, n, "msklink", "franz-msklink", msklinkTLS(bin, c, in)),
		producing(c, n, "franz-go", "franz-bare", func(b *testing.B, topic string) time.Duration {
			return runTimed(b, in, "", franz, c.Bootstrap(emulator.TLS), c.CAFile(), topic)
		}))
}

// BenchmarkCLIProduceIAM: `msklink produce` against kafka-python 2.0.2's
// KafkaProducer (acks=all, linger 5 ms), both over the emulator's IAM
// listener with OAUTHBEARER, the Python side signing its token with
// botocore (testdata/kafka_python_produce.py), each to a fresh topic read
// back after the run.
func BenchmarkCLIProduceIAM(b *testing.B) {
	py := benchTool(b, "/usr/bin/python3")
	if out, err := exec.Command(py, "-c", "import kafka, botocore").CombinedOutput(); err != nil {
		b.Logf("%s", out)
		testutil.MissingTool(b, "kafka-python/botocore", "apt-get install python3-kafka python3-botocore")
	}
	bin := msklinkBin(b)
	c := benchEmulator(b)
	n := *benchRecords
	in := benchInput(b, n)
	sideBySide(b, n, producing(c, n, "msklink", "iam-msklink", func(b *testing.B, topic string) time.Duration {
		return runTimed(b, in, "", bin, "produce", "--bootstrap", c.Bootstrap(emulator.IAM), "--ca-file", c.CAFile(), "--region", c.Region(), "--topic", topic)
	}), producing(c, n, "kafka-python", "iam-kafka-python", func(b *testing.B, topic string) time.Duration {
		out := filepath.Join(b.TempDir(), "python.json")
		el := runTimed(b, in, out, py, "testdata/kafka_python_produce.py", "--bootstrap", c.Bootstrap(emulator.IAM),
			"--cafile", c.CAFile(), "--region", c.Region(), "--topic", topic)
		var res struct {
			Sent, Acked, Failed int
			FirstError          *string `json:"first_error"`
		}
		raw, _ := os.ReadFile(out)
		if err := json.Unmarshal(raw, &res); err != nil || res.Acked != n {
			b.Fatalf("kafka-python: %s (%v)", raw, err)
		}
		return el
	}))
}

// BenchmarkCLIConsume: `msklink consume` against `kcat -C`, both reading
// the same topic of n records from the start over the TLS listener and
// writing each value on a line to a file, which is then checked.
func BenchmarkCLIConsume(b *testing.B) {
	kcat := benchTool(b, "/usr/bin/kcat")
	bin := msklinkBin(b)
	c := benchEmulator(b)
	n := *benchRecords
	in := benchInput(b, n)
	topic := benchTopic(b, c, "consume")
	runTimed(b, in, "", bin, "produce", "--auth", "tls", "--bootstrap", c.Bootstrap(emulator.TLS), "--ca-file", c.CAFile(), "--topic", topic)
	readBack(b, c, "msklink produce", topic, n)
	dir := b.TempDir()
	sideBySide(b, n, side{"msklink", func(b *testing.B) time.Duration {
		out := filepath.Join(dir, "msklink.out")
		el := runTimed(b, "", out, bin, "consume", "--auth", "tls", "--bootstrap", c.Bootstrap(emulator.TLS),
			"--ca-file", c.CAFile(), "--topic", topic, "--from-beginning", "--max", strconv.Itoa(n))
		checkValues(b, "msklink consume", n, lines(b, out))
		return el
	}}, side{"kcat", func(b *testing.B) time.Duration {
		out := filepath.Join(dir, "kcat.out")
		el := runTimed(b, "", out, kcat, "-C", "-b", c.Bootstrap(emulator.TLS), "-t", topic,
			"-X", "security.protocol=SSL", "-X", "ssl.ca.location="+c.CAFile(), "-o", "beginning", "-c", strconv.Itoa(n), "-e", "-q")
		checkValues(b, "kcat -C", n, lines(b, out))
		return el
	}})
}
