// Command consumerfn is the Lambda function of package esm's end-to-end
// tests: a Kafka consumer on kafkaesm that fails records on demand and
// writes a line for every record it is handed to $SEEN_FILE:
//
//	<request id> <topic>-<partition>@<offset> <value> ok|failed
//
// A record fails when its value starts with "poison", or at random with
// probability $FAIL_RATE (a float) from a generator seeded with $SEED.
// Set MSK_REPORT_BATCH_ITEM_FAILURES=true for partial batch responses.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

func main() {
	seen, err := os.OpenFile(os.Getenv("SEEN_FILE"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		panic(err)
	}
	rate, _ := strconv.ParseFloat(os.Getenv("FAIL_RATE"), 64)
	seed, _ := strconv.ParseUint(os.Getenv("SEED"), 10, 64)
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	kafkaesm.Start(func(ctx context.Context, r kafkaesm.Record) error {
		mu.Lock()
		defer mu.Unlock()
		var reqID string
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			reqID = lc.AwsRequestID
		}
		var err error
		switch {
		case bytes.HasPrefix(r.Value, []byte("poison")):
			err = errors.New("poison record")
		case rate > 0 && rng.Float64() < rate:
			err = errors.New("random failure")
		}
		result := "ok"
		if err != nil {
			result = "failed"
		}
		fmt.Fprintf(seen, "%s %s-%d@%d %s %s\n", reqID, r.Topic, r.Partition, r.Offset, r.Value, result)
		return err
	})
}
