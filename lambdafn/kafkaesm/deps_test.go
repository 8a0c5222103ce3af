package kafkaesm

import (
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestLinksNoKafkaClient: a consumer function built on this package links
// no Kafka client, no AWS SDK and no other msklink package than its own
// internal telemetry and the Runtime API client: the event source mapping
// does the consuming.
func TestLinksNoKafkaClient(t *testing.T) {
	for _, d := range testutil.Deps(t, ".", "") {
		switch {
		case strings.Contains(d, "franz-go"), strings.Contains(d, "aws-sdk-go"), strings.Contains(d, "sarama"),
			strings.HasPrefix(d, "github.com/msklink/msklink/") && d != "github.com/msklink/msklink/lambdafn/kafkaesm" && d != "github.com/msklink/msklink/lambdafn/internal/telemetry" && d != "github.com/msklink/msklink/internal/lambdaruntime":
			t.Errorf("kafkaesm links %s", d)
		}
	}
}
