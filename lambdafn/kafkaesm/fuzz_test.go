package kafkaesm

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// FuzzParseEvent: any payload decodes or fails with an *EventError, never
// panics; what decodes is consistent (records sorted by partition key,
// each record in its key's partition, invalid records named by their
// field); and the handler answers every decodable event with a response
// that names only partitions and offsets of the event.
func FuzzParseEvent(f *testing.F) {
	for _, s := range []string{"msk-event.json", "self-managed-event.json", "msk-event-schema-registry.json"} {
		f.Add(readSample(f, s))
	}
	f.Add([]byte(`{"eventSource":"aws:kafka","records":{"a-1":[{"offset":1,"value":"!!","headers":[{"h":[-1,256]}]}],"a-0":[{"offset":0}]}}`))
	f.Add([]byte(`{"eventSource":"SelfManagedKafka","records":{"x-y-2":[{"offset":3,"topic":"x-y","partition":2,"key":null,"headers":[{"a":null,"b":[]}]}]}}`))
	h, err := New(func(ctx context.Context, r Record) error {
		if len(r.Value)%2 == 1 {
			return context.Canceled
		}
		return nil
	}, WithReportBatchItemFailures(true), WithMetricsWriter(nil), WithLogger(slog.New(slog.DiscardHandler)), WithGetenv(func(string) string { return "" }))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := ParseEvent(payload)
		if err != nil {
			if _, ok := err.(*EventError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		ids := map[ItemIdentifier]bool{}
		prev := ""
		for _, r := range ev.Records {
			k := PartitionKey(r.Topic, r.Partition)
			if r.Topic == "" || r.Partition < 0 || r.Offset < 0 {
				t.Fatalf("record %+v", r)
			}
			if k != prev && prev != "" && ids[ItemIdentifier{Partition: k}] {
				t.Fatalf("partition %s not contiguous", k)
			}
			prev = k
			ids[ItemIdentifier{Partition: k}] = true
			ids[r.ID()] = true
		}
		for _, re := range ev.Invalid {
			if !strings.HasPrefix(re.Field, "records[") || re.Err == nil {
				t.Fatalf("invalid %+v", re)
			}
			ids[re.ID] = true
		}
		out, err := h.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var resp Response
		if err := json.Unmarshal(out, &resp); err != nil || resp.BatchItemFailures == nil {
			t.Fatalf("response %s: %v", out, err)
		}
		for _, f := range resp.BatchItemFailures {
			if !ids[f.ItemIdentifier] {
				t.Fatalf("%+v is not a record of the event", f.ItemIdentifier)
			}
		}
	})
}

// FuzzParseWire: never panics; a recognised header is exactly the
// documented number of bytes.
func FuzzParseWire(f *testing.F) {
	f.Add(confluentFrame(1, []byte(`{}`)))
	f.Add(glueFrame(0, []byte("x")))
	f.Add(glueFrame(5, []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}))
	f.Add([]byte("plain"))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseWire(b)
		if err != nil {
			return
		}
		switch p.Format {
		case Plain:
			if !bytes.Equal(p.Data, b) || p.SchemaID != "" {
				t.Fatalf("plain %+v", p)
			}
		case Confluent:
			if len(b) < 5 || b[0] != 0 || !bytes.Equal(p.Data, b[5:]) {
				t.Fatalf("confluent %+v", p)
			}
		case Glue:
			if len(b) < 18 || b[0] != 3 || (b[1] == 0 && !bytes.Equal(p.Data, b[18:])) || len(p.SchemaID) != 36 {
				t.Fatalf("glue %+v", p)
			}
		}
	})
}

func FuzzProtobufMessageIndexes(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{4, 0, 6, 'x'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		idx, rest, err := ProtobufMessageIndexes(b)
		if err != nil {
			return
		}
		if len(idx) == 0 || !bytes.HasSuffix(b, rest) || len(rest) >= len(b) {
			t.Fatalf("%v -> %v %v", b, idx, rest)
		}
		for _, i := range idx {
			if i < 0 {
				t.Fatalf("negative index in %v", idx)
			}
		}
	})
}
