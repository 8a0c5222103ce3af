package publish

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

func startEmulator(t testing.TB, opts ...emulator.Opt) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{emulator.Ephemeral(), emulator.WithTopic("events", 6)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// iamConfig is the Config a Lambda function would have for the emulator.
func iamConfig(c *emulator.Cluster) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers:     c.BootstrapAddrs(emulator.IAM),
		Region:      c.Region(),
		Topic:       "events",
		TLSCAFile:   c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

// warmPublisher is a Publisher of cfg, warmed, closed when t ends.
func warmPublisher(t *testing.T, cfg kafkaconn.Config, opts ...Opt) *Publisher {
	t.Helper()
	p, err := New(context.Background(), cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPublishIAM(t *testing.T) {
	c := startEmulator(t)
	for _, mech := range []string{kafkaconn.MechanismOAuthBearer, kafkaconn.MechanismAWSMSKIAM} {
		t.Run(mech, func(t *testing.T) {
			cfg := iamConfig(c)
			cfg.IAMMechanism = mech
			p, err := New(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := p.Warm(ctx); err != nil {
				t.Fatal(err)
			}
			out := p.Publish(ctx, []*kgo.Record{{Value: []byte(mech)}})
			if out[0].Status != Acked {
				t.Fatalf("%+v", out[0])
			}
		})
	}
}

// consumeIAM reads n records of topic through the IAM listener.
func consumeIAM(t *testing.T, c *emulator.Cluster, n int) []*kgo.Record {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), iamConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	// Anything more would be a duplicate: give it a moment to show up.
	return testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics("events"), kgo.FetchMaxWait(200*time.Millisecond)), n, 60*time.Second, time.Second)
}

// TestPublishUnderFaults publishes 10,000 records while the IAM listeners
// reset 5% of requests and partition leaders move. Every record
// ends acked exactly once (the idempotent producer retries safely) or is
// reported failed/unconfirmed; nothing acked is missing or duplicated.
func TestPublishUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 records under faults; skipped with -short")
	}
	c := startEmulator(t)
	disconnects := &disconnectCounter{}
	p, err := New(context.Background(), iamConfig(c), WithClientOpts(kafkaconn.WithClientOpts(kgo.WithHooks(disconnects))))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.Warm(ctx); err != nil {
		t.Fatal(err)
	}
	for id := int32(0); id < 3; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResetProbability: 0.05})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // move leaders every 50 ms while publishing
		defer wg.Done()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				c.Kfake().ShufflePartitionLeaders()
			}
		}
	}()
	const n = 10000
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(strconv.Itoa(i % 101)), Value: []byte(strconv.Itoa(i))}
	}
	var out []Outcome
	for start := 0; start < n; start += 1000 { // ten invocations of 1,000
		out = append(out, p.Publish(ctx, recs[start:start+1000])...)
	}
	close(stop)
	wg.Wait()
	for id := int32(0); id < 3; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{})
	}

	acked := map[string]Outcome{}
	var failed, unconfirmed int
	for i, o := range out {
		switch o.Status {
		case Acked:
			acked[strconv.Itoa(i)] = o
		case Failed:
			failed++
		case Unconfirmed:
			unconfirmed++
		default:
			t.Fatalf("record %d has no outcome", i)
		}
	}
	t.Logf("%d acked, %d failed, %d unconfirmed, %d connections reset", len(acked), failed, unconfirmed, disconnects.n.Load())
	if disconnects.n.Load() == 0 {
		t.Fatal("no connection was reset: the fault injection did not happen")
	}
	got := consumeIAM(t, c, len(acked))
	seen := map[string]bool{}
	for _, r := range got {
		v := string(r.Value)
		if seen[v] {
			t.Fatalf("record %s written twice", v)
		}
		seen[v] = true
		if o, ok := acked[v]; ok && (o.Partition != r.Partition || o.Offset != r.Offset) {
			t.Fatalf("record %s acked at %d/%d, found at %d/%d", v, o.Partition, o.Offset, r.Partition, r.Offset)
		}
	}
	for v := range acked {
		if !seen[v] {
			t.Fatalf("record %s acked but not in the log", v)
		}
	}
	if len(acked) < n/2 {
		t.Errorf("only %d of %d acked under 5%% resets: the retries do not work", len(acked), n)
	}
}

type disconnectCounter struct{ n atomic.Int64 }

func (d *disconnectCounter) OnBrokerDisconnect(kgo.BrokerMetadata, net.Conn) { d.n.Add(1) }

// TestPublishImpossibleDeadline: the brokers answer 3 s late, the deadline
// is 1 s. Publish answers before the deadline with every record
// unconfirmed: a Lambda function would never time out.
func TestPublishImpossibleDeadline(t *testing.T) {
	c := startEmulator(t)
	p, err := New(context.Background(), iamConfig(c))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := p.Warm(wctx); err != nil {
		t.Fatal(err)
	}
	for id := int32(0); id < 3; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 3 * time.Second})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	recs := make([]*kgo.Record, 50)
	for i := range recs {
		recs[i] = &kgo.Record{Value: []byte(fmt.Sprint(i))}
	}
	out := p.Publish(ctx, recs)
	if took := time.Since(start); took >= time.Second {
		t.Fatalf("Publish took %s, past its 1s deadline", took)
	}
	for i, o := range out {
		if o.Status == Acked {
			t.Fatalf("record %d acked despite 3s latency", i)
		}
		if o.Status == Unconfirmed && !o.Retriable {
			t.Errorf("unconfirmed but not retriable: %+v", o)
		}
	}
}
