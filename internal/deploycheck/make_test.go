package deploycheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeValidate runs make -C deploy validate with extra arguments and
// returns its output and whether it succeeded. It needs make, node and
// deploy/validate's node_modules (npm ci --prefix deploy/validate, what
// .ci/run does): in CI their absence fails the test, elsewhere it skips
// it. cfn-lint is used where installed (CFN_LINT= otherwise).
func makeValidate(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	skip := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if _, err := exec.LookPath("make"); err != nil {
		skip("make not found")
	}
	if _, err := exec.LookPath("node"); err != nil {
		skip("node not found: install Node.js 20, then npm ci --prefix deploy/validate")
	}
	if _, err := os.Stat(filepath.Join("..", "..", "deploy", "validate", "node_modules", "@aws", "cloudformation-validate", "package.json")); err != nil {
		skip("AWS's validator is not installed: npm ci --prefix deploy/validate")
	}
	if _, err := exec.LookPath("cfn-lint"); err != nil {
		args = append(args, "CFN_LINT=")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "make", append([]string{"-C", filepath.Join("..", "..", "deploy"), "validate"}, args...)...).CombinedOutput()
	return string(out), err == nil
}

// TestMakeValidate runs make -C deploy validate on the shipped templates
// (it passes) and on a copy of one with the function's egress on 443,
// which AWS's validator and cfn-lint pass and deploy check fails: so does
// the target.
func TestMakeValidate(t *testing.T) {
	out, ok := makeValidate(t)
	if !ok || !strings.Contains(out, "OK") {
		t.Fatalf("make -C deploy validate failed on the shipped templates:\n%s", out)
	}
	for _, f := range shipped(t) {
		if !strings.Contains(out, filepath.Base(f)+": 0 error(s), 0 warning(s): OK") {
			t.Errorf("deploy check did not pass %s:\n%s", f, out)
		}
	}

	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "publisher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rule := "          FromPort: 9098\n          ToPort: 9098\n          DestinationSecurityGroupId"
	if strings.Count(string(b), rule) != 1 {
		t.Fatalf("publisher.yaml has no single egress rule %q", rule)
	}
	broken := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), rule, strings.ReplaceAll(rule, "9098", "443"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, ok = makeValidate(t, "TEMPLATES="+broken)
	if ok {
		t.Fatalf("make -C deploy validate passed a template with egress on 443:\n%s", out)
	}
	if !strings.Contains(out, "1 template(s) checked with @aws/cloudformation-validate") || !strings.Contains(out, ": OK") {
		t.Errorf("AWS's validator did not run (or did not pass the broken copy):\n%s", out)
	}
	if !strings.Contains(out, "error [egress] PublisherFunction") {
		t.Errorf("deploy check's finding missing:\n%s", out)
	}
	t.Logf("%s", out)
}
