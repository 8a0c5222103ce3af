package emulator

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/internal/testutil"
)

// BenchmarkProduce compares produce throughput through the emulator's IAM
// listener (TLS + OAUTHBEARER + per-request authorization) with a bare
// kfake cluster's own plaintext listener (the emulator's kfake has none),
// same client settings and records, in one run.
//
//	go test -run XXX -bench Produce -benchtime 200000x ./emulator/
func BenchmarkProduce(b *testing.B) {
	c, err := Start(context.Background(), Ephemeral(), WithTopic("bench", 3))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bare, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	p := provider(b, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	value := make([]byte, 100)
	for _, tc := range []struct {
		name string
		opts []kgo.Opt
	}{
		{"kfake-plaintext", []kgo.Opt{kgo.SeedBrokers(bare.ListenAddrs()...)}},
		{"emulator-iam", iamOpts(c, p.OAuth())},
		{"emulator-plaintext", []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...)}},
	} {
		b.Run(tc.name, func(b *testing.B) { testutil.BenchmarkProduce(b, "bench", value, tc.opts...) })
	}
}

// BenchmarkProduceBombRSS measures the resident memory of a process
// running the emulator before and after the compressed-batch attack: one
// record of 256 MiB of zeros, zstd-compressed to a few KB, produced to
// partition 0, then a ListOffsets by timestamp, which makes kfake
// decompress the partition's batches. It reports the process's VmRSS (MB)
// before and after, and its peak (VmHWM). Run it alone, once:
//
//	go test -run XXX -bench ProduceBombRSS -benchtime 1x ./emulator/
func BenchmarkProduceBombRSS(b *testing.B) {
	const zeros = 256 << 20
	c, err := Start(context.Background(), Ephemeral(), WithTopic("bomb", 1))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...), kgo.DisableClientMetrics())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	zw.Write(recordPrefix(zeros))
	chunk := make([]byte, 1<<20)
	for range zeros / len(chunk) {
		zw.Write(chunk)
	}
	zw.Write([]byte{0}) // no headers
	zw.Close()
	batch := sealBatch(codecZstd, buf.Bytes())

	runtime.GC()
	before := procStatusMB(b, "VmRSS")
	for range b.N {
		produce := kmsg.NewPtrProduceRequest()
		produce.Version, produce.Acks, produce.TimeoutMillis = 9, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "bomb"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batch
		rt.Partitions = append(rt.Partitions, rp)
		produce.Topics = append(produce.Topics, rt)
		leader := cl.Broker(int(c.Kfake().LeaderFor("bomb", 0)))
		resp, err := leader.Request(ctx, produce)
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("a %d-byte batch of %d MiB of zeros: %v", len(batch), zeros>>20,
			kerr.ErrorForCode(resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode))

		lo := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = "bomb"
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Timestamp = 0 // the first record at or after the epoch: kfake reads the batches
		lt.Partitions = append(lt.Partitions, lp)
		lo.Topics = append(lo.Topics, lt)
		if _, err := leader.Request(ctx, lo); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	b.ReportMetric(before, "MB-rss-before")
	b.ReportMetric(procStatusMB(b, "VmRSS"), "MB-rss-after")
	b.ReportMetric(procStatusMB(b, "VmHWM"), "MB-rss-peak")
}

// procStatusMB reads a kB field of /proc/self/status in MB.
func procStatusMB(b *testing.B, field string) float64 {
	b.Helper()
	s, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skip("needs /proc:", err)
	}
	for line := range strings.Lines(string(s)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
