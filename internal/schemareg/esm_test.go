package schemareg_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/hamba/avro/v2"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/internal/schemareg"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The schemas of the tests, and what the producers write with them:
// hamba/avro, protobuf's generated timestamppb and encoding/json encode,
// not this package.
const (
	orderAvro = `{"type":"record","name":"Order","namespace":"shop","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"},{"name":"note","type":["null","string"],"default":null}]}`
	// The wire shape of google.protobuf.Timestamp, under another name.
	stampProto = `syntax = "proto3";
package shop;
message Stamp {
  int64 seconds = 1;
  int32 nanos = 2;
}
`
	orderJSONSchema = `{"type":"object","properties":{"id":{"type":"string"},"qty":{"type":"integer","minimum":1}},"required":["id","qty"]}`
)

type order struct {
	ID   string  `avro:"id" json:"id"`
	Qty  int     `avro:"qty" json:"qty"`
	Note *string `avro:"note" json:"note,omitempty"`
}

func confluent(id int, data ...[]byte) []byte {
	b := []byte{0, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(id))
	for _, d := range data {
		b = append(b, d...)
	}
	return b
}

func glue(t testing.TB, guid string, compress bool, data []byte) []byte {
	t.Helper()
	id, err := hex.DecodeString(strings.ReplaceAll(guid, "-", ""))
	if err != nil || len(id) != 16 {
		t.Fatalf("guid %q: %v", guid, err)
	}
	b := []byte{3, 0}
	if compress {
		b[1] = 5
		var z bytes.Buffer
		zw := zlib.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	return append(append(b, id...), data...)
}

func avroOrder(t testing.TB, o order) []byte {
	t.Helper()
	b, err := avro.Marshal(avro.MustParse(orderAvro), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func protoStamp(t testing.TB, sec int64, nanos int32) []byte {
	t.Helper()
	b, err := proto.Marshal(&timestamppb.Timestamp{Seconds: sec, Nanos: nanos})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// registry serves a fresh registry on loopback; down makes it answer 503.
type registry struct {
	srv  *schemareg.Server
	url  string
	down atomic.Bool
}

func startRegistry(t testing.TB, opts ...schemareg.ServerOpt) *registry {
	t.Helper()
	r := &registry{srv: schemareg.NewServer(opts...)}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down for the test", http.StatusServiceUnavailable)
			return
		}
		r.srv.ServeHTTP(w, req)
	}))
	t.Cleanup(hs.Close)
	r.url = hs.URL
	return r
}

