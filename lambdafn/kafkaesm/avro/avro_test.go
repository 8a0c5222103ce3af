package avro_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	hamba "github.com/hamba/avro/v2"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/msklink/msklink/lambdafn/kafkaesm/avro"
)

const orderSchema = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`

type Order struct {
	ID  string `avro:"id"`
	Qty int    `avro:"qty"`
}

// event is an MSK event of orders-0 with the values given and, when md is
// not "", that valueSchemaMetadata on each.
func event(md string, values ...[]byte) []byte {
	if md != "" {
		md = `,"valueSchemaMetadata":` + md
	}
	var recs []string
	for i, v := range values {
		recs = append(recs, fmt.Sprintf(`{"topic":"orders","partition":0,"offset":%d,"timestamp":1700000000000,"timestampType":"CREATE_TIME","value":%q%s}`,
			i, base64.StdEncoding.EncodeToString(v), md))
	}
	return []byte(`{"eventSource":"aws:kafka","records":{"orders-0":[` + strings.Join(recs, ",") + `]}}`)
}

func invoke(t *testing.T, ev []byte, fn kafkaesm.RecordFunc) string {
	t.Helper()
	h, err := kafkaesm.New(fn, kafkaesm.WithReportBatchItemFailures(true), kafkaesm.WithLogger(slog.New(slog.DiscardHandler)), kafkaesm.WithMetricsWriter(nil))
	if err != nil {
		t.Fatal(err)
	}
	out, err := h.Invoke(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// TestDecode: Avro values written by hamba/avro decode into the struct,
// as a mapping with EventRecordFormat SOURCE delivers them (no header, the
// schema metadata in the event), and behind Confluent's and Glue's
// (zlib-compressed) headers without a schema registry on the mapping; a
// value that is not Avro of the schema fails its record, named in the
// partial batch response.
func TestDecode(t *testing.T) {
	dec, err := avro.New(orderSchema)
	if err != nil {
		t.Fatal(err)
	}
	data, err := hamba.Marshal(hamba.MustParse(orderSchema), Order{ID: "o-1", Qty: 2})
	if err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	glue := append([]byte{3, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, z.Bytes()...)
	for _, tc := range []struct {
		name  string
		ev    []byte
		want  string
		fails string
	}{
		{"source", event(`{"dataFormat":"AVRO","schemaId":"1"}`, data, data[:3], append(data, 0)), "o-1 2", `[{"itemIdentifier":{"partition":"orders-0","offset":1}}]`},
		{"confluent", event("", append([]byte{0, 0, 0, 0, 1}, data...)), "o-1 2", `[]`},
		{"glue zlib", event("", glue), "o-1 2", `[]`},
		{"not avro", event("", []byte(`{"id":"o-1"}`)), "", `[{"itemIdentifier":{"partition":"orders-0","offset":0}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			out := invoke(t, tc.ev, func(ctx context.Context, r kafkaesm.Record) error {
				o, err := kafkaesm.ValueAs[Order](ctx, r, dec)
				if err != nil {
					return err
				}
				got = append(got, o.ID+" "+fmt.Sprint(o.Qty))
				return nil
			})
			if strings.Join(got, ",") != tc.want || out != `{"batchItemFailures":`+tc.fails+`}` {
				t.Errorf("decoded %q, answer %s; want %q, failures %s", got, out, tc.want, tc.fails)
			}
		})
	}
	// The error names the record and what is wrong.
	_, err = kafkaesm.ValueAs[Order](context.Background(), kafkaesm.Record{Topic: "orders", Offset: 9, Value: data[:3]}, dec)
	var de *kafkaesm.DecodeError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "orders-0 offset 9: decoding the value: kafkaesm/avro: the data does not match the schema") {
		t.Errorf("error %v", err)
	}
	if _, err := avro.New(`{"type":"record"}`); err == nil || !strings.Contains(err.Error(), "kafkaesm/avro: invalid schema") {
		t.Errorf("New with a bad schema: %v", err)
	}
}
