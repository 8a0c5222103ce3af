// Package telemetry holds what the Lambda handlers of package lambdafn and
// lambdafn/kafkaesm share to be observed the same way: JSON log lines with
// the invocation's request id, and CloudWatch Embedded Metric Format (EMF)
// lines in one namespace.
//
// Everything here is safe for concurrent use.
package telemetry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Namespace is the CloudWatch namespace of every msklink metric.
const Namespace = "msklink"

// NewLogHandler returns JSON lines in Lambda's key names, with the
// request id, at level, written to w.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return RequestIDHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: lambdacontext.ReplaceAttr}))
}

// LogLevel reads AWS_LAMBDA_LOG_LEVEL (Lambda's advanced logging
// controls): DEBUG or TRACE, INFO (also the default for anything else),
// WARN, ERROR or FATAL.
func LogLevel(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "DEBUG", "TRACE":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// RequestIDHandler wraps h so that records logged with a Lambda
// invocation's context carry its request id as "requestId". Records
// logged without one pass through unchanged.
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

// Metric names one metric of an EMF line and its CloudWatch unit.
type Metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// Dim is one dimension: its name and value.
type Dim struct{ Name, Value string }

// EMF writes Embedded Metric Format lines, which Lambda's log agent turns
// into CloudWatch metrics. A nil writer writes nothing.
type EMF struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewEMF returns an EMF writing to w (nil: nowhere), stamping lines with
// now (nil: time.Now).
func NewEMF(w io.Writer, now func() time.Time) *EMF {
	if now == nil {
		now = time.Now
	}
	return &EMF{w: w, now: now}
}

type emfDirective struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []Metric   `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// Write emits one line: the dimensions, and metrics[i] with values[i].
func (m *EMF) Write(dims []Dim, metrics []Metric, values []any) {
	if m == nil || m.w == nil {
		return
	}
	doc := map[string]any{}
	names := make([]string, len(dims))
	for i, d := range dims {
		names[i] = d.Name
		doc[d.Name] = d.Value
	}
	for i, mt := range metrics {
		doc[mt.Name] = values[i]
	}
	doc["_aws"] = emfMeta{
		Timestamp:         m.now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{Namespace: Namespace, Dimensions: [][]string{names}, Metrics: metrics}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(b)
}

// Ms is d in milliseconds with microsecond precision, as logs and
// metrics report durations.
func Ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
