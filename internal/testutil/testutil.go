// Package testutil holds helpers shared by msklink's tests: AWS
// environment isolation, a concurrent-safe buffer, a read-back consumer,
// third-party clients run from tests (NeedTool, Run, KafkaPython), and a
// harness that builds a Lambda bootstrap and runs it under AWS's
// Runtime Interface Emulator (StartRIE). It imports the standard library
// and franz-go only (no msklink package), so the tests of every package
// may use it.
package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EmptyAWSEnv returns environment settings that leave the AWS SDK nothing
// to find: no credentials or region variables, config and credentials files
// in dir (which need not exist), and the EC2 instance metadata service
// disabled, so a test never reaches a real account or the network.
func EmptyAWSEnv(dir string) map[string]string {
	return map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
	}
}

// IsolateAWS applies EmptyAWSEnv for the rest of the test (t.Setenv), with
// a fresh temporary directory for the config files. It returns that
// directory, for tests that write a config or credentials file there.
func IsolateAWS(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range EmptyAWSEnv(dir) {
		t.Setenv(k, v)
	}
	return dir
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a sink for the
// logs of servers and clients running in a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ConsumeN reads records from the start of the topics opts consume (with
// kgo.ConsumeTopics) until it has at least n, failing t if that takes
// longer than timeout. It then reads for linger more, so that records
// beyond n (duplicates, strays) show up, and returns everything sorted by
// partition and offset.
func ConsumeN(t testing.TB, opts []kgo.Opt, n int, timeout, linger time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records in %s", len(got), n, timeout)
		}
		got = append(got, fs.Records()...)
	}
	if linger > 0 {
		lctx, lcancel := context.WithTimeout(context.Background(), linger)
		got = append(got, cl.PollFetches(lctx).Records()...)
		lcancel()
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got
}

