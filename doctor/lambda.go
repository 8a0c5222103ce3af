package doctor

import (
	"context"
	"encoding/json"
	"errors"
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
// second. A configuration error is a Report with cause "config", not an
// error; the error is only for a Report that cannot be encoded.
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

func lambdaRun(ctx context.Context, cfg kafkaconn.Config, topic string) Report {
	return Run(ctx, cfg, WithTopic(topic), WithTimeout(lambdaTimeout(ctx)))
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
