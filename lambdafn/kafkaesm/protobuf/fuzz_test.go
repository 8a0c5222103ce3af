package protobuf_test

import (
	"context"
	"testing"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/msklink/msklink/lambdafn/kafkaesm/protobuf"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzDecode: any bytes, framed or not, decode or fail with an error;
// nothing panics.
func FuzzDecode(f *testing.F) {
	data, _ := proto.Marshal(&timestamppb.Timestamp{Seconds: 1, Nanos: 2})
	f.Add(append([]byte{0, 0, 0, 0, 1, 0}, data...), false)
	f.Add(append([]byte{0}, data...), true)
	f.Add([]byte{2, 2}, true)
	f.Fuzz(func(t *testing.T, b []byte, withSchema bool) {
		r := kafkaesm.Record{Topic: "t", Value: b}
		if withSchema {
			r.ValueSchema = &kafkaesm.SchemaMetadata{DataFormat: "PROTOBUF", SchemaID: "1"}
		}
		kafkaesm.ValueAs[*timestamppb.Timestamp](context.Background(), r, protobuf.Decoder{})
	})
}
