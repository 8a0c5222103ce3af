// Command msklink-lambda is the AWS Lambda bootstrap of msklink: it builds
// a lambdafn.Handler during Init (connection opened, authenticated and
// warmed) and serves invocations with it until Lambda sends SIGTERM, when
// it closes the Kafka client.
//
// Build it for the provided.al2023 runtime:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc -o bootstrap ./cmd/msklink-lambda
//
// Configuration is the MSK_* environment (see package kafkaconn's FromEnv
// and package lambdafn); docs/DEPLOYMENT.md has the whole list.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/lambdafn"
)

func main() {
	h, err := lambdafn.New(context.Background(), lambdafn.WithDoctor(doctor.Lambda))
	if err != nil {
		// Failing Init makes Lambda report the error (Runtime.ExitError)
		// with this message in the function's log.
		fmt.Fprintf(os.Stderr, "msklink-lambda: %v\n", err)
		os.Exit(1)
	}
	// Lambda sends SIGTERM before shutting the environment down (the
	// SIGTERM option registers the internal extension that enables it):
	// close the client, then exit rather than wait for SIGKILL.
	lambda.StartWithOptions(h, lambda.WithEnableSIGTERM(func() {
		h.Close()
		os.Exit(0)
	}))
}
