package proxy

// Third-party clients through the proxy, without any IAM support of their
// own: kcat (librdkafka 2.0.2) and kafka-python 2.0.2 from Debian.

import (
	"context"
	"encoding/json"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
)

// run runs a client with stdin, bounded in time, and returns its output.
func run(t *testing.T, stdin, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// kcatRoundTrip lists the brokers with kcat, produces three records and
// consumes them back, with the extra librdkafka settings args. It returns
// the broker addresses kcat saw.
func kcatRoundTrip(t *testing.T, bootstrap, topic, tag string, args ...string) []string {
	t.Helper()
	kcat := testutil.NeedTool(t, "/usr/bin/kcat", "apt-get install kcat")
	base := append([]string{"-b", bootstrap}, args...)
	out, err := run(t, "", kcat, append(base, "-L", "-J", "-m", "15")...)
	if err != nil {
		t.Fatalf("kcat -L: %v\n%s", err, out)
	}
	var md struct {
		Brokers []struct {
			Name string `json:"name"`
		} `json:"brokers"`
	}
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &md) != nil {
		t.Fatalf("kcat -L -J printed no metadata:\n%s", out)
	}
	var brokers []string
	for _, b := range md.Brokers {
		brokers = append(brokers, b.Name)
	}
	sort.Strings(brokers)

	vals := []string{tag + "-1", tag + "-2", tag + "-3"}
	if out, err := run(t, strings.Join(vals, "\n")+"\n", kcat, append(base, "-P", "-t", topic, "-m", "15")...); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
	out, err = run(t, "", kcat, append(base, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-m", "15")...)
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	for _, v := range vals {
		if !strings.Contains(out, v+"\n") {
			t.Errorf("kcat did not consume %q:\n%s", v, out)
		}
	}
	return brokers
}

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
	got := kcatRoundTrip(t, p.Addr(), "orders", "kcat")
	if want := localAddrs(p); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("kcat -L lists brokers %v, want the proxy's listeners %v", got, want)
	}
}

type pyResult struct {
	OK       bool     `json:"ok"`
	Consumed []string `json:"consumed"`
	Error    string   `json:"error"`
	Log      string   `json:"log"`
}

// kafkaPython runs the emulator's kafka-python round-trip script (produce
// three records, consume them back) with args.
func kafkaPython(t *testing.T, args ...string) pyResult {
	t.Helper()
	py := testutil.NeedTool(t, "/usr/bin/python3", "apt-get install python3-kafka")
	if out, err := exec.Command(py, "-c", "import kafka").CombinedOutput(); err != nil {
		testutil.NeedTool(t, "/nonexistent/python3-kafka", "apt-get install python3-kafka: "+strings.TrimSpace(string(out)))
	}
	out, err := run(t, "", py, append([]string{"../emulator/testdata/kafka_python_roundtrip.py"}, args...)...)
	var r pyResult
	if i := strings.LastIndex("\n"+out, "\n{"); i < 0 || json.Unmarshal([]byte(out[i:]), &r) != nil {
		t.Fatalf("kafka-python script: %v\n%s", err, out)
	}
	return r
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
