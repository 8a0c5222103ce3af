package emulator

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdleTimeoutBlockedWriter: a client that keeps sending requests but
// never reads its answers is closed after the idle timeout, as Kafka's
// connections.max.idle.ms closes it (Kafka stops reading a connection
// whose answer it cannot send, so it goes idle); the close is logged at
// Info.
func TestIdleTimeoutBlockedWriter(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	c, lb := startCluster(t, WithLimits(Limits{IdleTimeout: Duration(idle)}))

	// About 900 KB to fetch, so that a few unread answers fill the
	// socket buffers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...), kgo.DefaultProduceTopic("t"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DisableClientMetrics())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: bytes.Repeat([]byte("x"), 900<<10)}).FirstErr()
	cancel()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}

	l := c.Listener(c.Kfake().LeaderFor("t", 0), Plaintext)
	r := dialRaw(t, c, Plaintext, c.Kfake().LeaderFor("t", 0))
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.MaxBytes = 11, 2<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "t"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 2<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	// Send a fetch every idle/3, never read: the connection is never idle
	// on the way in, only blocked on the way out.
	deadline := time.Now().Add(20 * time.Second)
	for l.Conns() > 0 && time.Now().Before(deadline) {
		r.c.SetWriteDeadline(time.Now().Add(idle / 3))
		r.send(fetch) // times out once the emulator stops reading
		time.Sleep(idle / 3)
	}
	if n := l.Conns(); n > 0 {
		t.Fatalf("a client that never reads is still connected %v after the idle timeout", 20*time.Second)
	}
	logs := lb.String()
	if !strings.Contains(logs, `"level":"INFO","msg":"connection closed: idle"`) {
		t.Errorf("the idle close is not logged at Info:\n%s", logs)
	}
}

// TestIdleTimeoutLoggedAtInfo: a connection closed for sending nothing is
// logged at Info, with the timeout.
func TestIdleTimeoutLoggedAtInfo(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t, WithLimits(Limits{IdleTimeout: Duration(100 * time.Millisecond)}))
	r := dialRaw(t, c, Plaintext, 0)
	if !r.closed() {
		t.Fatal("idle connection stays open")
	}
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(lb.String(), `"msg":"connection closed: idle"`); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the idle close is not logged:\n%s", lb.String())
		}
	}
	if logs := lb.String(); !strings.Contains(logs, `"level":"INFO","msg":"connection closed: idle"`) || !strings.Contains(logs, `"idle_timeout":"100ms"`) {
		t.Errorf("the idle close is not logged at Info with its timeout:\n%s", logs)
	}
}
