package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDeployCheck runs msklink deploy check on the shipped templates (exit
// 0), on a copy with the egress rule on 443 (exit 1, the finding in text
// and in JSON), on a file that is not a template (exit 1, one clear line)
// and with bad command lines (exit 2).
func TestDeployCheck(t *testing.T) {
	shipped, err := filepath.Glob(filepath.Join("..", "..", "deploy", "*.yaml"))
	if err != nil || len(shipped) == 0 {
		t.Fatalf("no shipped templates: %v", err)
	}
	out, errOut, code := runCLI(t, "", append([]string{"deploy", "check"}, shipped...)...)
	if code != 0 || strings.Count(out, ": OK\n") != len(shipped) {
		t.Fatalf("shipped templates: exit %d\n%s%s", code, out, errOut)
	}

	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "publisher.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rule := "          FromPort: 9098\n          ToPort: 9098\n          DestinationSecurityGroupId"
	if strings.Count(string(b), rule) != 1 {
		t.Fatalf("publisher.yaml has no single egress rule %q", rule)
	}
	broken := filepath.Join(dir, "broken.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(b), rule, strings.ReplaceAll(rule, "9098", "443"), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	notTemplate := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notTemplate, []byte("key: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out, _, code = runCLI(t, "", "deploy", "check", broken)
	if code != 1 || !strings.Contains(out, "error [egress] PublisherFunction Properties.VpcConfig.SecurityGroupIds: the function's security groups allow TCP 443 out, not TCP 9098") || !strings.Contains(out, "1 error(s), 0 warning(s): problems found") {
		t.Errorf("broken: exit %d, want 1 and the egress finding:\n%s", code, out)
	}
	out, _, code = runCLI(t, "", "deploy", "check", "--json", broken, shipped[0], notTemplate)
	var reports []checkReport
	if err := json.Unmarshal([]byte(out), &reports); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || len(reports) != 3 {
		t.Fatalf("--json: exit %d, %d reports, want 1 and 3:\n%s", code, len(reports), out)
	}
	if r := reports[0]; r.Errors != 1 || r.Findings[0].Check != "egress" || r.Findings[0].Resource != "PublisherFunction" || r.Findings[0].Fix == "" || r.Findings[0].Line == 0 {
		t.Errorf("--json broken: %+v", r)
	}
	if r := reports[1]; r.Errors != 0 || len(r.Findings) != 0 || r.Error != "" {
		t.Errorf("--json shipped: %+v", r)
	}
	if r := reports[2]; r.Error == "" || !strings.Contains(r.Error, "not YAML or JSON") {
		t.Errorf("--json not a template: %+v", r)
	}
	out, _, code = runCLI(t, "", "deploy", "check", notTemplate)
	if code != 1 || !strings.Contains(out, notTemplate+": not a template deploy check can read: not YAML or JSON") {
		t.Errorf("not a template: exit %d:\n%s", code, out)
	}

	// --param changes what the checks see: the brokers on the SCRAM port
	// while MSK_AUTH is iam.
	out, _, code = runCLI(t, "", "deploy", "check", "--param", "BootstrapServers=b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9096", filepath.Join("..", "..", "deploy", "publisher.yaml"))
	if code != 1 || !strings.Contains(out, "[auth-port]") {
		t.Errorf("--param: exit %d:\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy", "check"}, "want at least one TEMPLATE"},
		{[]string{"deploy", "check", "--param", "novalue", broken}, "want NAME=VALUE"},
		{[]string{"deploy", "check", "--goarch", "386", broken}, `--goarch "386": use arm64 or amd64`},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, errOut)
		}
	}
}
