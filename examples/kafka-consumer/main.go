// Command kafka-consumer is a Lambda function triggered by Amazon MSK (or
// self-managed Kafka) through an event source mapping: it reads JSON
// orders, logs each one, and fails the records that are not orders, so the
// mapping retries them (and, after its retries, sends them to its
// on-failure destination) while the rest of the batch is committed.
//
// Build it for the provided.al2023 runtime:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./examples/kafka-consumer
//
// Configure the mapping with FunctionResponseTypes ["ReportBatchItemFailures"]
// and the function with MSK_REPORT_BATCH_ITEM_FAILURES=true (see package
// kafkaesm for the other variables). The execution role:
// msklink policy generate --esm --cluster-arn ARN --topic orders --group UUID.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

// Order is what the producers write to the topic, as JSON.
type Order struct {
	ID       string  `json:"id"`
	Customer string  `json:"customer"`
	Items    int     `json:"items"`
	Total    float64 `json:"total"`
}

var errNoID = errors.New("not an order: no id")

func main() {
	log := slog.New(kafkaesm.NewLogHandler(os.Stdout, kafkaesm.LogLevel()))
	kafkaesm.Start(func(ctx context.Context, r kafkaesm.Record) error {
		var o Order
		if err := r.ValueJSON(&o); err != nil {
			return err // logged by the handler, and retried
		}
		if o.ID == "" {
			return errNoID
		}
		log.InfoContext(ctx, "order received", "id", o.ID, "customer", o.Customer, "items", o.Items, "total", o.Total,
			"topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "key", string(r.Key))
		return nil
	})
}
