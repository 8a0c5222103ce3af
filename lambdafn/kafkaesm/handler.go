package kafkaesm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/internal/lambdaruntime"
	"github.com/msklink/msklink/lambdafn/internal/telemetry"
)

// RecordFunc processes one record. Returning an error, or panicking,
// fails the record: it is retried, with every later record of its
// partition. ctx carries the invocation's context (lambdacontext) and a
// deadline the margin before Lambda's (see WithDeadlineMargin).
type RecordFunc func(ctx context.Context, r Record) error

// BatchFunc processes the records of a batch at once, for functions that
// write them in bulk. It returns one error per record (nil for success)
// in records' order, or a nil slice when all succeeded. A failed record
// fails every later record of its partition, whatever their result: the
// event source mapping resumes the partition at the first failure.
// records are the batch's well-formed records by topic, partition and
// offset; a partition's records after a malformed one are left out (they
// are retried).
type BatchFunc func(ctx context.Context, records []Record) []error

// Defaults of the options.
const (
	// DefaultDeadlineMargin is how long before the invocation's deadline
	// the handler stops handing records to the function and answers.
	DefaultDeadlineMargin = 600 * time.Millisecond
	// DefaultPartitionConcurrency: partitions are processed one after the
	// other.
	DefaultPartitionConcurrency = 1
)

// The environment variables the handler reads (WithGetenv), each the
// default of an option.
const (
	EnvReportBatchItemFailures = "MSK_REPORT_BATCH_ITEM_FAILURES" // WithReportBatchItemFailures: true or false
	EnvDeadlineMargin          = "MSK_DEADLINE_MARGIN"            // WithDeadlineMargin: a Go duration, "600ms"
	EnvPartitionConcurrency    = "MSK_PARTITION_CONCURRENCY"      // WithPartitionConcurrency: a number >= 1
)

// Opt configures New and NewBatch.
type Opt func(*config)

type config struct {
	getenv      func(string) string
	logger      *slog.Logger
	metrics     io.Writer
	metricsSet  bool
	funcName    string
	now         func() time.Time
	report      *bool
	margin      *time.Duration
	concurrency *int
}

// WithReportBatchItemFailures says whether the event source mapping has
// ReportBatchItemFailures in its FunctionResponseTypes. On, failed records
// are answered as a partial batch response (Response) and the rest of the
// batch is committed. Off, any failed record fails the invocation with a
// *BatchError, and the mapping retries the whole batch. It must match the
// mapping: a mapping without the setting (or in on-demand mode, where
// Lambda honours no Kafka partial batch response) ignores a partial batch
// response and commits the whole batch, so records reported failed would
// be lost.
// Default: off, or MSK_REPORT_BATCH_ITEM_FAILURES=true.
func WithReportBatchItemFailures(on bool) Opt { return func(c *config) { c.report = &on } }

// WithDeadlineMargin sets how long before the invocation's deadline the
// handler stops: records not processed by then are reported failed (they
// are retried), so a batch is never lost to a timeout. The function's
// ctx has that earlier deadline. Default DefaultDeadlineMargin, or
// MSK_DEADLINE_MARGIN.
func WithDeadlineMargin(d time.Duration) Opt { return func(c *config) { c.margin = &d } }

// WithPartitionConcurrency processes up to n partitions of a batch at
// once, each in its own goroutine; the records of a partition are always
// processed one at a time, in offset order (Kafka's ordering guarantee).
// Use it when the function is safe for concurrent use. Default
// DefaultPartitionConcurrency (1), or MSK_PARTITION_CONCURRENCY. Ignored
// by NewBatch.
func WithPartitionConcurrency(n int) Opt { return func(c *config) { c.concurrency = &n } }

// WithLogger sets the logger; records are logged with the invocation's
// context. Default: JSON lines on stdout with the request id
// ("requestId"), at the level of AWS_LAMBDA_LOG_LEVEL (info).
func WithLogger(l *slog.Logger) Opt { return func(c *config) { c.logger = l } }

// WithMetricsWriter sets where Embedded Metric Format lines go; nil turns
// metrics off. Default os.Stdout, where Lambda turns them into CloudWatch
// metrics.
func WithMetricsWriter(w io.Writer) Opt {
	return func(c *config) { c.metrics, c.metricsSet = w, true }
}

// WithFunctionName sets the FunctionName metric dimension. Default
// AWS_LAMBDA_FUNCTION_NAME, else "msklink".
func WithFunctionName(name string) Opt { return func(c *config) { c.funcName = name } }

// WithGetenv sets how the environment is read. Default os.Getenv.
func WithGetenv(getenv func(string) string) Opt { return func(c *config) { c.getenv = getenv } }

