package publish

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// indexed is a record whose value starts with its index.
func indexed(i int, size int) *kgo.Record {
	v := make([]byte, size)
	binary.BigEndian.PutUint64(v, uint64(i))
	return &kgo.Record{Value: v}
}

func indexOf(r *kgo.Record) int { return int(binary.BigEndian.Uint64(r.Value)) }

// outcomes collects a Stream's outcomes and checks they come once each, in
// order.
type outcomes struct {
	t   *testing.T
	mu  sync.Mutex
	got []Outcome
}

func (c *outcomes) add(i int, o Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i != len(c.got) {
		c.t.Errorf("outcome of record %d delivered after %d outcomes: out of order or twice", i, len(c.got))
	}
	c.got = append(c.got, o)
}

func (c *outcomes) all() []Outcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Outcome(nil), c.got...)
}

func setResponseLatency(c *emulator.Cluster, d time.Duration) {
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: d})
	}
}

// TestStreamBackPressure feeds a Stream faster than a slow broker answers
// (100 ms added to every response): the records and bytes held stay within
// the configured limits, both as the Stream counts them and as franz-go
// does (its own buffer), the limits are reached (Send blocked), and every
// record is acked exactly once, in order, at the partition and offset
// where it is read back.
func TestStreamBackPressure(t *testing.T) {
	const (
		n          = 3000
		size       = 100
		maxRecords = 400
		maxBytes   = 16 << 10 // 163 records of 100 bytes
	)
	c := startEmulator(t)
	p, err := New(context.Background(), iamConfig(c), WithMaxInFlightRecords(maxRecords), WithMaxInFlightBytes(maxBytes))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	setResponseLatency(c, 100*time.Millisecond)
	defer setResponseLatency(c, 0)

	col := &outcomes{t: t}
	s := p.Stream(ctx, col.add)
	var maxHeld, maxHeldBytes, maxUndelivered, maxFranzRecs, maxFranzBytes atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample what is held while feeding
		defer close(sampled)
		for {
			st := s.Stats()
			store := func(a *atomic.Int64, v int64) {
				if v > a.Load() {
					a.Store(v)
				}
			}
			store(&maxHeld, st.InFlight)
			store(&maxHeldBytes, st.InFlightBytes)
			store(&maxUndelivered, st.Undelivered)
			store(&maxFranzRecs, p.Client().BufferedProduceRecords())
			store(&maxFranzBytes, p.Client().BufferedProduceBytes())
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	for i := range n {
		s.Send(indexed(i, size))
	}
	s.Close()
	close(stop)
	<-sampled

	t.Logf("held at most %d records (limit %d) and %d bytes (limit %d); franz-go buffered at most %d records, %d bytes",
		maxHeld.Load(), maxRecords, maxHeldBytes.Load(), maxBytes, maxFranzRecs.Load(), maxFranzBytes.Load())
	if maxHeld.Load() > maxRecords || maxHeldBytes.Load() > maxBytes || maxUndelivered.Load() > 2*maxRecords {
		t.Errorf("the Stream held more than its limits (%d outcomes undelivered at most)", maxUndelivered.Load())
	}
	// franz-go releases a record just after its promise, in which the
	// Stream releases it: it may count one record more for a moment.
	if maxFranzRecs.Load() > maxRecords+1 || maxFranzBytes.Load() > maxBytes+size {
		t.Errorf("franz-go buffered more than the Stream's limits allow")
	}
	if maxHeldBytes.Load() < maxBytes-2*size {
		t.Errorf("the byte limit was never reached: the broker was not slow enough to test back-pressure")
	}
	st := s.Stats()
	if st.Sent != n || st.Acked != n || st.InFlight != 0 || st.InFlightBytes != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
	got := col.all()
	if len(got) != n {
		t.Fatalf("%d outcomes for %d records", len(got), n)
	}
	setResponseLatency(c, 0)
	byIndex := map[int]*kgo.Record{}
	for _, r := range consumeIAM(t, c, n) {
		i := indexOf(r)
		if byIndex[i] != nil {
			t.Fatalf("record %d written twice", i)
		}
		byIndex[i] = r
	}
	for i, o := range got {
		r := byIndex[i]
		if o.Status != Acked || r == nil || r.Partition != o.Partition || r.Offset != o.Offset {
			t.Fatalf("record %d: outcome %+v, read back %v", i, o, r)
		}
	}
	if len(byIndex) != n {
		t.Fatalf("read back %d records, want %d", len(byIndex), n)
	}
}

// TestStreamDeadlineWhileFeeding: the brokers answer 3 s late, the
// Stream's deadline is 2 s away and records keep coming past it. Send
// never blocks past the deadline, every record gets one outcome, in
// order: the records sent are Unconfirmed, those the Stream could not send
// any more are Failed (retriable). Failed must mean not written: once the
// latency is gone, the topic holds no record reported Failed, and every
// record it holds was reported Unconfirmed.
func TestStreamDeadlineWhileFeeding(t *testing.T) {
	c := startEmulator(t)
	logs := &testutil.SyncBuffer{}
	// A margin of 1 s: the Stream stops sending 1 s before the deadline
	// and stops waiting 500 ms before it, which leaves a loaded machine
	// 500 ms to return from Send.
	const margin = time.Second
	p := warmPublisher(t, iamConfig(c), WithMaxInFlightRecords(500), WithSafetyMargin(margin),
		WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	setResponseLatency(c, 3*time.Second)
	defer setResponseLatency(c, 0)

	const timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	col := &outcomes{t: t}
	s := p.Stream(ctx, col.add)
	start := time.Now()
	n := 0
	var slowest time.Duration
	for time.Since(start) < 3*timeout/2 { // feed past the deadline
		r := indexed(n, 100)
		if n%5 == 0 {
			Pin(r, int32(n%6)) // pinned records keep the deadline too
		}
		sent := time.Now()
		s.Send(r)
		if el := time.Since(sent); el > slowest {
			slowest = el
		}
		if time.Now().After(deadline) && sent.Before(deadline.Add(-margin/2)) {
			t.Fatalf("Send of record %d blocked past the deadline: started %v after the start, returned %v after (deadline %v)", n, sent.Sub(start), time.Since(start), deadline.Sub(start))
		}
		n++
		if n > 1000 {
			time.Sleep(time.Millisecond) // past the limit: a record now and then
		}
	}
	s.Close()
	got := col.all()
	if len(got) != n {
		t.Fatalf("%d outcomes for %d records", len(got), n)
	}
	failed := map[int]bool{}
	unconfirmed := map[int]bool{}
	for i, o := range got {
		if o.Topic != "events" {
			// Unconfirmed ones too: the Stream keeps the topic of each
			// record in flight for them.
			t.Errorf("record %d: %s with topic %q, want events", i, o.Status, o.Topic)
		}
		switch o.Status {
		case Failed:
			if !o.Retriable || o.Err == nil {
				t.Errorf("record %d failed, not retriable: %+v", i, o)
			}
			failed[i] = true
		case Unconfirmed:
			if !o.Retriable || o.Err == nil {
				t.Errorf("record %d unconfirmed: %+v", i, o)
			}
			unconfirmed[i] = true
		default:
			t.Fatalf("record %d: %+v despite 3 s latency and a 2 s deadline", i, o)
		}
	}
	t.Logf("%d records fed over %v: %d unconfirmed, %d failed; slowest Send %v",
		n, time.Since(start).Round(time.Millisecond), len(unconfirmed), len(failed), slowest.Round(time.Millisecond))
	if len(unconfirmed) == 0 || len(failed) == 0 {
		t.Fatalf("want both unconfirmed (sent) and failed (not sent) records")
	}

	// What was sent is written once the broker answers; what Failed is
	// not. Wait for the late answers (logged), then read everything.
	setResponseLatency(c, 0)
	opts, err := kafkaconn.ClientOpts(context.Background(), iamConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	written := testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics("events"), kgo.FetchMaxWait(200*time.Millisecond)), 1, 60*time.Second, 3*time.Second)
	seen := map[int]bool{}
	for _, r := range written {
		i := indexOf(r)
		switch {
		case seen[i]:
			t.Errorf("record %d written twice", i)
		case failed[i]:
			t.Errorf("record %d was reported Failed (not written) but is in the log", i)
		case !unconfirmed[i]:
			t.Errorf("record %d in the log was not sent by this test", i)
		}
		seen[i] = true
	}
	t.Logf("%d of the %d unconfirmed records are in the log", len(written), len(unconfirmed))
	for wait := time.Now().Add(10 * time.Second); time.Now().Before(wait); time.Sleep(50 * time.Millisecond) {
		if strings.Contains(logs.String(), "after it was reported unconfirmed") {
			break
		}
	}
	if !strings.Contains(logs.String(), "after it was reported unconfirmed") {
		t.Errorf("no late outcome was logged:\n%s", logs.String())
	}
}

// TestStreamLimitOfOne: with one record in flight at most (and so two
// outcomes undelivered), every Send must still be woken as each answer
// comes in: the smallest limits must not stall the Stream.
func TestStreamLimitOfOne(t *testing.T) {
	const n = 200
	c := newCluster(t)
	p := newPublisher(t, c, WithMaxInFlightRecords(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	col := &outcomes{t: t}
	s := p.Stream(ctx, col.add)
	var maxHeld int64
	for i := range n {
		s.Send(indexed(i, 10))
		maxHeld = max(maxHeld, s.Stats().InFlight)
	}
	s.Close()
	if ctx.Err() != nil {
		t.Fatalf("the Stream stalled: %+v", s.Stats())
	}
	if maxHeld > 1 {
		t.Errorf("%d records in flight, limit 1", maxHeld)
	}
	got := col.all()
	for i, o := range got {
		if o.Status != Acked {
			t.Fatalf("record %d: %+v", i, o)
		}
	}
	if len(got) != n {
		t.Fatalf("%d outcomes for %d records", len(got), n)
	}
	if read := consumeAll(t, c, "events", n); len(read) != n {
		t.Fatalf("read back %d records, want %d", len(read), n)
	}
}

// TestStreamGrowsAroundASlowRecord: with at most 4 records in flight the
// ring starts at 4 slots. The first record goes to a partition whose
// broker answers 5 s late, the next 7 to a prompt one: their outcomes wait
// for the first's (in order), the ring grows while the first is still in
// flight, and when time is up the first is Unconfirmed with its topic and
// the others Acked, each once, in order.
func TestStreamGrowsAroundASlowRecord(t *testing.T) {
	c := startEmulator(t)
	p := warmPublisher(t, iamConfig(c), WithMaxInFlightRecords(4), WithSafetyMargin(time.Second))
	// A slow partition and a prompt one: led by different brokers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(emulator.Plaintext)...))
	if err != nil {
		t.Fatal(err)
	}
	mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer mcancel()
	md, err := kadm.NewClient(cl).Metadata(mctx, "events")
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	slow, prompt, leader := int32(-1), int32(-1), int32(-1)
	for _, pd := range md.Topics["events"].Partitions.Sorted() {
		switch {
		case slow < 0:
			slow, leader = pd.Partition, pd.Leader
		case prompt < 0 && pd.Leader != leader:
			prompt = pd.Partition
		}
	}
	if prompt < 0 {
		t.Fatalf("every partition of events is led by broker %d", leader)
	}
	c.Listener(leader, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 5 * time.Second})
	defer c.Listener(leader, emulator.IAM).SetFaults(emulator.Faults{})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	col := &outcomes{t: t}
	s := p.Stream(ctx, col.add)
	if len(s.ring) != 4 {
		t.Fatalf("ring of %d slots, want 4 to start", len(s.ring))
	}
	const n = 8
	for i := range n {
		r := indexed(i, 10)
		Pin(r, prompt)
		if i == 0 {
			Pin(r, slow)
		}
		s.Send(r)
	}
	grown := len(s.ring)
	s.Close()
	if grown <= 4 {
		t.Errorf("ring of %d slots with %d records sent, the first in flight: want it grown", grown, n)
	}
	got := col.all()
	if len(got) != n {
		t.Fatalf("%d outcomes for %d records", len(got), n)
	}
	for i, o := range got {
		want := Acked
		if i == 0 {
			want = Unconfirmed
		}
		if o.Status != want || o.Topic != "events" {
			t.Errorf("record %d: %s to %q (%v), want %s to events", i, o.Status, o.Topic, o.Err, want)
		}
	}
}

// TestStreamStopCause: a Stream whose context is canceled with a cause
// names it in the outcomes of the records it stopped: one franz-go held
// (its topic has no metadata yet, so it was never sent) and one sent after
// the stop.
func TestStreamStopCause(t *testing.T) {
	c := newCluster(t)
	p := newPublisher(t, c)
	ctx, cancel := context.WithCancelCause(context.Background())
	col := &outcomes{t: t}
	s := p.Stream(ctx, col.add)
	s.Send(&kgo.Record{Topic: "no-such-topic", Value: []byte("held")})
	cancel(errors.New("the operator stopped it"))
	s.Send(&kgo.Record{Value: []byte("late")})
	s.Close()
	got := col.all()
	if len(got) != 2 {
		t.Fatalf("%d outcomes, want 2", len(got))
	}
	for i, want := range []string{"publishing was stopped before it was sent (the operator stopped it): context canceled", "not sent: publishing was stopped (the operator stopped it)"} {
		if o := got[i]; o.Status != Failed || !o.Retriable || o.Err == nil || !strings.Contains(o.Err.Error(), want) {
			t.Errorf("record %d: %+v, want Failed, retriable, %q", i, o, want)
		}
	}
	// Canceled without a cause, the outcome says only that it stopped.
	ctx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	col = &outcomes{t: t}
	s = p.Stream(ctx, col.add)
	s.Send(&kgo.Record{Value: []byte("late")})
	s.Close()
	if got := col.all(); len(got) != 1 || got[0].Err == nil || strings.Contains(got[0].Err.Error(), "(") {
		t.Errorf("without a cause: %+v", got)
	}
}
