package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/internal/lambdaruntime"
	"github.com/msklink/msklink/lambdafn"
)

const invokeUsage = `--event FILE ` + connFlagsUsage + ` [--timeout 30s] [--source direct|sqs|apigw|eventbridge] [--request-id ID] [--function-name N] [--metrics] [--quiet]

Runs the Lambda handler (package lambdafn, what the msklink-lambda bootstrap
runs) in this process against the configured cluster: Init (client built and
warmed), then one invocation of the event in FILE ("-" for stdin) with a fake
Lambda context and a deadline of --timeout. Prints the function's response
on stdout, or {"errorMessage", "errorType"} as Lambda would. Logs (JSON, with
the request id) go to stderr. Exit 1 when the invocation failed or reported
records not acked (direct failed/unconfirmed, SQS batchItemFailures, an HTTP
status >= 400), or the doctor event's report found a problem.`

func runInvoke(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "invoke", invokeUsage)
	var cf connFlags
	cf.register(fs)
	eventFile := fs.String("event", "", `event JSON file ("-" for stdin)`)
	timeout := fs.Duration("timeout", 30*time.Second, "the invocation's deadline, as the function's timeout")
	source := fs.String("source", "", "event source: direct, sqs, apigw, eventbridge ($MSK_EVENT_SOURCE; default: detect)")
	requestID := fs.String("request-id", "", "the fake Lambda request id (default: msklink-invoke-<time>)")
	funcName := fs.String("function-name", "", "the function name for logs and metrics ($AWS_LAMBDA_FUNCTION_NAME; default msklink-invoke)")
	metrics := fs.Bool("metrics", false, "print the Embedded Metric Format lines on stderr")
	quiet := fs.Bool("quiet", false, "no logs on stderr")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("invoke: unexpected argument %q: give the event with --event FILE", pos[0])
	}
	if *eventFile == "" {
		return usagef("invoke: no event: pass --event FILE (a Lambda event JSON; \"-\" reads stdin)")
	}
	if *timeout <= 0 {
		return usagef("invoke: --timeout must be positive (got %s)", *timeout)
	}
	src, err := lambdafn.ParseSource(*source)
	if err != nil {
		return usagef("invoke: --source: %v", err)
	}
	var payload []byte
	if *eventFile == "-" {
		payload, err = io.ReadAll(io.LimitReader(e.stdin, 6<<20+1))
	} else {
		payload, err = os.ReadFile(*eventFile)
	}
	if err != nil {
		return fmt.Errorf("invoke: reading the event: %w", err)
	}
	if len(payload) > 6<<20 {
		return fmt.Errorf("invoke: the event is larger than Lambda's 6 MB synchronous payload limit")
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}

	var logOut io.Writer = e.stderr
	if *quiet {
		logOut = io.Discard
	}
	logger := slog.New(lambdafn.NewLogHandler(logOut, slog.LevelInfo))
	var metricsOut io.Writer
	if *metrics {
		metricsOut = e.stderr
	}
	name := *funcName
	if name == "" {
		name = e.getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	if name == "" {
		name = "msklink-invoke"
	}
	opts := []lambdafn.Opt{
		lambdafn.WithConfig(cfg), lambdafn.WithGetenv(e.getenv), lambdafn.WithLogger(logger),
		lambdafn.WithMetricsWriter(metricsOut), lambdafn.WithFunctionName(name),
		// The doctor event, answered as the bootstrap answers it, with
		// these settings.
		lambdafn.WithDoctor(doctor.LambdaFunc(cfg)),
	}
	if *source != "" {
		opts = append(opts, lambdafn.WithEventSource(src))
	}
	// Init, bounded as Lambda bounds it (10 s).
	ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
	h, err := lambdafn.New(ictx, opts...)
	icancel()
	if err != nil {
		return err
	}
	defer h.Close()

	id := *requestID
	if id == "" {
		id = fmt.Sprintf("msklink-invoke-%d", time.Now().UnixNano())
	}
	vctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	deadline, _ := vctx.Deadline()
	vctx = lambdafn.InvocationContext(vctx, id, "arn:aws:lambda:"+orDefault(cfg.Region, "us-east-1")+":000000000000:function:"+name)
	out, invokeErr := h.Invoke(vctx, payload)
	if invokeErr == nil && time.Now().After(deadline) {
		invokeErr = fmt.Errorf("invoke: the handler answered after the %s deadline: Lambda would have reported a timeout", *timeout)
	}
	if invokeErr != nil {
		b, _ := json.Marshal(struct {
			ErrorMessage string `json:"errorMessage"`
			ErrorType    string `json:"errorType"`
		}{invokeErr.Error(), lambdaruntime.ErrorType(invokeErr)})
		fmt.Fprintf(e.stdout, "%s\n", b)
		return errProblem
	}
	fmt.Fprintf(e.stdout, "%s\n", bytes.TrimSpace(out))
	if !allAcked(out) {
		return errProblem
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// allAcked reports whether a handler response says every record was
// written (no failed or unconfirmed direct results, no SQS batch item
// failures, an HTTP status below 400) or, for the doctor event, that the
// report is ok.
func allAcked(out []byte) bool {
	var probe struct {
		Failed            *int              `json:"failed"`
		Unconfirmed       *int              `json:"unconfirmed"`
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		StatusCode        *int              `json:"statusCode"`
		OK                *bool             `json:"ok"`
	}
	if err := json.Unmarshal(out, &probe); err != nil {
		return true // not ours to judge
	}
	switch {
	case probe.OK != nil && !*probe.OK:
		return false
	case probe.Failed != nil && *probe.Failed > 0, probe.Unconfirmed != nil && *probe.Unconfirmed > 0:
		return false
	case len(probe.BatchItemFailures) > 0:
		return false
	case probe.StatusCode != nil && *probe.StatusCode >= 400:
		return false
	}
	return true
}
