package lambdafn

import (
	"io"
	"time"

	"github.com/msklink/msklink/lambdafn/internal/telemetry"
)

// MetricsNamespace is the CloudWatch namespace of the handler's metrics.
const MetricsNamespace = telemetry.Namespace

// metricsWriter writes the handler's Embedded Metric Format lines. Safe
// for concurrent use; a nil writer writes nothing.
type metricsWriter struct{ emf *telemetry.EMF }

func newMetricsWriter(w io.Writer) *metricsWriter {
	return &metricsWriter{emf: telemetry.NewEMF(w, nil)}
}

type emfMetric = telemetry.Metric

// init emits ConnectionSetup, once per process.
func (m *metricsWriter) init(funcName string, setup time.Duration) {
	m.emf.Write([]telemetry.Dim{{Name: "FunctionName", Value: funcName}},
		[]emfMetric{{Name: "ConnectionSetup", Unit: "Milliseconds"}},
		[]any{ms(setup)})
}

// invocation emits the records counts, the publish latency and, on the
// first invocation, ColdStart.
func (m *metricsWriter) invocation(funcName string, inv *invocation, cold bool) {
	metrics := []emfMetric{
		{Name: "RecordsAcked", Unit: "Count"}, {Name: "RecordsFailed", Unit: "Count"}, {Name: "RecordsUnconfirmed", Unit: "Count"},
	}
	values := []any{inv.acked, inv.failed, inv.unconfirmed}
	if inv.published {
		metrics = append(metrics, emfMetric{Name: "PublishLatency", Unit: "Milliseconds"})
		values = append(values, ms(inv.latency))
	}
	if cold {
		metrics = append(metrics, emfMetric{Name: "ColdStart", Unit: "Count"})
		values = append(values, 1)
	}
	m.emf.Write([]telemetry.Dim{{Name: "FunctionName", Value: funcName}, {Name: "EventSource", Value: string(inv.source)}}, metrics, values)
}
