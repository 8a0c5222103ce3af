package doctor

import (
	"context"
	"encoding/json"
	"os"
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
		r = Report{Cause: CauseConfig, Summary: "MSK_* environment: " + err.Error(), Checks: []Check{{Name: "config", Status: Fail, Detail: err.Error()}}}
		if doc, ok := CauseInfo(CauseConfig); ok {
			r.Fix = doc.Fix
		}
	} else {
		r = Run(ctx, cfg, WithTopic(topic), WithTimeout(lambdaTimeout(ctx)))
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return b, nil
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
