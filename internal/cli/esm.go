package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/esm/eventfilter"
)

const esmUsage = `--topic T (--function URL | --handler-cmd CMD) ` + connFlagsUsage + ` [--batch-size 100] [--batching-window 500ms] [--starting-position LATEST|TRIM_HORIZON] [--report-batch-item-failures] [--max-retries -1] [--max-record-age -1|D] [--bisect-on-error] [--on-failure-topic T] [--group-id UUID] [--event-source-arn ARN] [--function-arn ARN] [--function-timeout 14m] ` + filterFlagsUsage + ` [--schema-registry URL [--schema-registry-auth U:P] [--event-record-format JSON|SOURCE] [--schema-validation KEY,VALUE]] [--json] ` + logLevelUsage + ` [-v]

Runs a local event source mapping: polls the topic as Lambda's
provisioned-mode MSK trigger does (a consumer group named after the
mapping's UUID, over IAM or SCRAM/TLS as the connection flags say) and
invokes the function with Lambda's Kafka events, until interrupted.

The function is one of:
  --function URL      Lambda's Invoke API: POST URL/2015-03-31/functions/function/invocations,
                      what aws-lambda-rie (and a Lambda container image) serves, e.g.
                      --function http://127.0.0.1:9000
  --handler-cmd CMD   a command run with /bin/sh -c for each batch: the event on its
                      stdin, its stdout the function's response (e.g. a partial batch
                      response), exit status 0 a success, any other a function error;
                      its stderr is passed through

Events are "aws:kafka" with --event-source-arn (the MSK cluster ARN, which
msklink local prints), else "SelfManagedKafka". Offsets are committed after
each invocation for what the function accepted, and for records given up
(after --max-retries, past --max-record-age, or alone over 6 MB), which go
to --on-failure-topic when set. Stopping (Ctrl-C, or a crash) commits
nothing more: run again with the same --group-id to get the rest. The
starting position is fixed when a mapping first runs (every partition is
committed there, as Lambda fixes it on create): a resume continues from
the commits whatever --starting-position says; a partition added to the
topic later starts at its oldest record. Each run prints where each
partition starts.

--filter and --filter-criteria set the mapping's FilterCriteria, Lambda's
event filtering on the record value (a JSON object, or a plain string:
'{"value": [{"prefix": "ok"}]}'): a record matching no filter is not
delivered, and is committed. A bad pattern is refused with the filter and
the part of it at fault.

On a terminal, a status line shows batches, records delivered and given
up (and filtered out, with filters), and the lag; with --json, one JSON
line per invocation, per record given up and per record filtered out goes
to stdout.` + esmSchemaUsage

// esmFlags maps esm.OptionError's option names to the flags that set them.
var esmFlags = map[string]string{
	"batch size": "batch-size", "batching window": "batching-window", "starting position": "starting-position",
	"maximum retry attempts": "max-retries", "maximum record age": "max-record-age", "on-failure topic": "on-failure-topic",
	"group id": "group-id", "event source ARN": "event-source-arn", "function timeout": "function-timeout", "function": "function",
}

// recordAge is --max-record-age: -1 (infinite) or a duration.
type recordAge time.Duration

func (a *recordAge) String() string {
	if *a < 0 {
		return "-1"
	}
	return time.Duration(*a).String()
}

func (a *recordAge) Set(s string) error {
	if s == "-1" {
		*a = -1
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("give -1 (infinite) or a duration such as 1h")
	}
	*a = recordAge(d)
	return nil
}

