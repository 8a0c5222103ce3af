package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestDeployTemplateFilters: --filter and --filter-criteria put the
// mapping's FilterCriteria in the consumer template, checked as Lambda
// checks them; the role is the same as without filters (what policy
// generate --esm prints: filters need no permission).
func TestDeployTemplateFilters(t *testing.T) {
	crit := filepath.Join(t.TempDir(), "criteria.json")
	os.WriteFile(crit, []byte(`{"Filters": [{"Pattern": "{\"value\": [{\"prefix\": \"ok\"}]}"}]}`), 0o644)
	base := []string{"deploy", "template", "--esm", "--cluster-arn", testClusterARN, "--topic", "orders", "--group", "billing"}
	out, errOut, code := runCLI(t, "", append(slices.Clone(base), "--filter", `{"value": {"type": ["order"]}}`, "--filter-criteria", crit)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	tpl := testutil.ParseTemplate(t, []byte(out))
	fc, _ := tpl.Properties("ConsumerTrigger")["FilterCriteria"].(map[string]any)
	var got []string
	for _, f := range fc["Filters"].([]any) {
		got = append(got, f.(map[string]any)["Pattern"].(string))
	}
	if want := []string{`{"value": {"type": ["order"]}}`, `{"value": [{"prefix": "ok"}]}`}; !slices.Equal(got, want) {
		t.Errorf("FilterCriteria patterns %q; want %q", got, want)
	}
	plain, errOut, code := runCLI(t, "", base...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if a, b := fmt.Sprint(tpl.Properties("FunctionRole")), fmt.Sprint(testutil.ParseTemplate(t, []byte(plain)).Properties("FunctionRole")); a != b {
		t.Errorf("the role differs with filters:\n%s\n%s", a, b)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{append(slices.Clone(base), "--filter", `{"key": ["k"]}`), `deploy template: --filter 1: key: Amazon MSK and self-managed Kafka event source mappings filter on the record's "value" only`},
		{append(slices.Clone(base), "--filter", `{"value": {"n": [{"numeric": ["<", "x"]}]}}`), `deploy template: --filter 1: value.n[0] ("numeric")`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9098", "--topic", "t", "--filter", `{"value": ["x"]}`}, "--filter and --filter-criteria go with --esm"},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errOut)
		}
	}
}
