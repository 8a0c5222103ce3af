package schemareg_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/msklink/msklink/lambdafn/kafkaesm/avro"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaesmReadsTheMapping: a kafkaesm function behind the mapping reads
// what the schema registry stage delivers: with EventRecordFormat JSON the
// Avro records as JSON (kafkaesm.JSON), with SOURCE as Avro
// (kafkaesm/avro); a tombstone passes the stage untouched and reaches the
// function as a null value.
func TestKafkaesmReadsTheMapping(t *testing.T) {
	reg := startRegistry(t)
	av := reg.register(t, "orders-value", "AVRO", orderAvro)
	c := startEmulator(t, "json", "source")
	dec, err := avro.New(orderAvro)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		format string
		d      kafkaesm.Decoder
	}{{"JSON", kafkaesm.JSON{}}, {"SOURCE", dec}} {
		t.Run(tc.format, func(t *testing.T) {
			cfg := iamConfig(c, map[string]string{"JSON": "json", "SOURCE": "source"}[tc.format])
			produce(t, cfg,
				&kgo.Record{Value: confluent(av.ID, avroOrder(t, order{ID: "o-1", Qty: 1}))},
				&kgo.Record{Key: []byte("gone"), Value: nil},
				&kgo.Record{Value: glue(t, av.GUID, false, avroOrder(t, order{ID: "o-2", Qty: 2}))})
			var mu sync.Mutex
			var got []string
			h, err := kafkaesm.New(func(ctx context.Context, r kafkaesm.Record) error {
				mu.Lock()
				defer mu.Unlock()
				if r.Value == nil {
					got = append(got, "tombstone")
					return nil
				}
				o, err := kafkaesm.ValueAs[order](ctx, r, tc.d)
				if err != nil {
					return err
				}
				if r.ValueSchema == nil || r.ValueSchema.DataFormat != "AVRO" {
					t.Errorf("offset %d: value schema %+v", r.Offset, r.ValueSchema)
				}
				got = append(got, o.ID)
				return nil
			}, kafkaesm.WithReportBatchItemFailures(true), kafkaesm.WithLogger(slog.New(slog.DiscardHandler)), kafkaesm.WithMetricsWriter(nil))
			if err != nil {
				t.Fatal(err)
			}
			m, _ := runESM(t, cfg, h, newDecoder(t, reg.url, tc.format, "VALUE"))
			waitFor(t, time.Minute, "3 records processed", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 })
			waitFor(t, 30*time.Second, "the offsets committed", func() bool { return committed(t, cfg, m.GroupID()) == 3 })
			mu.Lock()
			defer mu.Unlock()
			if got[0] != "o-1" || got[1] != "tombstone" || got[2] != "o-2" {
				t.Errorf("processed %v", got)
			}
		})
	}
}
