package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
)

// proxyProcessEnv carries the upstream settings (JSON) to
// TestProxyProcess, which serves a proxy in a process of its own.
const proxyProcessEnv = "MSKLINK_TEST_PROXY_PROCESS"

type proxyProcessConfig struct {
	Brokers []string `json:"brokers"`
	CAFile  string   `json:"ca_file"`
	Region  string   `json:"region"`
}

// TestProxyProcess is not a test: BenchmarkConsumeCPU runs the test binary
// again with only this function and proxyProcessEnv set, so that the
// proxy's CPU time and page faults are its own, apart from the emulator's
// and the client's. It prints the bootstrap address and serves until its
// stdin closes.
func TestProxyProcess(t *testing.T) {
	env := os.Getenv(proxyProcessEnv)
	if env == "" {
		t.Skip("a helper process of BenchmarkConsumeCPU")
	}
	var pc proxyProcessConfig
	if err := json.Unmarshal([]byte(env), &pc); err != nil {
		t.Fatal(err)
	}
	cfg := kafkaconn.Config{Brokers: pc.Brokers, TLSCAFile: pc.CAFile, Region: pc.Region,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg, WithListen("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	fmt.Printf("bootstrap %s\n", p.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// procStat is a process's CPU time and minor page faults so far, from
// /proc/PID/stat (utime, stime in clock ticks of 10 ms; minflt).
type procStat struct {
	cpu    time.Duration
	minflt int64
}

func readProcStat(b *testing.B, pid int) procStat {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name (in parentheses), from field 3.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	num := func(i int) int64 { // i: the field's number in proc(5)
		n, err := strconv.ParseInt(f[i-3], 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return procStat{cpu: time.Duration(num(14)+num(15)) * 10 * time.Millisecond, minflt: num(10)}
}

// BenchmarkConsumeCPU measures the proxy's own CPU time and page faults
// (a proxy in a process of its own, see TestProxyProcess) while a
// franz-go consumer reads a 30 MB topic (10 KiB records, uncompressed)
// from the start through it, once per op, after a warm-up read: with
// franz-go's default fetch sizes (1 MiB per partition; 6 partitions over 3
// brokers, so Fetch answers of 1.5 to 3 MiB) and with answers bounded at
// 256 KiB. Reported per 300 MB consumed (CPU in clock ticks of 10 ms):
//
//	go test -run '^$' -bench ConsumeCPU -benchtime 10x -count 3 ./proxy/
func BenchmarkConsumeCPU(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skip("needs /proc")
	}
	const (
		topic      = "cpu"
		partitions = 6 // two per broker
		recordSize = 10 << 10
		topicBytes = 30 << 20
	)
	c, _ := startCluster(b, emulator.WithTopic(topic, partitions))
	prov, err := kafkaconn.TokenProvider(context.Background(), iamConfig(c))
	if err != nil {
		b.Fatal(err)
	}
	direct := []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(emulator.IAM)...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: c.CAPool(), MinVersion: tls.VersionTLS12}), kgo.SASL(prov.OAuth())}
	ctx := context.Background()
	prod, err := kgo.NewClient(append(direct, kgo.DefaultProduceTopic(topic), kgo.DisableClientMetrics(),
		kgo.ProducerBatchMaxBytes(64<<10), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()))...)
	if err != nil {
		b.Fatal(err)
	}
	value := make([]byte, recordSize)
	rand.Read(value) // incompressible, as the batches are not compressed
	for range topicBytes / recordSize {
		prod.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Error(err)
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	prod.Close()

	pc, _ := json.Marshal(proxyProcessConfig{Brokers: c.BootstrapAddrs(emulator.IAM), CAFile: c.CAFile(), Region: c.Region()})
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyProcess$")
	cmd.Env = append(os.Environ(), proxyProcessEnv+"="+string(pc))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	var bootstrap string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "bootstrap "); ok {
			bootstrap = s
			break
		}
	}
	if bootstrap == "" {
		b.Fatal("the proxy process printed no bootstrap address")
	}
	go io.Copy(io.Discard, stdout)

	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"fetch=default", nil},
		{"fetch=256KiB", []kgo.Opt{kgo.FetchMaxBytes(256 << 10), kgo.FetchMaxPartitionBytes(256 << 10)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			hook := new(fetchSizes)
			consume := func() {
				cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic), kgo.DisableClientMetrics(),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(hook)}, tc.opts...)...)
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				for n := 0; n < topicBytes/recordSize; {
					fs := cl.PollFetches(ctx)
					if err := fs.Err(); err != nil {
						b.Fatal(err)
					}
					n += fs.NumRecords()
				}
			}
			consume() // a warm-up: the proxy's heap grows to its working size
			hook.n.Store(0)
			hook.bytes.Store(0)
			b.ResetTimer()
			before := readProcStat(b, cmd.Process.Pid)
			for range b.N {
				consume()
			}
			after := readProcStat(b, cmd.Process.Pid)
			per300MB := 300.0 / (float64(b.N) * topicBytes / (1 << 20))
			b.ReportMetric(float64((after.cpu-before.cpu).Milliseconds())*per300MB, "proxy-cpu-ms/300MB")
			b.ReportMetric(float64(after.minflt-before.minflt)*per300MB, "proxy-minflt/300MB")
			if n := hook.n.Load(); n > 0 {
				b.ReportMetric(float64(hook.bytes.Load())/float64(n)/1024, "KiB/fetch")
			}
		})
	}
}

// fetchSizes counts the Fetch answers a client reads and their bytes.
type fetchSizes struct{ n, bytes atomic.Int64 }

func (h *fetchSizes) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		h.n.Add(1)
		h.bytes.Add(int64(n))
	}
}
