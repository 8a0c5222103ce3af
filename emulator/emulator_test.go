package emulator

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// logBuf is a concurrency-safe log sink for tests.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startCluster(t *testing.T, opts ...Opt) (*Cluster, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	log := slog.New(slog.NewJSONHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Start(ctx, append([]Opt{Ephemeral(), WithLogger(log), WithTopic("t", 3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c, lb
}

func tlsConfig(c *Cluster) *tls.Config {
	return &tls.Config{RootCAs: c.CAPool(), MinVersion: tls.VersionTLS12}
}

// roundTrip produces n records to topic and consumes them back.
func roundTrip(t *testing.T, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumeTopics("t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableClientMetrics(), kgo.ProducerLinger(0),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	const n = 20
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "t", Key: []byte{byte(i)}, Value: []byte("v")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		got += fs.NumRecords()
	}
}

func TestRoundTripPlaintext(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	roundTrip(t, kgo.SeedBrokers(strings.Split(c.Bootstrap(Plaintext), ",")...))
}

func TestRoundTripTLS(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	roundTrip(t, kgo.SeedBrokers(strings.Split(c.Bootstrap(TLS), ",")...), kgo.DialTLSConfig(tlsConfig(c)))
}

func TestRoundTripSCRAM(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	u := c.SCRAMUsers()[0]
	roundTrip(t, kgo.SeedBrokers(strings.Split(c.Bootstrap(SCRAM), ",")...), kgo.DialTLSConfig(tlsConfig(c)),
		kgo.SASL(scram.Auth{User: u.Username, Pass: u.Password}.AsSha512Mechanism()))
}

func TestMetadataAdvertisesListenerAddresses(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	for _, kind := range []ListenerKind{Plaintext, TLS} {
		opts := []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(kind)[0])}
		if kind.tls() {
			opts = append(opts, kgo.DialTLSConfig(tlsConfig(c)))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		cancel()
		cl.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, b := range resp.Brokers {
			if b.NodeID < 0 || int(b.NodeID) >= len(c.BootstrapAddrs(kind)) {
				t.Fatalf("unexpected node %d", b.NodeID)
			}
			addr := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
			if want := c.Listener(b.NodeID, kind).Addr(); addr != want {
				t.Errorf("%s: node %d advertised %s, want %s", kind, b.NodeID, addr, want)
			}
			got = append(got, addr)
		}
		if len(got) != 3 {
			t.Errorf("%s: %d brokers, want 3", kind, len(got))
		}
	}
}

func TestRoundTripSCRAM256(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t, WithSCRAMUser(SCRAMUser{Username: "u256", Password: "secret-2", Mechanism: "SCRAM-SHA-256"}))
	roundTrip(t, kgo.SeedBrokers(c.BootstrapAddrs(SCRAM)...), kgo.DialTLSConfig(tlsConfig(c)),
		kgo.SASL(scram.Auth{User: "u256", Pass: "secret-2"}.AsSha256Mechanism()))
}
