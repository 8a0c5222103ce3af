package protobuf_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/msklink/msklink/lambdafn/kafkaesm/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

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

// TestDecode: messages marshalled by protobuf's generated code decode into
// the generated type (a generated type of the protobuf module stands for
// the user's): with Confluent's header and message indexes, as a mapping
// with EventRecordFormat SOURCE delivers them with or without the indexes,
// and behind Glue's header; bytes that are not such a message fail their
// record.
func TestDecode(t *testing.T) {
	data, err := proto.Marshal(&timestamppb.Timestamp{Seconds: 1700000000, Nanos: 7})
	if err != nil {
		t.Fatal(err)
	}
	md := `{"dataFormat":"PROTOBUF","schemaId":"4"}`
	glue := append([]byte{3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, data...)
	for _, tc := range []struct {
		name  string
		ev    []byte
		want  string
		fails string
	}{
		{"confluent [0]", event("", append([]byte{0, 0, 0, 0, 4, 0}, data...)), "1700000000.7", `[]`},
		{"confluent [1 0]", event("", append([]byte{0, 0, 0, 0, 4, 4, 2, 0}, data...)), "1700000000.7", `[]`},
		{"source", event(md, data), "1700000000.7", `[]`},
		{"source with indexes", event(md, append([]byte{0}, data...)), "1700000000.7", `[]`},
		{"glue", event("", glue), "1700000000.7", `[]`},
		{"not protobuf", event(md, data, []byte{0x0a, 0xff}), "1700000000.7", `[{"itemIdentifier":{"partition":"orders-0","offset":1}}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := kafkaesm.New(func(ctx context.Context, r kafkaesm.Record) error {
				ts, err := kafkaesm.ValueAs[*timestamppb.Timestamp](ctx, r, protobuf.Decoder{})
				if err != nil {
					return err
				}
				t.Logf("decoded %v", ts)
				if got := fmt.Sprintf("%d.%d", ts.Seconds, ts.Nanos); got != tc.want {
					t.Errorf("decoded %s, want %s", got, tc.want)
				}
				return nil
			}, kafkaesm.WithReportBatchItemFailures(true), kafkaesm.WithLogger(slog.New(slog.DiscardHandler)), kafkaesm.WithMetricsWriter(nil))
			if err != nil {
				t.Fatal(err)
			}
			out, err := h.Invoke(context.Background(), tc.ev)
			if err != nil || string(out) != `{"batchItemFailures":`+tc.fails+`}` {
				t.Errorf("answer %s, %v; want failures %s", out, err, tc.fails)
			}
		})
	}
	var de *kafkaesm.DecodeError
	_, err = kafkaesm.ValueAs[*timestamppb.Timestamp](context.Background(), kafkaesm.Record{Topic: "orders", Offset: 3, Value: []byte{0x0a, 0xff}, ValueSchema: &kafkaesm.SchemaMetadata{DataFormat: "PROTOBUF"}}, protobuf.Decoder{})
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "orders-0 offset 3: decoding the value: kafkaesm/protobuf: the data is not a google.protobuf.Timestamp") {
		t.Errorf("error %v", err)
	}
	_, err = kafkaesm.ValueAs[string](context.Background(), kafkaesm.Record{Topic: "orders", Value: data}, protobuf.Decoder{})
	if err == nil || !strings.Contains(err.Error(), "*string is not a generated Protobuf message") {
		t.Errorf("a string target: %v", err)
	}
}
