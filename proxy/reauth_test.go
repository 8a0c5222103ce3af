package proxy

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// connErrors counts the connection-level errors a franz-go client sees:
// failed connects, reads and writes, until stop.
type connErrors struct {
	stopped atomic.Bool
	mu      sync.Mutex
	errs    []string
}

func (h *connErrors) add(what string, err error) {
	if err == nil || h.stopped.Load() {
		return
	}
	h.mu.Lock()
	h.errs = append(h.errs, fmt.Sprintf("%s: %v", what, err))
	h.mu.Unlock()
}

func (h *connErrors) OnBrokerConnect(m kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	h.add(fmt.Sprintf("connect to %d", m.NodeID), err)
}

func (h *connErrors) OnBrokerWrite(m kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.add(fmt.Sprintf("write key %d to %d", key, m.NodeID), err)
}

func (h *connErrors) OnBrokerRead(m kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.add(fmt.Sprintf("read key %d from %d", key, m.NodeID), err)
}

func (h *connErrors) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.errs...)
}

// TestSessionLifetime streams records through the proxy for several of the
// emulator's 3-second session lifetimes, with a consumer reading at the
// same time (its fetch long polls are in flight when a re-authentication
// is due), for both IAM mechanisms. The clients see no connection error,
// every record is acked and read back exactly once, the emulator logs the
// proxy's re-authentications, and no connection outlives its session.
func TestSessionLifetime(t *testing.T) {
	for _, mech := range []string{kafkaconn.MechanismOAuthBearer, kafkaconn.MechanismAWSMSKIAM} {
		t.Run(mech, func(t *testing.T) {
			t.Parallel()
			const lifetime = 3 * time.Second
			c, clusterLog := startCluster(t, emulator.WithSessionMaxLifetime(lifetime), emulator.WithTopic("stream", 3))
			cfg := iamConfig(c)
			cfg.IAMMechanism = mech
			p, _ := startProxy(t, cfg)

			var hooks connErrors
			prod := plainClient(t, p, kgo.DefaultProduceTopic("stream"), kgo.WithHooks(&hooks))
			cons := plainClient(t, p, kgo.ConsumeTopics("stream"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.WithHooks(&hooks))

			const n = 400 // one every 25 ms: 10 s, three lifetimes and more
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			seen := map[string]int{}
			consumed := make(chan struct{})
			go func() {
				defer close(consumed)
				for len(seen) < n && ctx.Err() == nil {
					fs := cons.PollFetches(ctx)
					fs.EachError(func(topic string, part int32, err error) {
						if ctx.Err() == nil {
							hooks.add(fmt.Sprintf("fetch %s/%d", topic, part), err)
						}
					})
					for _, r := range fs.Records() {
						seen[string(r.Value)]++
					}
				}
			}()
			start := time.Now()
			for i := range n {
				if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("r%d", i))}).FirstErr(); err != nil {
					t.Fatalf("record %d not acked after %s: %v", i, time.Since(start), err)
				}
				time.Sleep(25 * time.Millisecond)
			}
			<-consumed
			// Read for a moment more: duplicates would show up now.
			lctx, lcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			for _, r := range cons.PollFetches(lctx).Records() {
				seen[string(r.Value)]++
			}
			lcancel()
			hooks.stopped.Store(true)
			elapsed := time.Since(start)

			for i := range n {
				if k := fmt.Sprintf("r%d", i); seen[k] != 1 {
					t.Errorf("record %s read %d times, want once", k, seen[k])
				}
			}
			if errs := hooks.list(); len(errs) > 0 {
				t.Errorf("the clients saw %d connection errors:\n%s", len(errs), strings.Join(errs, "\n"))
			}
			logs := clusterLog.String()
			reauths := strings.Count(logs, "reason=re-authenticated")
			if min := int(elapsed/lifetime) - 1; reauths < min {
				t.Errorf("the emulator logged %d re-authentications in %s of %s sessions, want at least %d", reauths, elapsed.Round(time.Second), lifetime, min)
			}
			if strings.Contains(logs, "session expired: closing connection") {
				t.Errorf("a session expired before the proxy re-authenticated:\n%s", logs)
			}
			if s := p.Stats(); s.Reauthentications < int64(reauths) || s.UpstreamFailures != 0 {
				t.Errorf("proxy stats %+v: want %d re-authentications and no upstream failure", s, reauths)
			}
			t.Logf("%d records in %s, %d re-authentications", n, elapsed.Round(time.Millisecond), reauths)
		})
	}
}

