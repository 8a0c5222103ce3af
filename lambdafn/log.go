package lambdafn

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// RequestIDHandler wraps h so that records logged with a Lambda invocation's
// context carry its request id as "requestId" (the key Lambda's own JSON
// logs use). Records logged without one pass through unchanged. It is what
// New's default logger uses; aws-lambda-go's lambdacontext.NewLogHandler
// does the same but writes to stdout only.
func RequestIDHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ h slog.Handler }

func (r requestIDHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return r.h.Enabled(ctx, l)
}

func (r requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		rec.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return r.h.Handle(ctx, rec)
}

func (r requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{r.h.WithAttrs(as)}
}

func (r requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{r.h.WithGroup(name)}
}
