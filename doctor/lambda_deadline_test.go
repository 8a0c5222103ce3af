package doctor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

// TestLambdaAnswersBeforeTheDeadline runs the Lambda doctor against a
// cluster slow enough that the whole diagnosis cannot fit in the
// invocation: the report must come back before the deadline (Lambda
// would otherwise kill the function and answer "Task timed out"), and
// say that the time ran out rather than blame the broker.
func TestLambdaAnswersBeforeTheDeadline(t *testing.T) {
	c := startCluster(t)
	for id := int32(0); c.Broker(id) != nil; id++ {
		c.Listener(id, emulator.IAM).SetFaults(emulator.Faults{ResponseLatency: 300 * time.Millisecond})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	dl, _ := ctx.Deadline()
	start := time.Now()
	raw, err := LambdaFunc(iamConfig(c))(ctx, "orders")
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("took %s: %s %s", took, r.Cause, r.Summary)
	if left := time.Until(dl); left < 50*time.Millisecond {
		t.Errorf("answered %s before the deadline: Lambda would time out first", left)
	}
	// A verdict that does not say the time ran out must come from a check
	// that had its whole per-layer timeout (1s here), not one cut short.
	if !r.OK && !strings.Contains(r.Summary, "time ran out") {
		for _, ch := range r.Checks {
			if ch.Status == Fail && ch.Duration < 950*time.Millisecond {
				t.Errorf("check %s failed after %s, cut short by the deadline, yet the verdict blames the broker: %s", ch.Name, ch.Duration, r.Summary)
			}
		}
	}
}
