package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
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

// TestReauthDrainBounded: a re-authentication waits for the requests in
// flight, but not forever: a broker that never answers (the emulator's
// blackhole) must not hold the client connection, its goroutines and its
// connection slot after the idle timeout, though nobody reads the client
// while the proxy waits.
func TestReauthDrainBounded(t *testing.T) {
	const lifetime, idle = 2 * time.Second, 3 * time.Second
	c, _ := startCluster(t, emulator.WithSessionMaxLifetime(lifetime))
	p, logs := startProxy(t, iamConfig(c), WithIdleTimeout(idle))
	nc, err := net.Dial("tcp", p.Brokers()[1].Local) // broker 0
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	f := kmsg.NewRequestFormatter()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Write(f.AppendRequest(nil, apiVersions(3), 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
		t.Fatalf("ApiVersions: %v", err)
	}
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
