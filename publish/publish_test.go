package publish

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newCluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(3), kfake.SeedTopics(3, "events")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newPublisher(t *testing.T, c *kfake.Cluster, opts ...Opt) *Publisher {
	t.Helper()
	p, err := New(context.Background(), kafkaconn.Config{Brokers: c.ListenAddrs(), Auth: kafkaconn.AuthPlaintext, Topic: "events"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func consumeAll(t *testing.T, c *kfake.Cluster, topic string, n int) []*kgo.Record {
	t.Helper()
	return testutil.ConsumeN(t, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic)}, n, 10*time.Second, 0)
}

// publisherToSilentBroker returns a warmed Publisher whose broker takes
// produce requests and never answers them (until the test ends).
func publisherToSilentBroker(t *testing.T) *Publisher {
	t.Helper()
	c := newCluster(t)
	p := newPublisher(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		c.SleepControl(func() { <-release })
		return nil, nil, false
	})
	return p
}

func TestPublishAcked(t *testing.T) {
	c := newCluster(t)
	p := newPublisher(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 300
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprint(i))}
	}
	recs[5] = Pin(&kgo.Record{Value: []byte("pinned")}, 2)
	out := p.Publish(ctx, recs)
	seen := map[string]bool{}
	for i, o := range out {
		if o.Status != Acked || o.Topic != "events" || o.Err != nil {
			t.Fatalf("record %d: %+v", i, o)
		}
		k := fmt.Sprintf("%d/%d", o.Partition, o.Offset)
		if seen[k] {
			t.Fatalf("two records at %s", k)
		}
		seen[k] = true
	}
	if out[5].Partition != 2 {
		t.Errorf("pinned record went to partition %d", out[5].Partition)
	}
	got := consumeAll(t, c, "events", n)
	byValue := map[string]*kgo.Record{}
	for _, r := range got {
		byValue[string(r.Value)] = r
	}
	for i, o := range out {
		r := byValue[string(recs[i].Value)]
		if r == nil || r.Partition != o.Partition || r.Offset != o.Offset {
			t.Fatalf("record %d: outcome %+v, consumed %v", i, o, r)
		}
	}
}

func TestPublishBadRecords(t *testing.T) {
	c := newCluster(t)
	p, err := New(context.Background(), kafkaconn.Config{Brokers: c.ListenAddrs(), Auth: kafkaconn.AuthPlaintext})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out := p.Publish(ctx, []*kgo.Record{
		{Value: []byte("no topic")},
		Pin(&kgo.Record{Topic: "events", Value: []byte("no such partition")}, 9),
		{Topic: "events", Value: []byte("fine")},
	})
	if out[0].Status != Failed || out[0].Retriable || !strings.Contains(out[0].Err.Error(), "no topic") {
		t.Errorf("no topic: %+v", out[0])
	}
	if out[1].Status != Failed || out[1].Retriable {
		t.Errorf("bad partition: %+v", out[1])
	}
	if out[2].Status != Acked {
		t.Errorf("good record: %+v", out[2])
	}
}

// TestPublishDeadline: the broker takes every produce request but answers
// none. Publish still returns before the deadline, and reports the records
// it sent as unconfirmed: never acked, never silently dropped.
func TestPublishDeadline(t *testing.T) {
	p := publisherToSilentBroker(t)
	const timeout = 1500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	out := p.Publish(ctx, []*kgo.Record{{Value: []byte("a")}, {Value: []byte("b")}})
	if took := time.Since(start); took >= timeout {
		t.Fatalf("Publish took %s, past the %s deadline", took, timeout)
	}
	for i, o := range out {
		if o.Status != Unconfirmed || !o.Retriable || o.Err == nil {
			t.Errorf("record %d: %+v, want unconfirmed", i, o)
		}
	}
}

func TestWarmUnknownTopic(t *testing.T) {
	c := newCluster(t)
	p := newPublisher(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := p.Warm(ctx, "nope")
	if err == nil || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "UNKNOWN_TOPIC") {
		t.Errorf("Warm(nope) = %v", err)
	}
}