func (r *registry) register(t testing.TB, subject, typ, text string) schemareg.Schema {
	t.Helper()
	s, err := r.srv.Register(subject, typ, text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// event is what the function got: records as the event carries them.
type eventRecord struct {
	Topic               string          `json:"topic"`
	Offset              int64           `json:"offset"`
	Key                 []byte          `json:"key"`
	Value               []byte          `json:"value"`
	KeySchemaMetadata   *schemaMetadata `json:"keySchemaMetadata"`
	ValueSchemaMetadata *schemaMetadata `json:"valueSchemaMetadata"`
}

type schemaMetadata struct {
	DataFormat string `json:"dataFormat"`
	SchemaID   string `json:"schemaId"`
}

// collector is an in-process function recording every record it gets.
type collector struct {
	mu   sync.Mutex
	recs []eventRecord
}

func (c *collector) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	var ev struct {
		Records map[string][]eventRecord `json:"records"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range ev.Records {
		c.recs = append(c.recs, rs...)
	}
	return nil, nil
}

func (c *collector) got() []eventRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]eventRecord(nil), c.recs...)
}

func startEmulator(t testing.TB, topics ...string) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := []emulator.Opt{emulator.Ephemeral(), emulator.WithLogger(slog.New(slog.DiscardHandler))}
	for _, name := range topics {
		o = append(o, emulator.WithTopic(name, 1))
	}
	c, err := emulator.Start(ctx, o...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func iamConfig(c *emulator.Cluster, topic string) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers: c.BootstrapAddrs(emulator.IAM), Auth: kafkaconn.AuthIAM, Region: c.Region(),
		TLSCAFile: c.CAFile(), Topic: topic,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

func withClient(t testing.TB, cfg kafkaconn.Config, f func(context.Context, *kgo.Client)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkaconn.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	f(ctx, cl)
}

func produce(t testing.TB, cfg kafkaconn.Config, recs ...*kgo.Record) {
	t.Helper()
	withClient(t, cfg, func(ctx context.Context, cl *kgo.Client) {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing: %v", err)
		}
	})
}

func committed(t testing.TB, cfg kafkaconn.Config, group string) int64 {
	t.Helper()
	at := int64(-1)
	withClient(t, cfg, func(ctx context.Context, cl *kgo.Client) {
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		if errors.Is(err, kerr.GroupIDNotFound) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := resp.Lookup(cfg.Topic, 0); ok && o.Err == nil {
			at = o.At
		}
	})
	return at
}

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

// runESM runs a mapping of cfg with the stage dec until the test ends.
func runESM(t testing.TB, cfg kafkaconn.Config, fn esm.Function, dec esm.RecordDecoder, opts ...esm.Opt) (*esm.ESM, *testutil.SyncBuffer) {
	t.Helper()
	logs := &testutil.SyncBuffer{}
	m, err := esm.New(cfg, append([]esm.Opt{esm.WithFunction(fn), esm.WithSchemaRegistry(dec), esm.WithStartingPosition(esm.TrimHorizon),
		esm.WithBatchingWindow(50 * time.Millisecond), esm.WithRetryBackoff(time.Millisecond, 50*time.Millisecond),
		esm.WithLogger(slog.New(slog.NewJSONHandler(logs, nil)))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("Run did not return 30s after its context was canceled")
		}
		if t.Failed() {
			t.Logf("esm logs:\n%s", logs.String())
		}
	})
	return m, logs
}

func newDecoder(t testing.TB, url, format string, attrs ...string) *schemareg.Decoder {
	t.Helper()
	cl, err := schemareg.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	d, err := schemareg.NewDecoder(schemareg.Config{Registry: cl, EventRecordFormat: format, Validate: attrs})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestFormatsDelivered: Avro, Protobuf and JSON Schema records produced
// by third-party encoders in Confluent's and Glue's framing reach the
// function as JSON (EventRecordFormat JSON) or as the producer's bytes
// without the header (SOURCE), with their schema metadata; keys are
// validated too when asked.
func TestFormatsDelivered(t *testing.T) {
	reg := startRegistry(t)
	av := reg.register(t, "orders-value", "AVRO", orderAvro)
	pb := reg.register(t, "stamps-value", "PROTOBUF", stampProto)
	js := reg.register(t, "json-value", "JSON", orderJSONSchema)
	note := "gift"
	avroData := avroOrder(t, order{ID: "o-1", Qty: 2, Note: &note})
	pbData := protoStamp(t, 1700000000, 5)
	jsonData, _ := json.Marshal(order{ID: "o-3", Qty: 3})

	type tc struct {
		name       string
		value      []byte
		format     string
		wantFormat string
		wantID     string
		wantJSON   string // for EventRecordFormat JSON
		wantSource []byte // for SOURCE
	}
	cases := []tc{
		{"avro confluent", confluent(av.ID, avroData), "AVRO", "AVRO", "1", `{"id":"o-1","note":"gift","qty":2}`, avroData},
		{"avro glue zlib", glue(t, av.GUID, true, avroData), "AVRO", "AVRO", av.GUID, `{"id":"o-1","note":"gift","qty":2}`, avroData},
		{"protobuf confluent", confluent(pb.ID, []byte{0}, pbData), "PROTOBUF", "PROTOBUF", "2", `{"seconds":"1700000000","nanos":5}`, pbData},
		{"protobuf glue", glue(t, pb.GUID, false, pbData), "PROTOBUF", "PROTOBUF", pb.GUID, `{"seconds":"1700000000","nanos":5}`, pbData},
		{"json schema confluent", confluent(js.ID, jsonData), "JSON", "JSON", "3", `{"id":"o-3","qty":3}`, jsonData},
	}
	c := startEmulator(t, "json", "source")
	for _, format := range []string{schemareg.FormatJSON, schemareg.FormatSource} {
		t.Run(format, func(t *testing.T) {
			cfg := iamConfig(c, strings.ToLower(format))
			var recs []*kgo.Record
			for _, k := range cases {
				recs = append(recs, &kgo.Record{Key: confluent(js.ID, []byte(`{"id":"k","qty":1}`)), Value: k.value})
			}
			produce(t, cfg, recs...)
			fn := &collector{}
			m, _ := runESM(t, cfg, fn, newDecoder(t, reg.url, format, "KEY", "VALUE"))
			waitFor(t, time.Minute, "every record delivered", func() bool { return len(fn.got()) >= len(cases) })
			got := fn.got()
			for i, k := range cases {
				r := got[i]
				if r.ValueSchemaMetadata == nil || r.ValueSchemaMetadata.DataFormat != k.wantFormat || r.ValueSchemaMetadata.SchemaID != k.wantID {
					t.Errorf("%s: valueSchemaMetadata %+v, want %s %s", k.name, r.ValueSchemaMetadata, k.wantFormat, k.wantID)
				}
				if r.KeySchemaMetadata == nil || r.KeySchemaMetadata.SchemaID != "3" {
					t.Errorf("%s: keySchemaMetadata %+v, want JSON 3", k.name, r.KeySchemaMetadata)
				}
				if format == schemareg.FormatJSON {
					if string(r.Value) != k.wantJSON {
						t.Errorf("%s: value %s, want %s", k.name, r.Value, k.wantJSON)
					}
					if string(r.Key) != `{"id":"k","qty":1}` {
						t.Errorf("%s: key %s", k.name, r.Key)
					}
				} else if !bytes.Equal(r.Value, k.wantSource) {
					t.Errorf("%s: value %x, want the producer's bytes %x", k.name, r.Value, k.wantSource)
				}
			}
			waitFor(t, 30*time.Second, "the offsets committed", func() bool { return committed(t, cfg, m.GroupID()) == int64(len(cases)) })
		})
	}
}

// TestRejectedRecords: a record whose schema the registry lacks, one
// without a registry header, and one that fails its schema's validation are
// given up before any invocation, to the on-failure topic with Lambda's
// reason codes; the records around them are delivered, and the offsets
// committed past all of them (nothing redelivered, nothing lost).
func TestRejectedRecords(t *testing.T) {
	reg := startRegistry(t)
	js := reg.register(t, "orders-value", "JSON", orderJSONSchema)
	av := reg.register(t, "avro-value", "AVRO", orderAvro)
	c := startEmulator(t, "orders", "orders-dlt")
	cfg := iamConfig(c, "orders")
	good := confluent(js.ID, []byte(`{"id":"ok","qty":1}`))
	produce(t, cfg,
		&kgo.Record{Value: good},
		&kgo.Record{Value: confluent(99, []byte(`{"id":"x","qty":1}`))},       // unknown id
		&kgo.Record{Value: []byte(`{"id":"plain","qty":1}`)},                  // no header
		&kgo.Record{Value: confluent(js.ID, []byte(`{"id":"zero","qty":0}`))}, // qty < minimum
		&kgo.Record{Value: confluent(av.ID, []byte{0xff})},                    // not Avro of that schema
		&kgo.Record{Value: good},
	)
	fn := &collector{}
	var mu sync.Mutex
	var gaveUp []esm.GiveUp
	m, _ := runESM(t, cfg, fn, newDecoder(t, reg.url, "JSON", "VALUE"), esm.WithOnFailureTopic("orders-dlt"),
		esm.WithOnGiveUp(func(g esm.GiveUp) { mu.Lock(); gaveUp = append(gaveUp, g); mu.Unlock() }))
	waitFor(t, time.Minute, "the offsets committed past every record", func() bool { return committed(t, cfg, m.GroupID()) == 6 })
	got := fn.got()
	if len(got) != 2 || got[0].Offset != 0 || got[1].Offset != 5 {
		t.Fatalf("delivered %+v, want offsets 0 and 5", got)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		offset    int64
		condition string
		errHas    string
	}{
		{1, esm.ConditionSchemaNotFound, "orders-0 offset 1 value: confluent schema id 99"},
		{2, esm.ConditionDeserializationError, "no schema registry header: the first byte is 0x7b"},
		{3, esm.ConditionDeserializationError, "JSON does not validate against the schema"},
		{4, esm.ConditionDeserializationError, "Avro data does not match the schema"},
	}
	if len(gaveUp) != len(want) {
		t.Fatalf("given up %+v, want %d records", gaveUp, len(want))
	}
	for i, w := range want {
		g := gaveUp[i]
		if g.Offset != w.offset || g.Condition != w.condition || !strings.Contains(g.Error, w.errHas) || g.Destination != "orders-dlt" || g.Invokes != 0 {
			t.Errorf("given up %d: %+v, want offset %d %s with %q, written to orders-dlt, never invoked", i, g, w.offset, w.condition, w.errHas)
		}
		var fr struct {
			RequestContext struct{ Condition string } `json:"requestContext"`
			Payload        struct {
				Records map[string][]eventRecord `json:"records"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(g.Value, &fr); err != nil || fr.RequestContext.Condition != w.condition || len(fr.Payload.Records["orders-0"]) != 1 {
			t.Errorf("on-failure message %s: %v", g.Value, err)
		}
	}
}

// TestRegistryDown: while the registry cannot answer, nothing is delivered,
// given up or committed, and the log names the registry; once it answers,
// the records are delivered.
func TestRegistryDown(t *testing.T) {
	reg := startRegistry(t)
	js := reg.register(t, "orders-value", "JSON", orderJSONSchema)
	reg.down.Store(true)
	c := startEmulator(t, "orders")
	cfg := iamConfig(c, "orders")
	produce(t, cfg, &kgo.Record{Value: confluent(js.ID, []byte(`{"id":"a","qty":1}`))}, &kgo.Record{Value: confluent(js.ID, []byte(`{"id":"b","qty":2}`))})
	fn := &collector{}
	m, logs := runESM(t, cfg, fn, newDecoder(t, reg.url, "JSON", "VALUE"))
	waitFor(t, time.Minute, "the stage's failure logged", func() bool {
		return strings.Contains(logs.String(), "schema registry "+reg.url+"/schemas/ids/1: HTTP 503")
	})
	if n := len(fn.got()); n != 0 {
		t.Fatalf("%d records delivered while the registry was down", n)
	}
	if s := m.Stats(); s.GivenUp != 0 {
		t.Fatalf("%d records given up while the registry was down", s.GivenUp)
	}
	if at := committed(t, cfg, m.GroupID()); at > 0 {
		t.Fatalf("offset %d committed while the registry was down", at)
	}
	reg.down.Store(false)
	waitFor(t, time.Minute, "both records delivered", func() bool { return len(fn.got()) == 2 })
	waitFor(t, 30*time.Second, "the offsets committed", func() bool { return committed(t, cfg, m.GroupID()) == 2 })
	if got := fn.got(); string(got[0].Value) != `{"id":"a","qty":1}` {
		t.Errorf("first value %s", got[0].Value)
	}
}
