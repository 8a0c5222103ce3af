package schemareg_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/internal/schemareg"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNewDecoderErrors(t *testing.T) {
	srv := schemareg.NewServer()
	for _, tc := range []struct {
		cfg  schemareg.Config
		want string
	}{
		{schemareg.Config{Registry: srv, EventRecordFormat: "XML", Validate: []string{"VALUE"}}, `EventRecordFormat "XML": use JSON`},
		{schemareg.Config{Registry: srv, EventRecordFormat: "JSON"}, "SchemaValidationConfigs is empty"},
		{schemareg.Config{Registry: srv, EventRecordFormat: "SOURCE", Validate: []string{"HEADERS"}}, `attribute "HEADERS": use KEY or VALUE`},
		{schemareg.Config{EventRecordFormat: "SOURCE", Validate: []string{"KEY"}}, "no registry"},
	} {
		if _, err := schemareg.NewDecoder(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if got, err := schemareg.ParseAttributes("value, key,VALUE"); err != nil || strings.Join(got, ",") != "VALUE,KEY" {
		t.Errorf("ParseAttributes: %v %v", got, err)
	}
	if _, err := schemareg.ParseAttributes("VALUE,"); err == nil {
		t.Error("ParseAttributes took an empty attribute")
	}
}

// FuzzDecodeRecord: any value is decoded, or rejected with a SchemaError
// naming the record; nothing panics, nothing else fails (the registry is
// in process and always answers).
func FuzzDecodeRecord(f *testing.F) {
	srv := schemareg.NewServer()
	av, _ := srv.Register("a", "AVRO", orderAvro)
	pb, _ := srv.Register("p", "PROTOBUF", stampProto)
	js, _ := srv.Register("j", "JSON", orderJSONSchema)
	d, err := schemareg.NewDecoder(schemareg.Config{Registry: srv, EventRecordFormat: "JSON", Validate: []string{"VALUE"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(confluent(av.ID, avroOrder(f, order{ID: "x", Qty: 1})))
	f.Add(confluent(pb.ID, []byte{2, 2}, protoStamp(f, 1, 2)))
	f.Add(confluent(js.ID, []byte(`{"id":"x","qty":1}`)))
	f.Add(glue(f, av.GUID, true, avroOrder(f, order{ID: "y", Qty: 2})))
	f.Add([]byte{3, 5, 1})
	f.Add([]byte("plain"))
	f.Fuzz(func(t *testing.T, value []byte) {
		if value == nil {
			value = []byte{}
		}
		out, err := d.DecodeRecord(context.Background(), &kgo.Record{Topic: "t", Value: value})
		var se *esm.SchemaError
		switch {
		case err == nil:
			if out.ValueSchema == nil || out.FilterValue == nil {
				t.Fatalf("decoded without metadata: %+v", out)
			}
		case !errors.As(err, &se) || !strings.Contains(err.Error(), "t-0 offset 0 value"):
			t.Fatalf("error %v is not a SchemaError naming the record", err)
		}
	})
}