// TestPublishNoTopicAmongAcks mixes records without a topic (failed before
// they are produced) with records whose acks arrive while Publish is still
// producing: the count of records left must not be raced (go test -race)
// and every record gets its own outcome.
func TestPublishNoTopicAmongAcks(t *testing.T) {
	c := newCluster(t)
	p, err := New(context.Background(), kafkaconn.Config{Brokers: c.ListenAddrs(), Auth: kafkaconn.AuthPlaintext})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Warm(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 5; round++ {
		recs := make([]*kgo.Record, 3000)
		for i := range recs {
			recs[i] = &kgo.Record{Topic: "events", Value: []byte(fmt.Sprint(i))}
			if i%100 == 99 {
				recs[i].Topic = ""
			}
		}
		out := p.Publish(ctx, recs)
		for i, o := range out {
			want := Acked
			if i%100 == 99 {
				want = Failed
			}
			if o.Status != want {
				t.Fatalf("round %d record %d: %+v, want %v", round, i, o, want)
			}
		}
	}
}

// TestPublishNoTimeLeft checks that records given to Publish with no time
// left (a context already done, or a deadline inside the safety margin)
// are reported Failed, retriable: they are never sent, so they cannot be
// written, and calling them unconfirmed would ask the caller to reconcile
// records that do not exist.
func TestPublishNoTimeLeft(t *testing.T) {
	c := newCluster(t)
	p := newPublisher(t, c)
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := p.Warm(wctx); err != nil {
		t.Fatal(err)
	}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	inMargin, cancel2 := context.WithTimeout(context.Background(), DefaultSafetyMargin/2)
	defer cancel2()
	for name, ctx := range map[string]context.Context{"canceled": done, "inside the margin": inMargin} {
		start := time.Now()
		out := p.Publish(ctx, []*kgo.Record{{Value: []byte("a")}, {Value: []byte("b")}})
		if took := time.Since(start); took > 50*time.Millisecond {
			t.Errorf("%s: Publish took %s with no time left", name, took)
		}
		for i, o := range out {
			if o.Status != Failed || !o.Retriable || o.Err == nil {
				t.Errorf("%s: record %d: %+v, want failed, retriable", name, i, o)
			}
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	offs, err := kadm.NewClient(cl).ListEndOffsets(wctx, "events")
	if err != nil {
		t.Fatal(err)
	}
	offs.Each(func(o kadm.ListedOffset) {
		if o.Offset != 0 {
			t.Errorf("partition %d has %d records: a record with no time left was written", o.Partition, o.Offset)
		}
	})
}

// TestPublishClientClosed: closing the client mid-publish fails records
// franz-go may already have sent; they are reported unconfirmed, never
// failed as if certainly not written.
func TestPublishClientClosed(t *testing.T) {
	p := publisherToSilentBroker(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		p.Close()
	}()
	out := p.Publish(context.Background(), []*kgo.Record{{Value: []byte("in flight")}})
	if out[0].Status != Unconfirmed || !out[0].Retriable || !strings.Contains(out[0].Err.Error(), "closed") {
		t.Errorf("record in flight at Close: %+v, want unconfirmed", out[0])
	}
}

// TestPublishNamesConnectionFailure: a record not written before its
// deadline because no broker could be reached says what the connection met
// (here: nothing listens on the port), and so does LastConnectError.
func TestPublishNamesConnectionFailure(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t))) // nothing listens: connection refused
	p, err := New(context.Background(), kafkaconn.Config{Brokers: []string{addr}, Auth: kafkaconn.AuthPlaintext, Topic: "events"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	o := p.Publish(ctx, []*kgo.Record{{Value: []byte("x")}})[0]
	want := "(the last connection failed: broker " + addr + ": "
	if o.Status != Failed || !o.Retriable || o.Err == nil || !strings.Contains(o.Err.Error(), "not written before the deadline "+want) || !strings.Contains(o.Err.Error(), "connection refused") {
		t.Errorf("outcome %+v, want Failed, retriable, naming the refused connection", o)
	}
	if err := p.LastConnectError(); err == nil || !strings.Contains(err.Error(), addr) {
		t.Errorf("LastConnectError = %v", err)
	}
}