// WithClock sets the clock of the BatchAge metric. Default time.Now.
func WithClock(now func() time.Time) Opt { return func(c *config) { c.now = now } }

// Handler answers the Kafka events of an event source mapping with a
// RecordFunc or a BatchFunc. It implements aws-lambda-go's lambda.Handler
// and is safe for concurrent use.
type Handler struct {
	fn          RecordFunc
	batch       BatchFunc
	report      bool
	margin      time.Duration
	concurrency int
	log         *slog.Logger
	emf         *telemetry.EMF
	funcName    string
	now         func() time.Time
	coldStart   atomic.Bool
}

// New returns a Handler that calls fn for each record.
func New(fn RecordFunc, opts ...Opt) (*Handler, error) {
	if fn == nil {
		return nil, errors.New("kafkaesm: New: the RecordFunc is nil")
	}
	h, err := newHandler(opts)
	if err != nil {
		return nil, err
	}
	h.fn = fn
	return h, nil
}

// NewBatch returns a Handler that calls fn once per event with all its
// records.
func NewBatch(fn BatchFunc, opts ...Opt) (*Handler, error) {
	if fn == nil {
		return nil, errors.New("kafkaesm: NewBatch: the BatchFunc is nil")
	}
	h, err := newHandler(opts)
	if err != nil {
		return nil, err
	}
	h.batch = fn
	return h, nil
}

// Start runs fn as the Lambda function: New, then it serves the
// invocations over Lambda's Runtime API as aws-lambda-go's lambda.Start
// does, with msklink's runtime client (internal/lambdaruntime: each event
// is read into one reused buffer outside the Go heap, and the function
// links no net/rpc). A configuration error is printed and exits, which
// Lambda reports as an Init error.
func Start(fn RecordFunc, opts ...Opt) {
	start(New(fn, opts...))
}

// StartBatch is Start for a BatchFunc.
func StartBatch(fn BatchFunc, opts ...Opt) {
	start(NewBatch(fn, opts...))
}

func start(h *Handler, err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = lambdaruntime.Serve(os.Getenv("AWS_LAMBDA_RUNTIME_API"), h, lambdaruntime.Options{})
	fmt.Fprintf(os.Stderr, "kafkaesm: %v\n", err)
	os.Exit(1)
}

func newHandler(opts []Opt) (*Handler, error) {
	c := config{getenv: os.Getenv}
	for _, o := range opts {
		o(&c)
	}
	if c.getenv == nil {
		c.getenv = os.Getenv
	}
	h := &Handler{margin: DefaultDeadlineMargin, concurrency: DefaultPartitionConcurrency, now: c.now, log: c.logger, funcName: c.funcName}
	if h.now == nil {
		h.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(telemetry.NewLogHandler(os.Stdout, telemetry.LogLevel(c.getenv("AWS_LAMBDA_LOG_LEVEL"))))
	}
	if !c.metricsSet {
		c.metrics = os.Stdout
	}
	h.emf = telemetry.NewEMF(c.metrics, nil)
	if h.funcName == "" {
		h.funcName = c.getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	if h.funcName == "" {
		h.funcName = "msklink"
	}

	switch v := c.getenv(EnvReportBatchItemFailures); {
	case c.report != nil:
		h.report = *c.report
	case v != "":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("kafkaesm: %s=%q: use true (the event source mapping has ReportBatchItemFailures) or false", EnvReportBatchItemFailures, v)
		}
		h.report = b
	}
	switch v := c.getenv(EnvDeadlineMargin); {
	case c.margin != nil:
		h.margin = *c.margin
	case v != "":
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("kafkaesm: %s=%q: want a duration such as 600ms or 2s", EnvDeadlineMargin, v)
		}
		h.margin = d
	}
	if h.margin < 0 {
		return nil, fmt.Errorf("kafkaesm: deadline margin %s is negative: use 0 or more (default %s)", h.margin, DefaultDeadlineMargin)
	}
	switch v := c.getenv(EnvPartitionConcurrency); {
	case c.concurrency != nil:
		h.concurrency = *c.concurrency
	case v != "":
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("kafkaesm: %s=%q: want a number of partitions, 1 or more", EnvPartitionConcurrency, v)
		}
		h.concurrency = n
	}
	if h.concurrency < 1 {
		return nil, fmt.Errorf("kafkaesm: partition concurrency %d: use 1 or more (default %d)", h.concurrency, DefaultPartitionConcurrency)
	}
	h.coldStart.Store(true)
	return h, nil
}

