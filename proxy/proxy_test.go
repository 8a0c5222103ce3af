package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

	// FindCoordinator (v3 with one coordinator, v4+ with a list) and
	// DescribeCluster name the proxy's listeners too.
	for _, v := range []int16{3, 4} {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.SetVersion(v)
		fc.CoordinatorKey, fc.CoordinatorKeys = "g", []string{"g"}
		r, err := fc.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		addrs := []string{net.JoinHostPort(r.Host, fmt.Sprint(r.Port))}
		if v >= 4 {
			addrs = addrs[:0]
			for _, co := range r.Coordinators {
				addrs = append(addrs, net.JoinHostPort(co.Host, fmt.Sprint(co.Port)))
			}
		}
		if len(addrs) != 1 || !local[addrs[0]] {
			t.Errorf("FindCoordinator v%d names %v, not a proxy listener", v, addrs)
		}
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range dc.Brokers {
		if addr := net.JoinHostPort(b.Host, fmt.Sprint(b.Port)); !local[addr] {
			t.Errorf("DescribeCluster names broker %d at %s, not a proxy listener", b.NodeID, addr)
		}
	}
	// ApiVersions offers no version whose answer carries unrewritten
	// broker addresses.
	av, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range av.ApiKeys {
		if !offered(k.ApiKey, k.MaxVersion) {
			t.Errorf("ApiVersions offers %s up to v%d", kmsg.NameForKey(k.ApiKey), k.MaxVersion)
		}
		if k.ApiKey == 0 && k.MaxVersion != 9 || k.ApiKey == 1 && k.MaxVersion != 15 {
			t.Errorf("%s offered up to v%d", kmsg.NameForKey(k.ApiKey), k.MaxVersion)
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

// countingCreds counts credential fetches.
type countingCreds struct{ n atomic.Int32 }

func (c *countingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	c.n.Add(1)
	return aws.Credentials{AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: emulator.DefaultSecretAccessKey, Source: "test"}, nil
}

// TestOneProvider: every upstream connection signs with the one provider
// the proxy built: the credentials are fetched once for all of them.
func TestOneProvider(t *testing.T) {
	c, _ := startCluster(t)
	cfg := iamConfig(c)
	creds := &countingCreds{}
	cfg.Credentials = creds
	p, _ := startProxy(t, cfg)
	for range 3 {
		cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}
	if s := p.Stats(); s.Accepted < 6 || creds.n.Load() != 1 {
		t.Errorf("%d client connections, credentials fetched %d times, want once", s.Accepted, creds.n.Load())
	}
}

// TestProfileCredentials: with no credentials given, the proxy takes them
// from the AWS config files' named profile, as every msklink client does.
func TestProfileCredentials(t *testing.T) {
	dir := testutil.IsolateAWS(t)
	if err := os.WriteFile(filepath.Join(dir, "credentials"), []byte("[emu]\naws_access_key_id = "+emulator.DefaultAccessKeyID+
		"\naws_secret_access_key = "+emulator.DefaultSecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, clusterLog := startCluster(t)
	cfg := iamConfig(c)
	cfg.Credentials, cfg.Profile = nil, "emu"
	p, _ := startProxy(t, cfg)
	cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(clusterLog.String(), "access_key_id="+emulator.DefaultAccessKeyID) {
		t.Errorf("the emulator did not see the profile's key:\n%s", clusterLog.String())
	}
}

// TestUpstreamAuthModes: the upstream side takes any kafkaconn auth mode,
// not only IAM: SCRAM, TLS and plaintext listeners of the emulator.
func TestUpstreamAuthModes(t *testing.T) {
	c, _ := startCluster(t)
	scram := c.SCRAMUsers()[0]
	for _, cfg := range []kafkaconn.Config{
		{Auth: kafkaconn.AuthSCRAM, Brokers: c.BootstrapAddrs(emulator.SCRAM), TLSCAFile: c.CAFile(), SCRAMUsername: scram.Username, SCRAMPassword: kafkaconn.Password(scram.Password)},
		{Auth: kafkaconn.AuthTLS, Brokers: c.BootstrapAddrs(emulator.TLS), TLSCAFile: c.CAFile()},
		{Auth: kafkaconn.AuthPlaintext, Brokers: c.BootstrapAddrs(emulator.Plaintext)},
	} {
		t.Run(string(cfg.Auth), func(t *testing.T) {
			p, _ := startProxy(t, cfg)
			cl := plainClient(t, p, kgo.DefaultProduceTopic("orders"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(string(cfg.Auth))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if b := p.Brokers(); len(b) != 4 || b[1].Upstream != cfg.Brokers[0] {
				t.Errorf("listeners %+v, want one per %s broker", b, cfg.Auth)
			}
		})
	}
}
