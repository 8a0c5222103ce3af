package emulator

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBackendPipe: the front reaches kfake in-process, and kfake sees the
// client's own address (DescribeGroups' client host), not the front's;
// kfake's loopback TCP port still accepts connections of its own.
func TestBackendPipe(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var (
		mu    sync.Mutex
		local []string // the client's side of each of its connections
	)
	d := &net.Dialer{Timeout: 5 * time.Second}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...),
		kgo.ConsumerGroup("pipe-g"), kgo.ConsumeTopics("t"),
		kgo.Dialer(func(ctx context.Context, network, host string) (net.Conn, error) {
			conn, err := d.DialContext(ctx, network, host)
			if err == nil {
				mu.Lock()
				local = append(local, conn.LocalAddr().String())
				mu.Unlock()
			}
			return conn, err
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if fs := cl.PollRecords(ctx, 1); fs.NumRecords() != 1 {
		t.Fatalf("consumed %d records (errors %v), want 1", fs.NumRecords(), fs.Errors())
	}

	adm := kadm.NewClient(cl)
	groups, err := adm.DescribeGroups(ctx, "pipe-g")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["pipe-g"]
	if len(g.Members) != 1 {
		t.Fatalf("group pipe-g: %d members (%v), want 1", len(g.Members), g.Err)
	}
	host := g.Members[0].ClientHost
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(local, host) {
		t.Errorf("kfake sees the member at %q; want one of the client's own addresses %v", host, local)
	}

	// kfake's own port, which the front does not use: a plain Kafka
	// connection works, with kfake's own addresses in metadata.
	direct, err := kgo.NewClient(kgo.SeedBrokers(c.brokers[0].backend.Addr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close()
	if err := direct.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("direct")}).FirstErr(); err != nil {
		t.Fatalf("producing through kfake's TCP port: %v", err)
	}
}
