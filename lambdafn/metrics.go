package lambdafn

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// MetricsNamespace is the CloudWatch namespace of the handler's metrics.
const MetricsNamespace = "msklink"

// metricsWriter writes CloudWatch Embedded Metric Format lines. Safe for
// concurrent use; a nil writer writes nothing.
type metricsWriter struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newMetricsWriter(w io.Writer) *metricsWriter {
	return &metricsWriter{w: w, now: time.Now}
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

// write emits one EMF line: dims (name -> value) and metrics in order.
func (m *metricsWriter) write(dims [][2]string, metrics []emfMetric, values []any) {
	if m.w == nil {
		return
	}
	doc := map[string]any{}
	names := make([]string, len(dims))
	for i, d := range dims {
		names[i] = d[0]
		doc[d[0]] = d[1]
	}
	for i, mt := range metrics {
		doc[mt.Name] = values[i]
	}
	doc["_aws"] = emfMeta{
		Timestamp: m.now().UnixMilli(),
		CloudWatchMetrics: []emfDirective{{
			Namespace:  MetricsNamespace,
			Dimensions: [][]string{names},
			Metrics:    metrics,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return
	}
	b = append(b, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	_, _ = m.w.Write(b)
}

// init emits ConnectionSetup, once per process.
func (m *metricsWriter) init(funcName string, setup time.Duration) {
	m.write([][2]string{{"FunctionName", funcName}},
		[]emfMetric{{"ConnectionSetup", "Milliseconds"}},
		[]any{ms(setup)})
}

// invocation emits the records counts, the publish latency and, on the
// first invocation, ColdStart.
func (m *metricsWriter) invocation(funcName string, inv *invocation, cold bool) {
	metrics := []emfMetric{
		{"RecordsAcked", "Count"}, {"RecordsFailed", "Count"}, {"RecordsUnconfirmed", "Count"},
	}
	values := []any{inv.acked, inv.failed, inv.unconfirmed}
	if inv.published {
		metrics = append(metrics, emfMetric{"PublishLatency", "Milliseconds"})
		values = append(values, ms(inv.latency))
	}
	if cold {
		metrics = append(metrics, emfMetric{"ColdStart", "Count"})
		values = append(values, 1)
	}
	m.write([][2]string{{"FunctionName", funcName}, {"EventSource", string(inv.source)}}, metrics, values)
}
