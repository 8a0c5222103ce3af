package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/msklink/msklink/kafkaconn"
)

// Lambda runs the doctor with the connection settings of the MSK_*
// environment (kafkaconn.FromEnv) and returns the Report's JSON, for the
// Lambda event {"msklink":"doctor","topic":"..."}: the diagnosis then runs in
// the function's own VPC, subnets, security group and role. topic overrides
// MSK_TOPIC when not empty.
//
// The per-layer timeout is DefaultTimeout, shortened so that ten layers fit
// in the invocation's remaining time (ctx's deadline), but not below one
// second. The diagnosis stops a margin (a tenth of the time left, 100 to
// 500 ms) before the deadline so that the report reaches Lambda; one cut
// short says so in its summary. A configuration error is a Report with
// cause "config", not an error; the error is only for a Report that
// cannot be encoded.
func Lambda(ctx context.Context, topic string) (json.RawMessage, error) {
	cfg, err := kafkaconn.FromEnv(os.Getenv)
	var r Report
	if err != nil {
		r = ConfigReport(err)
	} else {
		r = lambdaRun(ctx, cfg, topic)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// LambdaFunc is Lambda for cfg instead of the MSK_* environment: a hook
// for lambdafn.WithDoctor when the handler's settings come from elsewhere
// (msklink invoke's flags).
func LambdaFunc(cfg kafkaconn.Config) func(ctx context.Context, topic string) (json.RawMessage, error) {
	return func(ctx context.Context, topic string) (json.RawMessage, error) {
		return json.Marshal(lambdaRun(ctx, cfg, topic))
	}
}

// lambdaRun runs the doctor within the invocation: it stops a margin
// before ctx's deadline so that the report reaches Lambda before the
// function is timed out, and a diagnosis cut short says so instead of
// blaming the layer that was running.
func lambdaRun(ctx context.Context, cfg kafkaconn.Config, topic string) Report {
	timeout := lambdaTimeout(ctx)
	dl, ok := ctx.Deadline()
	if !ok {
		return Run(ctx, cfg, WithTopic(topic), WithTimeout(timeout))
	}
	margin := min(max(time.Until(dl)/10, 100*time.Millisecond), 500*time.Millisecond)
	budget := time.Until(dl) - margin
	rdl := dl.Add(-margin)
	rctx, cancel := context.WithDeadline(ctx, rdl)
	defer cancel()
	r := Run(rctx, cfg, WithTopic(topic), WithTimeout(timeout))
	// Probes set their sockets' deadlines from the context's, and such a
	// deadline can fire before the context's own timer: look at the clock
	// too.
	if cut := rctx.Err() != nil || !time.Now().Before(rdl); cut && !r.OK {
		r.Summary = fmt.Sprintf("the invocation's time ran out before the diagnosis finished (%s left for it, %s per layer); the check cut short reported: %s",
			budget.Round(time.Millisecond), timeout, r.Summary)
		r.Fix = "raise the function's timeout (the doctor needs up to ten times the per-layer timeout, which is a tenth of the time left, at least 1s) and invoke it again; if it runs out again, the broker answers that slowly from inside the VPC: " + r.Fix
	}
	return r
}

func lambdaTimeout(ctx context.Context) time.Duration {
	t := DefaultTimeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl) / 10; left < t {
			t = max(left, time.Second)
		}
	}
	return t
}

// ConfigReport is the Report for connection settings that cannot be read
// (kafkaconn.FromEnv's error: a variable that is not a duration, a bool):
// cause config, the error as the summary, the fix of each
// *kafkaconn.ConfigError (else the config cause's), every layer after
// config skipped. Lambda and msklink doctor answer such settings with it.
func ConfigReport(err error) Report {
	d := &diag{o: options{log: slog.New(slog.DiscardHandler)}}
	d.add("config", "config", Fail, 0, err.Error())
	d.failed(CauseConfig, "the connection settings cannot be read: "+err.Error())
	var fixes []string
	for _, e := range unjoin(err) {
		var ce *kafkaconn.ConfigError
		if errors.As(e, &ce) && ce.Fix != "" {
			fixes = append(fixes, ce.Field+": "+ce.Fix)
		}
	}
	if len(fixes) > 0 {
		d.fix = strings.Join(fixes, "; ")
	}
	return d.finish()
}