// NewLogHandler returns the log handler the Handler uses by default, for
// the function's own logs: JSON lines in Lambda's key names, with the
// invocation's request id ("requestId") when logged with its context, at
// level, written to w.
func NewLogHandler(w io.Writer, level slog.Leveler) slog.Handler {
	return telemetry.NewLogHandler(w, level)
}

// LogLevel is the level of AWS_LAMBDA_LOG_LEVEL (Lambda's advanced
// logging controls) in the environment; INFO when unset.
func LogLevel() slog.Level { return telemetry.LogLevel(os.Getenv("AWS_LAMBDA_LOG_LEVEL")) }

// ReportsBatchItemFailures reports whether h answers with partial batch
// responses (WithReportBatchItemFailures).
func (h *Handler) ReportsBatchItemFailures() bool { return h.report }

// BatchError fails an invocation in which records failed, when the
// handler does not report batch item failures: the event source mapping
// then retries the whole batch. Lambda shows its type as errorType
// "BatchError".
type BatchError struct {
	Records int // records in the batch
	// Failed is the first record not processed of each partition that
	// was not processed whole, in the order of the partitions.
	Failed []*RecordError
}

func (e *BatchError) Error() string {
	var b strings.Builder
	b.WriteString("kafkaesm: ")
	if len(e.Failed) > 0 {
		b.WriteString(strings.TrimPrefix(e.Failed[0].Error(), "kafkaesm: "))
	}
	if n := len(e.Failed) - 1; n > 0 {
		fmt.Fprintf(&b, " (and %d more partition(s) not processed)", n)
	}
	fmt.Fprintf(&b, ": the event source mapping retries the batch of %d records (with ReportBatchItemFailures on the mapping and MSK_REPORT_BATCH_ITEM_FAILURES=true only the failed partitions are retried)", e.Records)
	return b.String()
}

// Unwrap returns the failures.
func (e *BatchError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f
	}
	return errs
}

// PanicError is a record whose function panicked; the handler recovers
// and fails the record.
type PanicError struct {
	Value any    // what the function panicked with
	Stack []byte // the goroutine's stack at the panic
}

func (e *PanicError) Error() string { return fmt.Sprintf("the function panicked: %v", e.Value) }

// ErrDeadline is the error of records the handler did not hand to the
// function, or stopped waiting for, because the invocation's deadline
// minus the margin passed.
var ErrDeadline = errors.New("not processed before the invocation's deadline (minus the margin): retried")

// ErrBatchStopped is the error of a partition's first record the handler
// did not process because a record of another partition failed and, without
// partial batch responses, the whole batch is retried anyway.
var ErrBatchStopped = errors.New("not processed: another partition's record failed and the whole batch is retried")

// Invoke handles one event: it implements lambda.Handler. It answers a
// Response (an empty one when all records succeeded), or an error: an
// *EventError for an event it cannot read, a *BatchError when records
// failed and the handler does not report batch item failures.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	parts, ev, err := parse(payload)
	if err != nil {
		cold := h.coldStart.Swap(false)
		h.log.WarnContext(ctx, "invalid Kafka event", "error", err, "coldStart", cold)
		return nil, err
	}
	resp, err := h.handle(ctx, start, ev, parts)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// Handle processes a decoded event (ParseEvent) as Invoke does, for
// callers that decode themselves or run the handler outside Lambda.
func (h *Handler) Handle(ctx context.Context, ev *Event) (*Response, error) {
	start := time.Now()
	return h.handle(ctx, start, ev, partitionsOf(ev))
}

// partitionsOf regroups a parsed event's records by partition.
func partitionsOf(ev *Event) []partition {
	var parts []partition
	index := map[string]int{}
	add := func(rec Record, re *RecordError) {
		k := PartitionKey(rec.Topic, rec.Partition)
		i, ok := index[k]
		if !ok {
			i = len(parts)
			index[k] = i
			parts = append(parts, partition{key: k, topic: rec.Topic, part: rec.Partition})
		}
		parts[i].items = append(parts[i].items, item{rec: rec, err: re})
	}
	for _, r := range ev.Records {
		add(r, nil)
	}
	for _, re := range ev.Invalid {
		rec := Record{Offset: re.ID.Offset}
		if i := strings.LastIndexByte(re.ID.Partition, '-'); i > 0 {
			n, _ := strconv.ParseInt(re.ID.Partition[i+1:], 10, 32)
			rec.Topic, rec.Partition = re.ID.Partition[:i], int32(n)
		}
		add(rec, re)
	}
	for i := range parts {
		// Records, then invalid ones, were appended: restore offset order.
		slices.SortStableFunc(parts[i].items, func(a, b item) int { return cmp.Compare(a.rec.Offset, b.rec.Offset) })
	}
	return parts
}
