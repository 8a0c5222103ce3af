package avro_test

import (
	"context"
	"testing"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/msklink/msklink/lambdafn/kafkaesm/avro"
)

// FuzzDecode: any bytes decode into the record or fail with an error;
// nothing panics, and a success consumed every byte.
func FuzzDecode(f *testing.F) {
	dec, err := avro.New(`{"type":"record","name":"R","fields":[{"name":"s","type":"string"},{"name":"n","type":["null","long"]},{"name":"m","type":{"type":"map","values":"int"}}]}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{2, 'a', 0, 0}, true)
	f.Add([]byte{0, 0, 0, 0, 1, 2, 'a', 2, 4, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, withSchema bool) {
		r := kafkaesm.Record{Topic: "t", Value: b}
		if withSchema {
			r.ValueSchema = &kafkaesm.SchemaMetadata{DataFormat: "AVRO", SchemaID: "1"}
		}
		kafkaesm.ValueAs[map[string]any](context.Background(), r, dec)
	})
}