func TestReauthAfter(t *testing.T) {
	for _, tc := range []struct{ life, want time.Duration }{
		{15 * time.Minute, 765 * time.Second}, // 85%
		{time.Hour, 51 * time.Minute},
		{3 * time.Second, 2 * time.Second}, // a second to spare
		{1500 * time.Millisecond, time.Second},
		{200 * time.Millisecond, time.Second}, // Kafka: at most one per second
	} {
		if got := reauthAfter(tc.life); got != tc.want {
			t.Errorf("reauthAfter(%s) = %s, want %s", tc.life, got, tc.want)
		}
	}
}

// dialBroker0 connects a raw client to the proxy's listener for broker 0,
// with a deadline of d for every read and write, and sends ApiVersions: once
// it is answered the proxy holds an authenticated upstream connection for
// it. The connection is closed when the test ends.
func dialBroker0(t *testing.T, p *Proxy, d time.Duration) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", p.Brokers()[1].Local)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(d))
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, apiVersions(3), 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
	return nc
}

// TestReauthDrainBounded: a re-authentication waits for the requests in
// flight, but not forever: a broker that never answers (the emulator's
// blackhole) must not hold the client connection, its goroutines and its
// connection slot after the idle timeout, though nobody reads the client
// while the proxy waits.
func TestReauthDrainBounded(t *testing.T) {
	const lifetime, idle = 5 * time.Second, 3 * time.Second // re-authentication at 4 s: time to set up
	c, _ := startCluster(t, emulator.WithSessionMaxLifetime(lifetime))
	p, logs := startProxy(t, iamConfig(c), WithIdleTimeout(idle))
	nc := dialBroker0(t, p, 30*time.Second)
	f := kmsg.NewRequestFormatter()
	c.Listener(0, emulator.IAM).SetFaults(emulator.Faults{Blackhole: true})
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(1)
	if _, err := nc.Write(f.AppendRequest(nil, md, 2)); err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(lifetime + idle + 30*time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the client read %v, want EOF: a re-authentication waits forever for an answer", err)
	}
	waitLog(t, logs, "1 requests to 127.0.0.1:", "unanswered for 3s (the idle timeout) while a re-authentication waited for them")
	deadline := time.Now().Add(15 * time.Second)
	for p.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the connection was not released", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recordBatch is a one-record v2 batch holding value, as a producer
// without idempotence sends it.
func recordBatch(value []byte) []byte {
	rec := kmsg.Record{Value: value}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // everything after the one-byte varint 0
	records := rec.AppendTo(nil)
	b := kmsg.NewRecordBatch()
	b.Magic, b.NumRecords, b.Records = 2, 1, records
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.FirstTimestamp = time.Now().UnixMilli()
	b.MaxTimestamp = b.FirstTimestamp
	b.Length = int32(49 + len(records)) // the header after Length, then the records
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli)))
	return out
}

