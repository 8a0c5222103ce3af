package proxy

// Third-party clients through the proxy, without any IAM support of their
// own: kcat (librdkafka 2.0.2) and kafka-python 2.0.2 from Debian.

import (
	"sort"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// localAddrs returns the proxy's broker listeners, sorted.
func localAddrs(p *Proxy) []string {
	var out []string
	for _, b := range p.Brokers()[1:] {
		out = append(out, b.Local)
	}
	sort.Strings(out)
	return out
}

// TestKcat: kcat with no security settings produces and consumes through
// the proxy, and its metadata lists only the proxy's listeners.
func TestKcat(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c))
	got := testutil.KcatRoundTrip(t, p.Addr(), "orders", "kcat")
	if want := localAddrs(p); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("kcat -L lists brokers %v, want the proxy's listeners %v", got, want)
	}
}

// TestKafkaPython: kafka-python 2.0.2 with no SASL settings produces and
// consumes through the proxy.
func TestKafkaPython(t *testing.T) {
	c, _ := startCluster(t)
	p, _ := startProxy(t, iamConfig(c))
	r := kafkaPython(t, "--bootstrap", p.Addr(), "--protocol", "PLAINTEXT", "--topic", "orders")
	if !r.OK || len(r.Consumed) != 3 {
		t.Fatalf("kafka-python round trip failed: %s\nconsumed %v\nlog:\n%s", r.Error, r.Consumed, r.Log)
	}
}

// kafkaPython runs the emulator's kafka-python round-trip script (produce
// three records, consume them back) with args.
func kafkaPython(t *testing.T, args ...string) testutil.PyResult {
	t.Helper()
	return testutil.KafkaPython(t, "../emulator/testdata/kafka_python_roundtrip.py", args...)
}
