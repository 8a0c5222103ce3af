// Command msklink-lambda is the AWS Lambda bootstrap of msklink: it builds
// a lambdafn.Handler during Init (connection opened, authenticated and
// warmed) and serves invocations with it until Lambda sends SIGTERM, when
// it closes the Kafka client.
//
// Build it for the provided.al2023 runtime:
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags msklink.envcreds -o bootstrap ./cmd/msklink-lambda
//
// The msklink.envcreds tag keeps the AWS SDK's config loader (shared
// files, SSO, IMDS) out of the binary, about 2.7 MB of resident memory:
// credentials come from the environment, where Lambda puts them, and
// MSK_ROLE_ARN still assumes a role with them. Without the tag the
// bootstrap works too, with the SDK's whole default chain.
//
// Configuration is the MSK_* environment (see package kafkaconn's FromEnv
// and package lambdafn); docs/DEPLOYMENT.md has the whole list.
//
// Memory: unless GOMEMLIMIT is set, the Go runtime's soft memory limit is
// derived from the function's memory (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), so
// that the garbage collector works harder before Lambda would kill the
// function for running out of memory; and a direct invoke holds at most
// 128 KiB of record bytes in flight (lambdafn streams its records), so a
// large event costs its own size once, not three times. Invocations are
// served by internal/lambdaruntime rather than aws-lambda-go's
// lambda.Start, which reads each event into a doubling buffer (8.2 MB of
// allocations for a 2.1 MB event).
package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/lambdaruntime"
	"github.com/msklink/msklink/lambdafn"
	"github.com/msklink/msklink/publish"
)

// maxInFlightBytes bounds the record bytes a direct invoke has in flight.
// Under RIE, 10,000 records of 100 bytes peak at 19.6 MB RSS with 128 KiB
// and 20.4 MB with 256 KiB, in the same time (110-170 ms either way); with
// 1 MiB about 21.5 MB. franz-go still fills a batch per partition.
const maxInFlightBytes = 128 << 10

func main() {
	if limit, ok := memoryLimit(os.Getenv); ok {
		debug.SetMemoryLimit(limit)
	}
	h, err := lambdafn.New(context.Background(), lambdafn.WithDoctor(doctor.Lambda),
		lambdafn.WithPublishOpts(publish.WithMaxInFlightBytes(maxInFlightBytes)))
	if err != nil {
		// Failing Init makes Lambda report the error (Runtime.ExitError)
		// with this message in the function's log.
		fmt.Fprintf(os.Stderr, "msklink-lambda: %v\n", err)
		os.Exit(1)
	}
	// Lambda sends SIGTERM before shutting the environment down (OnSIGTERM
	// registers the internal extension that enables it): close the client,
	// then exit rather than wait for SIGKILL.
	err = lambdaruntime.Serve(os.Getenv("AWS_LAMBDA_RUNTIME_API"), h, lambdaruntime.Options{OnSIGTERM: func() {
		h.Close()
		os.Exit(0)
	}})
	fmt.Fprintf(os.Stderr, "msklink-lambda: %v\n", err)
	os.Exit(1)
}

// memoryLimit derives the Go runtime's soft memory limit from the
// function's memory size in MB (AWS_LAMBDA_FUNCTION_MEMORY_SIZE): the
// function's memory less an eighth of it, and at least 20 MiB, for what
// the runtime does not count (the binary's pages, about 12 MiB resident).
// ok is false when GOMEMLIMIT is set (the runtime has read it) or the size
// is missing or not a number.
func memoryLimit(getenv func(string) string) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	mb, err := strconv.ParseInt(getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"), 10, 64)
	if err != nil || mb <= 0 {
		return 0, false
	}
	total := mb << 20
	limit := total - max(total/8, 20<<20)
	if limit <= 0 {
		return 0, false
	}
	return limit, true
}
