// Command msklink-extension is msklink's AWS Lambda extension: the file
// extensions/msklink of a layer, which Lambda starts from /opt/extensions
// before the function's runtime. It runs package extension: a local
// Kafka listener on 127.0.0.1:9092 (MSK_PROXY_LISTEN) that connects to
// MSK (MSK_BOOTSTRAP_SERVERS) with TLS and IAM under the function's role.
//
// Build it as deploy/Makefile does (make -C deploy extension-layer.zip):
//
//	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -tags lambda.norpc,msklink.envcreds -o extensions/msklink ./cmd/msklink-extension
//
// The msklink.envcreds tag keeps the AWS SDK's config loader out:
// credentials come from the environment, where Lambda puts them.
// docs/EXTENSION.md describes the settings and the logs.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/msklink/msklink/extension"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := extension.Run(ctx, os.Getenv("AWS_LAMBDA_RUNTIME_API"), os.Args[0], os.Getenv, os.Stdout); err != nil {
		os.Exit(1)
	}
}
