package kafkaesm_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

type Order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// sampleEvent is an MSK event with three orders in partition 0 of topic
// "orders", the second of them not JSON.
func sampleEvent() []byte {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	return []byte(`{"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:us-east-1:123456789012:cluster/shop/abc-1",
		"records":{"orders-0":[
			{"topic":"orders","partition":0,"offset":41,"timestamp":1700000000000,"timestampType":"CREATE_TIME","value":"` + b64(`{"id":"o-41","qty":1}`) + `"},
			{"topic":"orders","partition":0,"offset":42,"timestamp":1700000000100,"timestampType":"CREATE_TIME","value":"` + b64(`not json`) + `"},
			{"topic":"orders","partition":0,"offset":43,"timestamp":1700000000200,"timestampType":"CREATE_TIME","value":"` + b64(`{"id":"o-43","qty":3}`) + `"}]}}`)
}

// quiet keeps the example's output to what it prints.
var quiet = []kafkaesm.Opt{kafkaesm.WithLogger(slog.New(slog.DiscardHandler)), kafkaesm.WithMetricsWriter(nil)}

// A per-record function: a record that does not decode fails, and the
// event source mapping (with ReportBatchItemFailures) retries it and the
// records after it in its partition. In a Lambda function's main:
//
//	kafkaesm.Start(process, kafkaesm.WithReportBatchItemFailures(true))
func ExampleNew() {
	process := func(ctx context.Context, r kafkaesm.Record) error {
		var o Order
		if err := r.ValueJSON(&o); err != nil {
			return err
		}
		fmt.Printf("order %s x%d from %s offset %d\n", o.ID, o.Qty, r.Topic, r.Offset)
		return nil
	}
	h, err := kafkaesm.New(process, append(quiet, kafkaesm.WithReportBatchItemFailures(true))...)
	if err != nil {
		panic(err)
	}
	out, err := h.Invoke(context.Background(), sampleEvent())
	fmt.Println(string(out), err)
	// Output:
	// order o-41 x1 from orders offset 41
	// {"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":42}}]} <nil>
}

// A batch function writes the records at once and returns one error per
// record; a nil slice means all succeeded.
func ExampleNewBatch() {
	insert := func(ctx context.Context, recs []kafkaesm.Record) []error {
		errs := make([]error, len(recs))
		var rows []string
		for i, r := range recs {
			var o Order
			if errs[i] = r.ValueJSON(&o); errs[i] == nil {
				rows = append(rows, o.ID)
			}
		}
		fmt.Println("inserting", strings.Join(rows, ","))
		return errs
	}
	h, err := kafkaesm.NewBatch(insert, quiet...)
	if err != nil {
		panic(err)
	}
	// Without ReportBatchItemFailures a failed record fails the
	// invocation, and the whole batch is retried.
	_, err = h.Invoke(context.Background(), sampleEvent())
	var be *kafkaesm.BatchError
	fmt.Println(errors.As(err, &be), be.Failed[0].ID)
	// Output:
	// inserting o-41,o-43
	// true {orders-0 42}
}

// ParseWire recognises a schema registry's header and exposes the schema
// id; the data after it goes to the decoder of its format.
func ExampleParseWire() {
	framed := append([]byte{0, 0, 0, 0x04, 0xd2}, `{"id":"o-1","qty":2}`...) // Confluent, schema 1234
	p, err := kafkaesm.ParseWire(framed)
	if err != nil {
		panic(err)
	}
	fmt.Println(p.Format, p.SchemaID, string(p.Data))
	// Output:
	// confluent 1234 {"id":"o-1","qty":2}
}

// An Avro or Protobuf decoder plugs in as a Decoder; DecodeValue hands it
// the value without its schema registry header.
func ExampleDecoderFunc() {
	registry := map[string]func([]byte) (string, error){
		"7": func(b []byte) (string, error) { return strings.ToUpper(string(b)), nil },
	}
	dec := kafkaesm.DecoderFunc(func(ctx context.Context, p kafkaesm.Payload, v any) error {
		decode, ok := registry[p.SchemaID]
		if !ok {
			return fmt.Errorf("schema %s is not registered", p.SchemaID)
		}
		s, err := decode(p.Data)
		*v.(*string) = s
		return err
	})
	r := kafkaesm.Record{Topic: "t", Value: append([]byte{0, 0, 0, 0, 7}, "hello"...)}
	var s string
	fmt.Println(r.DecodeValue(context.Background(), dec, &s), s)
	r.Value[4] = 8
	fmt.Println(r.DecodeValue(context.Background(), dec, &s))
	// Output:
	// <nil> HELLO
	// kafkaesm: t-0 offset 0: decoding the value: schema 8 is not registered
}
