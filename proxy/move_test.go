package proxy

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
)

// TestBrokerMovesAndDown keeps a franz-go producer and consumer running
// through the proxy while partition leaders move (kfake's
// MoveTopicPartition), a broker goes down (its listeners stop and its
// connections are reset) with its partitions moved away, and comes back.
// Every record is acked and read back exactly once.
func TestBrokerMovesAndDown(t *testing.T) {
	const topic = "moving"
	c, _ := startCluster(t, emulator.WithTopic(topic, 3))
	p, _ := startProxy(t, iamConfig(c))
	kf := c.Kfake()

	prod := plainClient(t, p, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	cons := plainClient(t, p, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var produced atomic.Int64
	stop := make(chan struct{})
	prodDone := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				prodDone <- nil
				return
			default:
			}
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			err := prod.ProduceSync(rctx, &kgo.Record{Value: []byte(fmt.Sprintf("m%d", i))}).FirstErr()
			rcancel()
			if err != nil {
				prodDone <- fmt.Errorf("record m%d: %w", i, err)
				return
			}
			produced.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var consumed atomic.Int64
	go func() {
		for ctx.Err() == nil {
			consumed.Add(int64(len(cons.PollFetches(ctx).Records())))
		}
	}()
	// progress waits until both clients moved on by at least n records.
	progress := func(what string, n int64) {
		t.Helper()
		p0, c0 := produced.Load(), consumed.Load()
		deadline := time.Now().Add(45 * time.Second)
		for produced.Load() < p0+n || consumed.Load() < c0+n {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the clients stalled: produced %d (+%d), consumed %d (+%d)", what, produced.Load(), produced.Load()-p0, consumed.Load(), consumed.Load()-c0)
			}
			select {
			case err := <-prodDone:
				t.Fatalf("%s: produce failed: %v", what, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	move := func(part, to int32) {
		t.Helper()
		if err := kf.MoveTopicPartition(topic, part, to); err != nil {
			t.Fatal(err)
		}
	}

	progress("start", 30)
	for part := range int32(3) { // every leader to the next broker
		move(part, (kf.LeaderFor(topic, part)+1)%3)
	}
	progress("after leader moves", 30)

	c.Broker(1).Down()
	for part := range int32(3) {
		if kf.LeaderFor(topic, part) == 1 {
			move(part, 2)
		}
	}
	progress("broker 1 down", 30)

	if err := c.Broker(1).Up(); err != nil {
		t.Fatal(err)
	}
	move(0, 1)
	progress("broker 1 back, leading partition 0", 30)

	close(stop)
	if err := <-prodDone; err != nil {
		t.Fatal(err)
	}
	n := int(produced.Load())
	got := testutil.ConsumeN(t, []kgo.Opt{kgo.SeedBrokers(p.Addr()), kgo.ConsumeTopics(topic), kgo.DisableClientMetrics()}, n, 30*time.Second, 300*time.Millisecond)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for i := range n {
		if k := fmt.Sprintf("m%d", i); seen[k] != 1 {
			t.Errorf("record %s read %d times, want once", k, seen[k])
		}
	}
	if len(got) != n {
		t.Errorf("read %d records back, produced %d", len(got), n)
	}
	t.Logf("%d records through two leader moves and a broker restart; proxy %+v", n, p.Stats())
}