func runESM(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "esm", esmUsage)
	var cf connFlags
	cf.register(fs)
	function := fs.String("function", "", "the function's URL, Lambda's Invoke API (aws-lambda-rie: http://127.0.0.1:9000)")
	handlerCmd := fs.String("handler-cmd", "", "a command to run for each batch: event on stdin, response on stdout")
	batchSize := fs.Int("batch-size", esm.DefaultBatchSize, "most records in an event (Lambda: 1-10000)")
	window := fs.Duration("batching-window", esm.DefaultBatchingWindow, "how long a batch gathers records after its first (Lambda: 0-300s)")
	start := fs.String("starting-position", string(esm.Latest), "where a new mapping starts: TRIM_HORIZON (oldest) or LATEST (new records only); a group with commits resumes from them")
	reportFailures := fs.Bool("report-batch-item-failures", false, "read the function's partial batch response (ReportBatchItemFailures)")
	maxRetries := fs.Int("max-retries", -1, "retries of a failed record: 0-10000, or -1 for infinite (10 with --on-failure-topic)")
	maxAge := recordAge(-1)
	fs.Var(&maxAge, "max-record-age", "give up records older than this: 60s-168h, or -1 for infinite")
	bisect := fs.Bool("bisect-on-error", false, "split a failed batch in two and retry each half")
	onFailure := fs.String("on-failure-topic", "", "Kafka topic of the same cluster for records given up (default: dropped)")
	groupID := fs.String("group-id", "", "the consumer group id, the mapping's UUID (default: a new UUID, printed)")
	arn := fs.String("event-source-arn", "", `the MSK cluster ARN: events are "aws:kafka" (default: "SelfManagedKafka")`)
	functionARN := fs.String("function-arn", "", "the function ARN written in on-failure records (default: aws-lambda-rie's)")
	timeout := fs.Duration("function-timeout", esm.DefaultFunctionTimeout, "bound on one invocation (Lambda allows a Kafka trigger 14m)")
	var ff filterFlags
	ff.register(fs)
	asJSON := fs.Bool("json", false, "print each invocation and each record given up as a JSON line on stdout")
	logLevel := logLevelFlag(fs)
	verbose := fs.Bool("v", false, "log every invocation and the Kafka client's events on stderr (--log-level debug)")
	schema := registerESMSchemaFlags(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("esm: unexpected argument %q", pos[0])
	}
	if (*function == "") == (*handlerCmd == "") {
		return usagef("esm: give the function with exactly one of --function URL (aws-lambda-rie's, e.g. http://127.0.0.1:9000) or --handler-cmd CMD")
	}
	position, err := esm.ParseStartingPosition(*start)
	if err != nil {
		return usagef("esm: --starting-position %q: use TRIM_HORIZON or LATEST", *start)
	}
	filters, err := ff.criteria("esm")
	if err != nil {
		return err
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	if cfg.Topic == "" {
		return usagef("esm: no topic: pass --topic or set MSK_TOPIC")
	}

	var fn esm.Function
	target := *function
	if *function != "" {
		hf, err := esm.NewHTTPFunction(*function, nil)
		if err != nil {
			return usagef("esm: --function %q: give the function's URL, e.g. http://127.0.0.1:9000 (aws-lambda-rie's address)", *function)
		}
		fn, target = hf, hf.URL()
	} else {
		fn, target = esm.NewCommandFunction(*handlerCmd, e.stderr), "command "+strconv.Quote(*handlerCmd)
	}

	if *verbose {
		logLevel.Set(slog.LevelDebug)
	}
	out := &esmOutput{w: e.stdout, status: newProgress(e.stderr, isTerminal(e.stderr)), json: *asJSON}
	logger := slog.New(slog.NewTextHandler(out.status, &slog.HandlerOptions{Level: logLevel}))
	opts := []esm.Opt{
		esm.WithFunction(fn), esm.WithBatchSize(*batchSize), esm.WithBatchingWindow(*window),
		esm.WithReportBatchItemFailures(*reportFailures), esm.WithMaximumRetryAttempts(*maxRetries),
		esm.WithMaximumRecordAge(time.Duration(maxAge)), esm.WithBisectBatchOnFunctionError(*bisect),
		esm.WithOnFailureTopic(*onFailure), esm.WithGroupID(*groupID), esm.WithEventSourceARN(*arn),
		esm.WithFunctionTimeout(*timeout), esm.WithLogger(logger),
		esm.WithOnInvoke(out.invocation), esm.WithOnGiveUp(out.givenUp), esm.WithOnAssign(out.assigned),
	}
	if flagSet(fs, "starting-position") {
		// Given on a resume it has no effect; esm says so.
		opts = append(opts, esm.WithStartingPosition(position))
	}
	if *functionARN != "" {
		opts = append(opts, esm.WithFunctionARN(*functionARN))
	}
	if filters.Len() > eventfilter.DefaultMaxFilters {
		fmt.Fprintf(e.stderr, "msklink esm: note: %d filters: Lambda allows %d per event source mapping by default, up to %d with a quota increase\n",
			filters.Len(), eventfilter.DefaultMaxFilters, eventfilter.MaxFilters)
	}
	if filters != nil {
		out.filters = true
		opts = append(opts, esm.WithFilters(filters), esm.WithOnFilter(out.filtered))
	}
	schemaOpts, err := schema.opts(e.getenv)
	if err != nil {
		return err
	}
	opts = append(opts, schemaOpts...)
	m, err := esm.New(cfg, opts...)
	var oe *esm.OptionError
	if errors.As(err, &oe) {
		flag := esmFlags[oe.Option]
		if flag == "" {
			return usagef("esm: %s %s: %s", oe.Option, oe.Value, oe.Valid)
		}
		return usagef("esm: --%s %s: %s", flag, oe.Value, oe.Valid)
	}
	if err != nil {
		return err
	}
	out.m = m
	fmt.Fprintf(e.stderr, "msklink esm: group %s, topic %s -> %s (starting position %s if the group is new; a group with commits resumes from them)\n", m.GroupID(), m.Topic(), target, position)
	stopStatus := out.startStatus()
	err = m.Run(ctx)
	stopStatus()
	s := m.Stats()
	filtered := ""
	if filters != nil {
		filtered = fmt.Sprintf(", %d filtered out", s.Filtered)
	}
	fmt.Fprintf(e.stderr, "msklink esm: stopped after %d batches: %d records delivered, %d given up (%d to the on-failure topic)%s; group %s\n",
		s.Batches, s.Delivered, s.GivenUp, s.OnFailure, filtered, m.GroupID())
	return err
}

