package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// startCluster starts an emulated MSK cluster on ephemeral loopback ports,
// logging to the returned buffer.
func startCluster(t testing.TB, opts ...emulator.Opt) (*emulator.Cluster, *testutil.SyncBuffer) {
	t.Helper()
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{emulator.Ephemeral(), emulator.WithTopic("orders", 3),
		emulator.WithLogger(slog.New(slog.NewTextHandler(&logs, nil)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, &logs
}

// iamConfig is the proxy's upstream: the emulator's IAM listener with its
// default identity.
func iamConfig(c *emulator.Cluster) kafkaconn.Config {
	return kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), TLSCAFile: c.CAFile(), Region: c.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
}

// startProxy starts a proxy on ephemeral loopback ports in front of cfg,
// logging to the returned buffer.
func startProxy(t testing.TB, cfg kafkaconn.Config, opts ...Opt) (*Proxy, *testutil.SyncBuffer) {
	t.Helper()
	var logs testutil.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Start(ctx, cfg, append([]Opt{WithListen("127.0.0.1:0"), WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Close()
		if t.Failed() || testing.Verbose() {
			t.Logf("proxy log:\n%s", logs.String())
		}
	})
	return p, &logs
}

// plainClient is a franz-go client without TLS or SASL, through the proxy.
func plainClient(t testing.TB, p *Proxy, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(p.Addr()), kgo.DisableClientMetrics(), kgo.MetadataMinAge(100 * time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestFranzGoRoundTrip produces and consumes with franz-go without TLS or
// SASL through the proxy, and checks that Metadata names only the proxy's
// listeners, one per emulated broker.
func TestFranzGoRoundTrip(t *testing.T) {
	c, clusterLog := startCluster(t)
	p, _ := startProxy(t, iamConfig(c))

	brokers := p.Brokers()
	if len(brokers) != 4 || brokers[0].NodeID != -1 {
		t.Fatalf("listeners %+v, want bootstrap and 3 brokers", brokers)
	}
	for i, b := range brokers[1:] {
		if b.NodeID != int32(i) || b.Upstream != c.BootstrapAddrs(emulator.IAM)[i] {
			t.Errorf("listener %d: %+v, want node %d at %s", i, b, i, c.BootstrapAddrs(emulator.IAM)[i])
		}
	}

	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	md, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	local := map[string]bool{}
	for _, b := range brokers[1:] {
		local[b.Local] = true
	}
	for _, b := range md.Brokers {
		if addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port)); !local[addr] {
			t.Errorf("metadata names broker %d at %s, not a proxy listener (%v)", b.NodeID, addr, brokers)
		}
	}

	const n = 100
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("v%d", i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	got := testutil.ConsumeN(t, []kgo.Opt{kgo.SeedBrokers(p.Addr()), kgo.ConsumeTopics("orders"), kgo.DisableClientMetrics()}, n, 30*time.Second, 200*time.Millisecond)
	if len(got) != n {
		t.Fatalf("consumed %d records, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[string(r.Value)] = true
	}
	for i := range n {
		if !seen[fmt.Sprintf("v%d", i)] {
			t.Errorf("record v%d not read back", i)
		}
	}
	// The emulator saw the proxy's IAM identity.
	if !strings.Contains(clusterLog.String(), "reason=authenticated") {
		t.Errorf("the emulator logged no IAM authentication:\n%s", clusterLog.String())
	}
}