// BenchmarkProduce is the body of a produce-throughput benchmark: a client
// with opts (plus the default topic and a 1 ms linger) produces b.N records
// of value asynchronously, after one synchronous record to connect, and the
// benchmark fails on any produce error.
func BenchmarkProduce(b *testing.B, topic string, value []byte, opts ...kgo.Opt) {
	b.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic), kgo.DisableClientMetrics(),
		kgo.ProducerLinger(time.Millisecond))...)
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(value)))
	b.ResetTimer()
	errs := make(chan error, 1)
	for range b.N {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// Run runs a third-party client with stdin, for at most a minute, and
// returns what it printed (stdout and stderr).
func Run(t testing.TB, stdin, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// PyResult is what a kafka-python round-trip script prints as its last
// line (see emulator/testdata/kafka_python_roundtrip.py).
type PyResult struct {
	OK       bool     `json:"ok"`
	Consumed []string `json:"consumed"`
	Error    string   `json:"error"`
	Log      string   `json:"log"`
}

// KafkaPython runs script with Debian's python3 and python3-kafka
// (kafka-python 2.0.2), giving up on the test when they are missing (see
// MissingTool), and returns the result the script printed.
func KafkaPython(t testing.TB, script string, args ...string) PyResult {
	t.Helper()
	py := NeedTool(t, "/usr/bin/python3", "apt-get install python3-kafka")
	if err := exec.Command(py, "-c", "import kafka").Run(); err != nil {
		MissingTool(t, "kafka-python", "apt-get install python3-kafka")
	}
	out, err := Run(t, "", py, append([]string{script}, args...)...)
	var r PyResult
	if i := strings.LastIndex("\n"+out, "\n{"); i < 0 || json.Unmarshal([]byte(out[i:]), &r) != nil {
		t.Fatalf("kafka-python script %s: %v\n%s", script, err, out)
	}
	return r
}

// KcatRoundTrip lists the brokers at bootstrap with kcat, produces three
// records (values tag-1..3) to topic and consumes them back, with the extra
// librdkafka settings args. It returns
// the broker addresses kcat saw, sorted. A missing kcat is
// reported with MissingTool.
func KcatRoundTrip(t testing.TB, bootstrap, topic, tag string, args ...string) []string {
	t.Helper()
	kcat := NeedTool(t, "/usr/bin/kcat", "apt-get install kcat")
	base := append([]string{"-b", bootstrap}, args...)
	out, err := Run(t, "", kcat, append(base, "-L", "-J", "-m", "15")...)
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	var md struct {
		Brokers []struct {
			Name string `json:"name"`
		} `json:"brokers"`
	}
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &md) != nil {
		t.Fatalf("kcat -L -J printed no metadata:\n%s", out)
	}
	var brokers []string
	for _, b := range md.Brokers {
		brokers = append(brokers, b.Name)
	}
	sort.Strings(brokers)

	vals := []string{tag + "-1", tag + "-2", tag + "-3"}
	if out, err := Run(t, strings.Join(vals, "\n")+"\n", kcat, append(base, "-P", "-t", topic, "-m", "15")...); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	out, err = Run(t, "", kcat, append(base, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-m", "15")...)
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	for _, v := range vals {
		if !strings.Contains(out, v+"\n") {
			t.Errorf("kcat did not consume %q:\n%s", v, out)
		}
	}
	return brokers
}

// CreateTopic creates a topic of partitions partitions (replication 1)
// named name and a unique suffix through the brokers seeds (a plaintext
// listener), and returns its name.
func CreateTopic(t testing.TB, seeds []string, name string, partitions int32) string {
	t.Helper()
	topic := fmt.Sprintf("%s-%d", name, time.Now().UnixNano())
	admin(t, seeds, "creating topic "+topic, func(ctx context.Context, adm *kadm.Client) error {
		resp, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
		if err == nil {
			err = resp.Err
		}
		return err
	})
	return topic
}

// DeleteTopic deletes topic through the brokers seeds (a plaintext
// listener). The CLI benchmarks delete each topic once it is read back,
// so that the emulator's heap stops growing (see BENCHMARKS.md, stop 20).
func DeleteTopic(t testing.TB, seeds []string, topic string) {
	t.Helper()
	admin(t, seeds, "deleting topic "+topic, func(ctx context.Context, adm *kadm.Client) error {
		resp, err := adm.DeleteTopic(ctx, topic)
		if err == nil {
			err = resp.Err
		}
		return err
	})
}

// admin runs do with an admin client of the brokers seeds and 30 s, and
// fails t with what (what was being done) if it fails.
func admin(t testing.TB, seeds []string, what string, do func(context.Context, *kadm.Client) error) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := do(ctx, kadm.NewClient(cl)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Admin returns an admin client over a client made with opts, closed at
// the end of the test.
func Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// EndOffsetSum sums the end offsets of topic's partitions: how many
// records were ever written to it.
func EndOffsetSum(t testing.TB, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		n += o.Offset
	})
	return n
}

// SetMaxMessageBytes sets topic's max.message.bytes to n.
func SetMaxMessageBytes(t testing.TB, adm *kadm.Client, topic string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := strconv.Itoa(n)
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic)
	if err == nil {
		for _, r := range rs {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// ReportRounds reports a side-by-side benchmark's rounds: each side's
// median rate (records/s), the median of the rounds' ratios (ours /
// theirs), and the ratio of each side's best round. On a shared machine
// another tenant's load only ever slows a run down, so the best rounds
// are the least disturbed.
func ReportRounds(b *testing.B, oursName, theirsName string, ours, theirs, ratios []float64) {
	b.Helper()
	b.ReportMetric(Median(ours), oursName+"-rec/s")
	b.ReportMetric(Median(theirs), theirsName+"-rec/s")
	b.ReportMetric(Median(ratios), "ratio")
	if len(ours) > 0 && len(theirs) > 0 {
		b.ReportMetric(slices.Max(ours)/slices.Max(theirs), "best-ratio")
	}
}

// Median returns the median of xs (0 for none), for benchmarks that
// report the middle of several rounds.
func Median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	switch {
	case len(s) == 0:
		return 0
	case len(s)%2 == 1:
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
