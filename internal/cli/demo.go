package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/esm"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const demoUsage = `[--timeout 60s] [-v]

Starts the local MSK emulator (IAM auth over TLS, 3 brokers), runs the
msklink Lambda handler against it with a sample event of each source
(direct invoke, SQS, API Gateway / function URL, EventBridge), consumes
the records back, then runs the consumer side: a local event source
mapping (package esm) delivers the records to a consumer function on the
kafkaesm handler, in-process, which fails one record once to show a
partial batch response and its retry. Prints what happened, with timings.
Exits 0 when every record made the round trip both ways. Needs no AWS
account and no network.`

// demoTopic is the topic the demo creates and publishes to.
const demoTopic = "orders"

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "demo", demoUsage)
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	verbose := fs.Bool("v", false, "show the emulator's and the handler's logs")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("demo: unexpected argument %q", pos[0])
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(e.stderr, nil))
	}
	out := e.stdout
	start := time.Now()

	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic(demoTopic, 3), emulator.WithLogger(logger))
	if err != nil {
		return fmt.Errorf("starting the emulator: %w", err)
	}
	defer c.Close()
	fmt.Fprintf(out, "emulator  %s, 3 brokers, IAM listener %s (%s)\n", c.ClusterARN(), c.Bootstrap(emulator.IAM), since(start))

	cfg := kafkaconn.Config{
		Brokers:     c.BootstrapAddrs(emulator.IAM),
		Region:      c.Region(),
		Topic:       demoTopic,
		TLSCAFile:   c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
	initStart := time.Now()
	h, err := lambdafn.New(ctx, lambdafn.WithConfig(cfg), lambdafn.WithFunctionName("msklink-demo"),
		lambdafn.WithLogger(logger), lambdafn.WithMetricsWriter(io.Discard))
	if err != nil {
		return fmt.Errorf("lambda init: %w", err)
	}
	defer h.Close()
	fmt.Fprintf(out, "init      handler built, connections opened and authenticated (IAM OAUTHBEARER) in %s\n\n", since(initStart))

	run := fmt.Sprintf("demo-%d", time.Now().UnixNano())
	var want []string
	val := func(source string, i int) string {
		v := fmt.Sprintf("%s/%s/%d", run, source, i)
		want = append(want, v)
		return v
	}
	events := []struct {
		source  string
		payload any
		records int
	}{
		{"direct", map[string]any{"topic": demoTopic, "records": []any{
			map[string]any{"key": "order-1", "value": val("direct", 1)},
			map[string]any{"key": "order-2", "value": val("direct", 2), "headers": map[string]string{"source": "demo"}},
			map[string]any{"key": "order-3", "value": map[string]string{"base64": base64.StdEncoding.EncodeToString([]byte(val("direct", 3)))}},
		}}, 3},
		{"sqs", map[string]any{"Records": []any{
			sqsMessage("m-1", val("sqs", 1)), sqsMessage("m-2", val("sqs", 2)),
		}}, 2},
		{"apigw", map[string]any{
			"version": "2.0", "routeKey": "POST /topics/{topic}", "rawPath": "/topics/" + demoTopic,
			"headers":        map[string]string{"content-type": "application/vnd.kafka.json.v2+json"},
			"requestContext": map[string]any{"http": map[string]string{"method": "POST", "path": "/topics/" + demoTopic}},
			"body":           mustJSON(map[string]any{"records": []any{map[string]any{"key": "a", "value": val("apigw", 1)}, map[string]any{"value": val("apigw", 2)}}}),
		}, 2},
		{"eventbridge", map[string]any{
			"version": "0", "id": "evt-1", "detail-type": "Order Placed", "source": "demo.orders", "account": "000000000000",
			"time": time.Now().UTC().Format(time.RFC3339), "region": c.Region(), "resources": []string{},
			"detail": map[string]string{"order": val("eventbridge", 1)},
		}, 1},
	}
	fmt.Fprintf(out, "%-12s %7s %6s %9s  %s\n", "source", "records", "acked", "time", "response")
	for i, ev := range events {
		payload, _ := json.Marshal(ev.payload)
		ictx, icancel := context.WithTimeout(ctx, 10*time.Second)
		ictx = lambdafn.InvocationContext(ictx, fmt.Sprintf("demo-%d", i+1), "arn:aws:lambda:"+c.Region()+":000000000000:function:msklink-demo")
		t := time.Now()
		resp, err := h.Invoke(ictx, payload)
		took := time.Since(t)
		icancel()
		if err != nil {
			fmt.Fprintf(out, "%-12s %7d %6s %9s  error: %v\n", ev.source, ev.records, "-", took.Round(time.Microsecond), err)
			continue
		}
		fmt.Fprintf(out, "%-12s %7d %6d %9s  %s\n", ev.source, ev.records, countAcked(ev.source, resp), took.Round(time.Microsecond), truncateText(string(resp), 90))
	}

	// REST Proxy's JSON embedded format writes each value as JSON (a
	// string in quotes), and EventBridge's value is the detail's JSON text.
	for i, w := range want {
		switch {
		case strings.HasPrefix(w, run+"/apigw/"):
			want[i] = mustJSON(w)
		case strings.HasPrefix(w, run+"/eventbridge/"):
			want[i] = mustJSON(map[string]string{"order": w})
		}
	}
	t := time.Now()
	got, err := consumeBack(ctx, cfg, run, len(want))
	if err != nil {
		return err
	}
	missing := 0
	for _, w := range want {
		if got[w] == 0 {
			missing++
			fmt.Fprintf(out, "missing   %s\n", w)
		}
	}
	fmt.Fprintf(out, "\nconsumed  %d of %d records back from %q through the IAM listener (%s)\n", len(want)-missing, len(want), demoTopic, since(t))
	if missing > 0 {
		fmt.Fprintf(out, "FAIL      %d records did not make the round trip\n", missing)
		return errProblem
	}
	if err := demoTrigger(ctx, out, cfg, c.ClusterARN(), want, logger); err != nil {
		return err
	}
	fmt.Fprintf(out, "ok        every record made the round trip in %s\n", since(start))
	return nil
}

// demoTrigger runs the consumer side: a local event source mapping on the
// demo topic invokes a consumer function on the kafkaesm handler
// (in-process, as a Lambda function under an MSK trigger would run), which
// fails the first record it sees once; it returns when every value of want
// was processed, or errProblem.
func demoTrigger(ctx context.Context, out io.Writer, cfg kafkaconn.Config, clusterARN string, want []string, logger *slog.Logger) error {
	var (
		mu        sync.Mutex
		processed = map[string]bool{}
		failed    string
	)
	fn, err := kafkaesm.New(func(ctx context.Context, r kafkaesm.Record) error {
		mu.Lock()
		defer mu.Unlock()
		v := string(r.Value)
		if failed == "" {
			failed = v
			return errors.New("demo: failing this record once")
		}
		processed[v] = true
		return nil
	}, kafkaesm.WithReportBatchItemFailures(true), kafkaesm.WithLogger(logger), kafkaesm.WithMetricsWriter(io.Discard),
		kafkaesm.WithGetenv(func(string) string { return "" }))
	if err != nil {
		return err
	}
	done := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, w := range want {
			if processed[w] {
				n++
			}
		}
		return n
	}
	start := time.Now()
	n := 0
	m, err := esm.New(cfg, esm.WithFunction(fn), esm.WithEventSourceARN(clusterARN), esm.WithStartingPosition(esm.TrimHorizon),
		esm.WithReportBatchItemFailures(true), esm.WithBatchingWindow(200*time.Millisecond), esm.WithLogger(logger),
		esm.WithRetryBackoff(10*time.Millisecond, 100*time.Millisecond),
		esm.WithOnInvoke(func(inv esm.Invocation) {
			n++
			what := inv.Result
			if inv.Result == esm.ResultPartial {
				what = fmt.Sprintf("partial batch response: %d failed, sent again", inv.Failed)
			}
			fmt.Fprintf(out, "invoke %-3d %2d records %9s  %s\n", n, inv.Records, inv.Duration.Round(time.Microsecond), what)
		}))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nesm       group %s on %q (aws:kafka events) -> consumer function (kafkaesm, in-process)\n", m.GroupID(), cfg.Topic)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- m.Run(rctx) }()
	for done() < len(want) && rctx.Err() == nil {
		select {
		case err := <-errc:
			if err == nil {
				err = rctx.Err()
			}
			return fmt.Errorf("demo: the event source mapping stopped: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	<-errc
	got := done()
	fmt.Fprintf(out, "delivered %d of %d records to the consumer function in %d invocations (%s)\n", got, len(want), n, since(start))
	if got < len(want) {
		fmt.Fprintf(out, "FAIL      %d records did not reach the consumer function\n", len(want)-got)
		return errProblem
	}
	return nil
}

func sqsMessage(id, body string) map[string]any {
	return map[string]any{"messageId": id, "receiptHandle": "rh-" + id, "body": body, "eventSource": "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:demo", "awsRegion": "us-east-1", "attributes": map[string]string{}, "messageAttributes": map[string]any{}}
}

// countAcked reads how many records a handler response says were written.
func countAcked(source string, resp []byte) int {
	var r struct {
		Acked    int `json:"acked"`
		Failures []struct {
			ID string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	json.Unmarshal(resp, &r)
	switch source {
	case "sqs":
		return 2 - len(r.Failures)
	case "apigw":
		var b struct {
			Offsets []struct {
				Offset *int64 `json:"offset"`
			} `json:"offsets"`
		}
		json.Unmarshal([]byte(r.Body), &b)
		n := 0
		for _, o := range b.Offsets {
			if o.Offset != nil {
				n++
			}
		}
		return n
	case "eventbridge":
		if r.Acked > 0 {
			return r.Acked
		}
		return 1
	}
	return r.Acked
}

// consumeBack reads the demo's records (values starting with run) and
// counts each value.
func consumeBack(ctx context.Context, cfg kafkaconn.Config, run string, n int) (map[string]int, error) {
	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.ConsumeTopics(cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond)))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	got := map[string]int{}
	seen := 0
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	for seen < n && ctx.Err() == nil {
		for _, r := range cl.PollFetches(ctx).Records() {
			v := string(r.Value)
			if strings.Contains(v, run) {
				got[v]++
				seen++
			}
		}
	}
	return got, nil
}

func since(t time.Time) string { return time.Since(t).Round(100 * time.Microsecond).String() }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
