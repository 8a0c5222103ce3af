package kafkaesm_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

// codecEvent is an MSK event of partition orders-0 whose records have the
// values given, from offset 0; metadata, when not "", is each record's
// valueSchemaMetadata JSON.
func codecEvent(metadata string, values ...[]byte) []byte {
	var recs []string
	for i, v := range values {
		md := ""
		if metadata != "" {
			md = `,"valueSchemaMetadata":` + metadata
		}
		recs = append(recs, fmt.Sprintf(`{"topic":"orders","partition":0,"offset":%d,"timestamp":1700000000000,"timestampType":"CREATE_TIME","value":%q,"headers":[]%s}`,
			i, base64.StdEncoding.EncodeToString(v), md))
	}
	return []byte(`{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/shop/abc-1","records":{"orders-0":[` + strings.Join(recs, ",") + `]}}`)
}

// runCodec invokes a handler that decodes each value with decode and
// returns what it decoded and the handler's answer.
func runCodec(t *testing.T, event []byte, decode func(context.Context, kafkaesm.Record) (any, error)) ([]string, string) {
	t.Helper()
	var got []string
	h, err := kafkaesm.New(func(ctx context.Context, r kafkaesm.Record) error {
		v, err := decode(ctx, r)
		if err != nil {
			return err
		}
		got = append(got, fmt.Sprint(v))
		return nil
	}, kafkaesm.WithReportBatchItemFailures(true), kafkaesm.WithLogger(slog.New(slog.DiscardHandler)), kafkaesm.WithMetricsWriter(nil))
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	return got, string(out)
}

type jsonOrder struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// TestValueAsJSON: JSON values, as a mapping with EventRecordFormat JSON
// delivers them and behind a Confluent JSON Schema header, decode into the
// type asked for; one that does not fails its record alone (and the rest
// of its partition is retried).
func TestValueAsJSON(t *testing.T) {
	framed := append([]byte{0, 0, 0, 0, 7}, `{"id":"b","qty":2}`...)
	got, out := runCodec(t, codecEvent(`{"dataFormat":"AVRO","schemaId":"7"}`, []byte(`{"id":"a","qty":1}`), []byte(`{"id":`), []byte(`{"id":"c","qty":3}`)),
		func(ctx context.Context, r kafkaesm.Record) (any, error) {
			return kafkaesm.ValueAs[jsonOrder](ctx, r, kafkaesm.JSON{})
		})
	if strings.Join(got, " ") != "{a 1}" || out != `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":1}}]}` {
		t.Errorf("got %v, answer %s", got, out)
	}
	got, out = runCodec(t, codecEvent("", framed), func(ctx context.Context, r kafkaesm.Record) (any, error) {
		return kafkaesm.ValueAs[jsonOrder](ctx, r, kafkaesm.JSON{})
	})
	if strings.Join(got, " ") != "{b 2}" || out != `{"batchItemFailures":[]}` {
		t.Errorf("Confluent-framed: got %v, answer %s", got, out)
	}
}
