package lambdafn

import (
	"context"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/msklink/msklink/lambdafn/internal/telemetry"
)

// NewLogHandler returns the log handler New uses by default, writing to w:
// JSON lines in Lambda's key names, with the request id, at level.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return telemetry.NewLogHandler(w, level)
}

// InvocationContext returns ctx as the Lambda runtime hands it to a
// handler: carrying the invocation's request id and the function's ARN.
// It is for running the handler outside Lambda (msklink invoke, tests).
func InvocationContext(ctx context.Context, requestID, functionARN string) context.Context {
	return lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: requestID, InvokedFunctionArn: functionARN})
}

// RequestIDHandler wraps h so that records logged with a Lambda invocation's
// context carry its request id as "requestId" (the key Lambda's own JSON
// logs use). Records logged without one pass through unchanged. It is what
// New's default logger uses; aws-lambda-go's lambdacontext.NewLogHandler
// does the same but writes to stdout only.
func RequestIDHandler(h slog.Handler) slog.Handler { return telemetry.RequestIDHandler(h) }