// esmOutput writes the command's output: JSON lines on stdout with
// --json, a status line on a terminal, logs on stderr (clearing the status
// line first).
type esmOutput struct {
	mu      sync.Mutex
	w       io.Writer // stdout, for --json
	status  *progress // stderr
	json    bool
	filters bool // the mapping has filters: counts on the status line
	m       *esm.ESM
}

func (o *esmOutput) jsonLine(v any) {
	if !o.json {
		return
	}
	b, _ := json.Marshal(v)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(append(b, '\n'))
}

func (o *esmOutput) invocation(inv esm.Invocation) {
	o.jsonLine(struct {
		Type        string  `json:"type"`
		Time        string  `json:"time"`
		RequestID   string  `json:"request_id"`
		Result      string  `json:"result"`
		Records     int     `json:"records"`
		Offsets     string  `json:"offsets"`
		Bytes       int     `json:"bytes"`
		DurationMs  float64 `json:"duration_ms"`
		Redelivered int     `json:"redelivered"`
		Accepted    int     `json:"accepted"`
		Failed      int     `json:"failed"`
		Retrying    int     `json:"retrying"`
		GivenUp     int     `json:"given_up"`
		Split       bool    `json:"split,omitempty"`
		Error       string  `json:"error,omitempty"`
	}{"invocation", inv.Start.UTC().Format(time.RFC3339Nano), inv.RequestID, inv.Result, inv.Records, inv.Offsets, inv.Bytes,
		float64(inv.Duration.Microseconds()) / 1000, inv.Redelivered, inv.Accepted, inv.Failed, inv.Retrying, inv.GivenUp, inv.Split, inv.Error})
}

// assigned says where each partition assigned starts: on stderr, and
// with --json as a line {"type":"assigned","partitions":[...]}.
func (o *esmOutput) assigned(starts []esm.PartitionStart) {
	type part struct {
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
		From      string `json:"from"`
		Position  string `json:"starting_position,omitempty"`
	}
	parts := make([]part, len(starts))
	what := make([]string, len(starts))
	for i, s := range starts {
		parts[i] = part{s.Topic, s.Partition, s.Offset, s.From, string(s.Position)}
		what[i] = s.String()
	}
	o.status.Printf("msklink esm: partitions assigned: %s\n", strings.Join(what, "; "))
	o.jsonLine(struct {
		Type       string `json:"type"`
		Time       string `json:"time"`
		Partitions []part `json:"partitions"`
	}{"assigned", time.Now().UTC().Format(time.RFC3339Nano), parts})
}

func (o *esmOutput) givenUp(g esm.GiveUp) {
	o.jsonLine(struct {
		Type        string `json:"type"`
		Time        string `json:"time"`
		Topic       string `json:"topic"`
		Partition   int32  `json:"partition"`
		Offset      int64  `json:"offset"`
		Condition   string `json:"condition"`
		Invokes     int    `json:"invokes"`
		Destination string `json:"on_failure_topic,omitempty"`
		Dropped     bool   `json:"payload_dropped,omitempty"`
		Error       string `json:"error,omitempty"`
	}{"given_up", time.Now().UTC().Format(time.RFC3339Nano), g.Topic, g.Partition, g.Offset, g.Condition, g.Invokes, g.Destination, g.PayloadDropped, g.Error})
}

func (o *esmOutput) filtered(f esm.Filtered) {
	o.jsonLine(struct {
		Type      string `json:"type"`
		Time      string `json:"time"`
		Topic     string `json:"topic"`
		Partition int32  `json:"partition"`
		Offset    int64  `json:"offset"`
	}{"filtered", time.Now().UTC().Format(time.RFC3339Nano), f.Topic, f.Partition, f.Offset})
}

// startStatus redraws the status line twice a second on a terminal, and
// returns the function that stops it and clears the line.
func (o *esmOutput) startStatus() (stop func()) {
	o.status.Start(func(time.Duration) string {
		s := o.m.Stats()
		filtered := ""
		if o.filters {
			filtered = fmt.Sprintf("  filtered %d", s.Filtered)
		}
		return fmt.Sprintf("batches %d  delivered %d  failed invocations %d  given up %d%s  lag %d",
			s.Batches, s.Delivered, s.FailedInvocations, s.GivenUp, filtered, s.Lag)
	})
	return o.status.Stop
}
