package proxy

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
)

// member is one consumer group member: its current assignment (from the
// rebalance callbacks) and the records it consumed.
type member struct {
	name string
	cl   *kgo.Client
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	assigned map[int32]bool
}

func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ps []int32
	for p := range m.assigned {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// TestConsumerGroup runs a consumer group of three franz-go members through
// the proxy (FindCoordinator and the group protocol through rewritten
// addresses): the partitions are split among the three with no overlap,
// then between two after one leaves, and every record is consumed exactly
// once across the rebalances (each member commits what it polled before it
// allows a rebalance).
func TestConsumerGroup(t *testing.T) {
	const topic, partitions = "grouped", 6
	c, _ := startCluster(t, emulator.WithTopic(topic, partitions))
	p, _ := startProxy(t, iamConfig(c))

	var (
		mu   sync.Mutex
		seen = map[string][]string{} // value -> members that consumed it
	)
	join := func(name string) *member {
		m := &member{name: name, assigned: map[int32]bool{}, done: make(chan struct{})}
		update := func(ps map[string][]int32, on bool) {
			m.mu.Lock()
			defer m.mu.Unlock()
			for _, p := range ps[topic] {
				if on {
					m.assigned[p] = true
				} else {
					delete(m.assigned, p)
				}
			}
		}
		m.cl = plainClient(t, p, kgo.ConsumerGroup("g"), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID(name),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) { update(ps, false) }))
		ctx, cancel := context.WithCancel(context.Background())
		m.stop = cancel
		go func() {
			defer close(m.done)
			for ctx.Err() == nil {
				fs := m.cl.PollRecords(ctx, 100)
				recs := fs.Records()
				mu.Lock()
				for _, r := range recs {
					seen[string(r.Value)] = append(seen[string(r.Value)], name)
				}
				mu.Unlock()
				if len(recs) > 0 {
					if err := m.cl.CommitRecords(context.Background(), recs...); err != nil {
						t.Errorf("%s: commit: %v", name, err)
					}
				}
				m.cl.AllowRebalance()
			}
		}()
		return m
	}
	leave := func(m *member) {
		m.stop()
		<-m.done
		m.cl.Close() // LeaveGroup
	}
	// waitSplit waits until the members' assignments cover every partition
	// once and each member has some.
	waitSplit := func(ms ...*member) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			owner := map[int32]string{}
			ok := true
			var desc []string
			for _, m := range ms {
				ps := m.partitions()
				desc = append(desc, fmt.Sprintf("%s=%v", m.name, ps))
				if len(ps) == 0 {
					ok = false
				}
				for _, p := range ps {
					if owner[p] != "" {
						ok = false
					}
					owner[p] = m.name
				}
			}
			if ok && len(owner) == partitions {
				t.Logf("assignment: %v", desc)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the group did not settle: %v", desc)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	prod := plainClient(t, p, kgo.DefaultProduceTopic(topic))
	produce := func(from, to int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var rs []*kgo.Record
		for i := from; i < to; i++ {
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("g%d", i))})
		}
		if err := prod.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitConsumed := func(n int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			mu.Lock()
			got := len(seen)
			mu.Unlock()
			if got >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("consumed %d of %d records", got, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	a, b, cm := join("a"), join("b"), join("c")
	waitSplit(a, b, cm)
	produce(0, 300)
	waitConsumed(300)
	leave(cm)
	waitSplit(a, b)
	produce(300, 600)
	waitConsumed(600)
	time.Sleep(300 * time.Millisecond) // duplicates, if any, arrive now
	leave(a)
	leave(b)

	mu.Lock()
	defer mu.Unlock()
	for i := range 600 {
		if who := seen[fmt.Sprintf("g%d", i)]; len(who) != 1 {
			t.Errorf("record g%d consumed by %v, want exactly one member", i, who)
		}
	}
	if len(seen) != 600 {
		t.Errorf("consumed %d distinct records, want 600", len(seen))
	}
}
