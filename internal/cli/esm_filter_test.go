package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestESMFilterUsageErrors: a bad filter is a usage error (exit 2) naming
// the flag, the filter, the path in its pattern and the operator.
func TestESMFilterUsageErrors(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("MSK_BOOTSTRAP_SERVERS", "127.0.0.1:9098")
	t.Setenv("MSK_REGION", "us-east-1")
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := file("bad.json", `{"Filters": [{"Pattern": "{\"value\": [\"ok\"]}"}, {"Pattern": "{\"value\": {\"ip\": [{\"cidr\": \"10.0.0.0\"}]}}"}]}`)
	notCriteria := file("not.json", `{"filters": "x"}`)
	eleven := `{"Filters": [` + strings.Repeat(`{"Pattern": "{\"value\": [\"x\"]}"},`, 10) + `{"Pattern": "{\"value\": [\"y\"]}"}]}`
	tooMany := file("many.json", eleven)
	fn := []string{"esm", "--topic", "orders", "--function", "http://127.0.0.1:9000"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--filter", `{"value": {"n": [{"numeric": [">", "ten"]}]}}`},
			`esm: --filter 1: value.n[0] ("numeric"): element 1: give a number after ">"`},
		{[]string{"--filter", `{"value": ["ok"]}`, "--filter", `{"key": ["k"]}`},
			`esm: --filter 2: key: Amazon MSK and self-managed Kafka event source mappings filter on the record's "value" only`},
		{[]string{"--filter", `{"value": {"f": [{"wildcard": "*.png"}]}}`}, `value.f[0] ("wildcard"): Lambda's event filtering has no wildcard operator`},
		{[]string{"--filter", `{"value": {"ip": [{"cidr": "10.0.0.0/24"}]}}`}, `esm: --filter 1: value.ip[0] ("cidr"): Lambda's event filtering has no IP address (cidr) operator`},
		{[]string{"--filter", `{"value": {"f": [{"anything-but": {"prefix": "us-"}}]}}`}, `value.f[0] ("anything-but"): Lambda's event filtering has no anything-but with "prefix"`},
		{[]string{"--filter", `{"value": `}, "esm: --filter 1: not JSON"},
		{[]string{"--filter-criteria", bad}, `esm: --filter-criteria ` + bad + `: filter 2: value.ip[0] ("cidr")`},
		{[]string{"--filter-criteria", notCriteria}, "not a FilterCriteria document"},
		{[]string{"--filter-criteria", filepath.Join(dir, "missing.json")}, "esm: --filter-criteria: open "},
		{[]string{"--filter-criteria", tooMany}, "11 filters; Lambda allows 5 per event source mapping (10 with a quota increase)"},
	} {
		_, errOut, code := runCLI(t, "", append(slices.Clone(fn), tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("esm %v: exit %d, stderr %q; want exit 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestESMFilters runs `msklink esm` with --filter and --filter-criteria:
// the function gets the records matching either, --json prints a line per
// record filtered out, stderr counts them, and the group is committed
// past them all.
func TestESMFilters(t *testing.T) {
	useEmulator(t, "orders")
	in := `{"type":"order","n":1}
{"type":"ping","n":2}
plain text
{"type":"refund","n":4}
error
{"type":"ping","n":6}
`
	if _, errOut, code := runCLI(t, in, "produce", "--topic", "orders", "--partition", "0"); code != 0 {
		t.Fatalf("produce: exit %d: %s", code, errOut)
	}
	crit := filepath.Join(t.TempDir(), "criteria.json")
	os.WriteFile(crit, []byte(`{"Filters": [{"Pattern": "{\"value\": {\"type\": [\"refund\"]}}"}]}`), 0o644)
	f := newInvokeAPI(t, func(map[string]any) string { return "null" })
	stop := runInBackground(t, "esm", "--topic", "orders", "--function", f.url, "--starting-position", "TRIM_HORIZON",
		"--batching-window", "100ms", "--json", "--group-id", "filters-test",
		"--filter", `{"value": {"type": [{"prefix": "ord"}]}}`, "--filter-criteria", crit,
		// Six filters in all: over Lambda's default quota, noted.
		"--filter", `{"value": {"type": ["a"]}}`, "--filter", `{"value": {"type": ["b"]}}`,
		"--filter", `{"value": {"type": ["c"]}}`, "--filter", `{"value": {"type": ["d"]}}`)
	var out, errOut string
	var code int
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if len(f.got()) >= 3 {
			// The last records are filtered out: wait for their lines.
			time.Sleep(500 * time.Millisecond)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code = stop()
	// "plain text" and "error" are plain strings: JSON patterns leave them
	// metadata filters only, and they are delivered (kafka-filtering.html).
	want := []string{`{"type":"order","n":1}`, "plain text", `{"type":"refund","n":4}`, "error"}
	if got := f.got(); code != 0 || !slices.Equal(got, want) {
		t.Fatalf("function got %q; want %q; exit %d\nstderr:\n%s", got, want, code, errOut)
	}
	var filtered []int64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var line struct {
			Type   string
			Offset int64
		}
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		if line.Type == "filtered" {
			filtered = append(filtered, line.Offset)
		}
	}
	if !slices.Equal(filtered, []int64{1, 5}) {
		t.Errorf("filtered lines for offsets %v; want [1 5]\nstdout:\n%s", filtered, out)
	}
	if !strings.Contains(errOut, "note: 6 filters: Lambda allows 5 per event source mapping by default, up to 10 with a quota increase") {
		t.Errorf("no note of the quota on stderr:\n%s", errOut)
	}
	if !strings.Contains(errOut, "4 records delivered, 0 given up (0 to the on-failure topic), 2 filtered out") {
		t.Errorf("stderr:\n%s", errOut)
	}
}
