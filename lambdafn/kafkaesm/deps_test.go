package kafkaesm

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestLinksNoKafkaClient: a consumer function built on this package links
// no Kafka client, no AWS SDK and no other msklink package than its own
// internal telemetry: the event source mapping does the consuming.
func TestLinksNoKafkaClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, d := range strings.Fields(string(out)) {
		switch {
		case strings.Contains(d, "franz-go"), strings.Contains(d, "aws-sdk-go"), strings.Contains(d, "sarama"),
			strings.HasPrefix(d, "github.com/msklink/msklink/") && d != "github.com/msklink/msklink/lambdafn/kafkaesm" && d != "github.com/msklink/msklink/lambdafn/internal/telemetry":
			t.Errorf("kafkaesm links %s", d)
		}
	}
}