// produceRequest produces value to topic's partition 0 with acks.
func produceRequest(topic string, acks int16, value []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = recordBatch(value)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// TestReauthPipelined: a client that pipelines requests without pause
// (Metadata, which the proxy rewrites; acks=0 produce, which has no
// answer; acks=1 produce; ApiVersions) through several 2-second sessions,
// with answers slowed so that requests are always in flight when a
// re-authentication is due, gets every answer in request order with its
// correlation ID, every produce lands once, the sessions are renewed and
// none expires.
func TestReauthPipelined(t *testing.T) {
	const lifetime = 2 * time.Second
	c, clusterLog := startCluster(t, emulator.WithSessionMaxLifetime(lifetime))
	p, _ := startProxy(t, iamConfig(c))
	leader := c.Kfake().LeaderFor("orders", 0)
	c.Listener(leader, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 5 * time.Millisecond})
	nc, err := net.Dial("tcp", p.Brokers()[1+leader].Local)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(90 * time.Second))

	type want struct {
		corr int32
		key  int16
	}
	const bursts = 250 // about 5 s: two re-authentications and more
	wants := make(chan want, 4*bursts)
	writeErr := make(chan error, 1)
	go func() {
		f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("pipeliner"))
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(9)
		corr := int32(100)
		for i := range bursts {
			var frames []byte
			for _, req := range []kmsg.Request{md, produceRequest("orders", 0, fmt.Appendf(nil, "a0-%d", i)),
				produceRequest("orders", 1, fmt.Appendf(nil, "a1-%d", i)), apiVersions(3)} {
				corr++
				frames = append(frames, f.AppendRequest(nil, req, corr)...) // AppendRequest sizes from dst[0]
				if pr, ok := req.(*kmsg.ProduceRequest); !ok || pr.Acks != 0 {
					wants <- want{corr, req.Key()}
				}
			}
			if _, err := nc.Write(frames); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(wants)
		writeErr <- nil
	}()
	n := 0
	for w := range wants {
		body, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame)
		if err != nil {
			t.Fatalf("answer %d (%s, correlation ID %d): %v", n, kmsg.NameForKey(w.key), w.corr, err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != w.corr {
			t.Fatalf("answer %d has correlation ID %d, want %d (%s)", n, corr, w.corr, kmsg.NameForKey(w.key))
		}
		if w.key == 0 {
			r, err := kafkawire.DecodeResponse(kafkawire.Header{Key: 0, Version: 9, Flexible: true}, body)
			if err != nil {
				t.Fatal(err)
			}
			if code := r.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; code != 0 {
				t.Fatalf("produce answer %d: %v", n, kerr.ErrorForCode(code))
			}
		}
		n++
	}
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}

	got := testutil.ConsumeN(t, []kgo.Opt{kgo.SeedBrokers(p.Addr()), kgo.ConsumeTopics("orders"), kgo.DisableClientMetrics()}, 2*bursts, 30*time.Second, 300*time.Millisecond)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Value)]++
	}
	for i := range bursts {
		for _, k := range []string{fmt.Sprintf("a0-%d", i), fmt.Sprintf("a1-%d", i)} {
			if seen[k] != 1 {
				t.Errorf("record %s stored %d times, want once", k, seen[k])
			}
		}
	}
	if s := p.Stats(); s.Reauthentications < 2 || s.UpstreamFailures != 0 {
		t.Errorf("proxy stats %+v: want at least 2 re-authentications, no upstream failure", s)
	}
	if strings.Contains(clusterLog.String(), "session expired") {
		t.Errorf("a session expired:\n%s", clusterLog.String())
	}
}

// TestReauthRefused: when MSK refuses a re-authentication (here the
// emulator's clock jumps an hour, so the proxy's token has expired), the
// client's connection is closed at once, without a stray answer, and the
// proxy logs the refusal with its cause and MSK's message, not the close
// that follows it (which raced it, and won, as "connection_reset").
func TestReauthRefused(t *testing.T) {
	var skew atomic.Int64
	c, _ := startCluster(t, emulator.WithSessionMaxLifetime(3*time.Second),
		emulator.WithClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }))
	p, logs := startProxy(t, iamConfig(c))
	nc := dialBroker0(t, p, 30*time.Second)
	skew.Store(int64(time.Hour))
	if n, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after a refused re-authentication the client read %d bytes, %v; want EOF", n, err)
	}
	waitLog(t, logs, "stage=re-authenticate cause=auth_denied", "Access denied", `reason="upstream 127.0.0.1:`, `re-authentication failed (cause auth_denied)"`)
	if s := p.Stats(); s.UpstreamFailures != 1 {
		t.Errorf("stats %+v: want one upstream failure", s)
	}
}

// TestIdleAcrossReauth: the proxy's own re-authentications are not
// client activity: a client that sends nothing is closed after the idle
// timeout even when sessions are renewed more often than that.
func TestIdleAcrossReauth(t *testing.T) {
	c, _ := startCluster(t, emulator.WithSessionMaxLifetime(2*time.Second)) // renewed every second
	p, logs := startProxy(t, iamConfig(c), WithIdleTimeout(4*time.Second))
	nc := dialBroker0(t, p, 60*time.Second)
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("an idle client read %v, want EOF after the idle timeout", err)
	}
	waitLog(t, logs, `reason="idle for 4s"`)
	if s := p.Stats(); s.Reauthentications < 2 {
		t.Errorf("stats %+v: want the session renewed while the client idled", s)
	}
}
