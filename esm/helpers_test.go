package esm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startEmulator starts an emulated MSK cluster (IAM, TLS) with the topics
// given as name, partitions, name, partitions...
func startEmulator(t testing.TB, topics map[string]int32, opts ...emulator.Opt) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := []emulator.Opt{emulator.Ephemeral(), emulator.WithLogger(slog.New(slog.DiscardHandler))}
	for name, n := range topics {
		o = append(o, emulator.WithTopic(name, n))
	}
	c, err := emulator.Start(ctx, append(o, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// iamConfig is a connection over the emulator's IAM listener with its
// default identity, for topic.
func iamConfig(c *emulator.Cluster, topic string) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers: c.BootstrapAddrs(emulator.IAM), Auth: kafkaconn.AuthIAM, Region: c.Region(),
		TLSCAFile: c.CAFile(), Topic: topic,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

// withClient runs f with a client of cfg (and opts) and a context of
// timeout.
func withClient(t testing.TB, cfg kafkaconn.Config, timeout time.Duration, f func(context.Context, *kgo.Client), opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(opts...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f(ctx, cl)
}

// produce writes recs (Topic defaults to cfg.Topic), partitioned by key.
func produce(t testing.TB, cfg kafkaconn.Config, recs ...*kgo.Record) {
	t.Helper()
	withClient(t, cfg, time.Minute, func(ctx context.Context, cl *kgo.Client) {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	})
}

// produceTo writes recs to their Partition.
func produceTo(t testing.TB, cfg kafkaconn.Config, recs ...*kgo.Record) {
	t.Helper()
	withClient(t, cfg, time.Minute, func(ctx context.Context, cl *kgo.Client) {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	}, kgo.RecordPartitioner(kgo.ManualPartitioner()))
}

// values makes records of the values (keyed by the value) to partition p,
// for produceTo.
func values(p int32, vs ...string) []*kgo.Record {
	var out []*kgo.Record
	for _, v := range vs {
		out = append(out, &kgo.Record{Value: []byte(v), Key: []byte(v), Partition: p})
	}
	return out
}

// committed reads the group's committed offsets of cfg.Topic.
func committed(t testing.TB, cfg kafkaconn.Config, group string) map[int32]int64 {
	t.Helper()
	out := map[int32]int64{}
	withClient(t, cfg, 30*time.Second, func(ctx context.Context, cl *kgo.Client) {
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return // nothing committed yet
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Topic == cfg.Topic && o.Err == nil {
				out[o.Partition] = o.At
			}
		})
	})
	return out
}

// waitFor polls cond until it holds, failing t after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testEvent is an event the test function received.
type testEvent struct {
	raw              []byte
	EventSource      string                  `json:"eventSource"`
	EventSourceARN   *string                 `json:"eventSourceArn"`
	BootstrapServers string                  `json:"bootstrapServers"`
	Records          map[string][]testRecord `json:"records"`
	at               time.Time
}

type testRecord struct {
	Topic         string             `json:"topic"`
	Partition     int32              `json:"partition"`
	Offset        int64              `json:"offset"`
	Timestamp     int64              `json:"timestamp"`
	TimestampType string             `json:"timestampType"`
	Key           *string            `json:"key"`
	Value         *string            `json:"value"`
	Headers       []map[string][]int `json:"headers"`
}

func (r testRecord) value() string {
	if r.Value == nil {
		return "<null>"
	}
	b, err := base64.StdEncoding.DecodeString(*r.Value)
	if err != nil {
		return "<bad base64>"
	}
	return string(b)
}

func (r testRecord) id() string { return fmt.Sprintf("%s-%d@%d", r.Topic, r.Partition, r.Offset) }

// list returns the event's records, partition by partition in offset
// order.
func (e *testEvent) list() []testRecord {
	var keys []string
	for k := range e.Records {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []testRecord
	for _, k := range keys {
		out = append(out, e.Records[k]...)
	}
	return out
}

func (e *testEvent) values() []string {
	var out []string
	for _, r := range e.list() {
		out = append(out, r.value())
	}
	return out
}

func (e *testEvent) has(v string) bool {
	for _, r := range e.list() {
		if r.value() == v {
			return true
		}
	}
	return false
}

// reply is the test function's answer to an event.
type reply struct {
	status int
	header map[string]string
	body   string
}

// fnServer is a function served over Lambda's Invoke API, as
// aws-lambda-rie serves one: handle decides each answer.
type fnServer struct {
	url    string
	mu     sync.Mutex
	events []*testEvent
	handle func(ev *testEvent, n int) reply
}

func newFnServer(t testing.TB, handle func(ev *testEvent, n int) reply) *fnServer {
	t.Helper()
	f := &fnServer{handle: handle}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != InvokePath {
			http.Error(w, "not the Invoke API", 404)
			return
		}
		raw, _ := io.ReadAll(r.Body)
		ev := &testEvent{raw: raw, at: time.Now()}
		if err := json.Unmarshal(raw, ev); err != nil {
			t.Errorf("the function got an event that is not JSON: %v", err)
		}
		f.mu.Lock()
		f.events = append(f.events, ev)
		n := len(f.events)
		f.mu.Unlock()
		rep := reply{status: 200, body: "null"}
		if f.handle != nil {
			rep = f.handle(ev, n)
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		if rep.status != 0 {
			w.WriteHeader(rep.status)
		}
		io.WriteString(w, rep.body)
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fnServer) function(t testing.TB) Function {
	t.Helper()
	fn, err := NewHTTPFunction(f.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func (f *fnServer) got() []*testEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*testEvent(nil), f.events...)
}

// deliveries counts how many events held each value.
func (f *fnServer) deliveries() map[string]int {
	out := map[string]int{}
	for _, ev := range f.got() {
		for _, v := range ev.values() {
			out[v]++
		}
	}
	return out
}

// running is an ESM running in a goroutine.
type running struct {
	m      *ESM
	cancel context.CancelFunc
	done   chan error
	logs   *testutil.SyncBuffer
}

// startESM builds and runs an ESM; t's cleanup stops it.
func startESM(t testing.TB, cfg kafkaconn.Config, opts ...Opt) *running {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	opts = append([]Opt{WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithStartingPosition(TrimHorizon), WithRetryBackoff(time.Millisecond, 20*time.Millisecond)}, opts...)
	m, err := New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, cancel: cancel, done: make(chan error, 1), logs: logs}
	go func() { r.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		if err := r.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("esm logs:\n%s", logs.String())
		}
	})
	return r
}

// stop cancels Run and returns its error.
func (r *running) stop(t testing.TB) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30s after its context was canceled")
		return nil
	}
}
