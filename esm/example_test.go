package esm_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/kafkaconn"
)

// A local MSK trigger for a function running under aws-lambda-rie
// (aws-lambda-rie --runtime-interface-emulator-address 127.0.0.1:9000 ./bootstrap),
// on the cluster of the MSK_* environment (msklink local prints it).
func Example() {
	cfg, err := kafkaconn.FromEnv(os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	cfg.Topic = "orders"
	fn, err := esm.NewHTTPFunction("http://127.0.0.1:9000", nil)
	if err != nil {
		log.Fatal(err)
	}
	m, err := esm.New(cfg,
		esm.WithFunction(fn),
		esm.WithStartingPosition(esm.TrimHorizon),
		esm.WithReportBatchItemFailures(true),
		esm.WithMaximumRetryAttempts(3),
		esm.WithOnFailureTopic("orders-dlt"),
	)
	if err != nil {
		log.Fatal(err) // an *esm.OptionError names the option and its range
	}
	log.Printf("event source mapping %s", m.GroupID())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := m.Run(ctx); err != nil {
		log.Fatal(err)
	}
	log.Printf("%+v", m.Stats())
}
