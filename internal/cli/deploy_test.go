package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/deploycheck"
	"github.com/msklink/msklink/internal/testutil"
)

// canonicalJSON re-encodes a JSON document with sorted keys.
func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// TestDeployTemplatePolicyIsPolicyGenerate renders templates with msklink
// deploy template and checks that the role's kafka-cluster policy,
// evaluated for the parameters' defaults as msklink deploy check does (its
// resources are expressions of the parameters), is the document msklink
// policy generate prints for the same cluster and topics (what the
// doctor's authorization fixes point to), with and without idempotence,
// and in both formats; and that other parameter values move it along.
func TestDeployTemplatePolicyIsPolicyGenerate(t *testing.T) {
	const bootstrap = "b-1.demo.abc.c2.kafka.us-east-1.amazonaws.com:9098,b-2.demo.abc.c2.kafka.us-east-1.amazonaws.com:9098"
	const otherARN = "arn:aws:kafka:eu-west-1:210987654321:cluster/other/99999999-8888-7777-6666-555555555555-1"
	for _, c := range []struct {
		name           string
		deploy, policy []string
		params         map[string]string // parameter values other than the defaults, and
		cluster        string            // the cluster of policy generate then
	}{
		{name: "idempotent", deploy: []string{"--topic", "orders", "--topic", "audit"}, policy: []string{"--produce", "orders,audit", "--idempotent", "--describe-topic-config"}},
		{name: "not idempotent", deploy: []string{"--topic", "orders", "--idempotent=false"}, policy: []string{"--produce", "orders", "--describe-topic-config"}},
		{name: "cloudformation", deploy: []string{"--topic", "orders", "--format", "cloudformation"}, policy: []string{"--produce", "orders", "--idempotent", "--describe-topic-config"}},
		{name: "other cluster and topics", deploy: []string{"--topic", "orders", "--topic", "audit"}, policy: []string{"--produce", "payments,ledger", "--idempotent", "--describe-topic-config"},
			params: map[string]string{"ClusterArn": otherARN, "Topics": "payments,ledger"}, cluster: otherARN},
		{name: "consumer", deploy: []string{"--esm", "--topic", "orders", "--group", "billing", "--on-failure-topic", "orders-dlt"},
			policy: []string{"--esm", "--topic", "orders", "--group", "billing", "--on-failure-topic", "orders-dlt"}},
		{name: "consumer named", deploy: []string{"--esm", "--topic", "orders", "--group", "billing", "--function-name", "orders-consumer", "--format", "cloudformation"},
			policy: []string{"--esm", "--topic", "orders", "--group", "billing"}},
		{name: "consumer of another group", deploy: []string{"--esm", "--topic", "orders", "--group", "billing"},
			policy: []string{"--esm", "--topic", "refunds", "--group", "audit"}, params: map[string]string{"ClusterArn": otherARN, "Topics": "refunds", "ConsumerGroupId": "audit"}, cluster: otherARN},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", append([]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", bootstrap}, c.deploy...)...)
			if code != 0 {
				t.Fatalf("deploy template: exit %d: %s", code, errOut)
			}
			tpl, err := deploycheck.Parse([]byte(out))
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			pols, _ := tpl.Resources["FunctionRole"].Properties["Policies"].([]any)
			for _, p := range pols {
				if m := p.(map[string]any); m["PolicyName"] == "kafka-cluster" || m["PolicyName"] == "msk-event-source-mapping" {
					doc = m["PolicyDocument"]
				}
			}
			if doc == nil {
				t.Fatalf("no kafka-cluster policy in the role: %v", tpl.Resources["FunctionRole"])
			}
			if doc, err = deploycheck.Evaluate(tpl, doc, deploycheck.WithParameters(c.params)); err != nil {
				t.Fatal(err)
			}
			cluster := testClusterARN
			if c.cluster != "" {
				cluster = c.cluster
			}
			gen, errOut, code := runCLI(t, "", append([]string{"policy", "generate", "--cluster-arn", cluster}, c.policy...)...)
			if code != 0 {
				t.Fatalf("policy generate: exit %d: %s", code, errOut)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(gen), &want); err != nil {
				t.Fatal(err)
			}
			// The consumer's logs statement names the template's own log
			// group, not /aws/lambda/* (the function has no fixed name).
			logGroup, err := deploycheck.Evaluate(tpl, map[string]any{"Fn::GetAtt": []any{"LogGroup", "Arn"}}, deploycheck.WithParameters(c.params))
			if err != nil {
				t.Fatal(err)
			}
			for _, st := range want["Statement"].([]any) {
				if st := st.(map[string]any); st["Sid"] == "Logs" {
					st["Resource"] = []any{logGroup}
				}
			}
			if got, want := canonicalJSON(t, sortResources(doc)), canonicalJSON(t, sortResources(want)); got != want {
				t.Errorf("template policy:\n%s\nmsklink policy generate:\n%s", got, want)
			}
		})
	}
}

// sortResources sorts each statement's Resource list of a policy document
// (their order means nothing to IAM; policy generate sorts them, the
// template keeps the topics' order).
func sortResources(doc any) any {
	b, _ := json.Marshal(doc)
	var d map[string]any
	json.Unmarshal(b, &d)
	for _, st := range d["Statement"].([]any) {
		st := st.(map[string]any)
		if l, ok := st["Resource"].([]any); ok {
			sort.Slice(l, func(i, j int) bool { return fmt.Sprint(l[i]) < fmt.Sprint(l[j]) })
		}
	}
	return d
}

// TestDeployTemplateFile writes a template with -o and checks the usage
// errors: each bad value is one line naming it, exit 2.
func TestDeployTemplateFile(t *testing.T) {
	f := filepath.Join(samCheckout(t), "deploy", "orders.yaml") // where a SAM template builds
	_, errOut, code := runCLI(t, "", "deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "b-1.demo.abc.c2.kafka.us-east-1.amazonaws.com:9096",
		"--topic", "orders", "--auth", "scram", "-o", f)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	tpl := testutil.ParseTemplate(t, b)
	if _, ok := tpl.Default("AuthMode"); !ok || !strings.Contains(string(b), "-o "+f) || !strings.Contains(string(b), "ScramCredentialsArn") {
		t.Errorf("template:\n%s", b)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"deploy"}, "want a subcommand"},
		{[]string{"deploy", "frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"deploy", "template", "--bootstrap", "h:9098", "--topic", "t"}, "--cluster-arn: required"},
		{[]string{"deploy", "template", "--cluster-arn", "arn:aws:kafka:us-east-1:123456789012:demo", "--bootstrap", "h:9098", "--topic", "t"}, `--cluster-arn "arn:aws:kafka:us-east-1:123456789012:demo": not an MSK cluster ARN`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9098", "--topic", "bad/topic"}, `--topic "bad/topic": Kafka would refuse it`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9092", "--topic", "t", "--auth", "plaintext"}, `--auth "plaintext": MSK's plaintext listener (9092)`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9094", "--topic", "t"}, `--bootstrap "h:9094": port 9094 is MSK's tls port, but --auth is iam`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9098", "--topic", "t", "extra"}, `unexpected argument "extra"`},
		{[]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "h:9098", "--topic", "t", "--group", "g"}, "--group, --on-failure-topic and --function-name go with --esm"},
		{[]string{"deploy", "template", "--esm", "--cluster-arn", testClusterARN, "--topic", "t"}, "--group: required with --esm"},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) || strings.Count(errOut, "\n") != 2 {
			t.Errorf("%v: exit %d, want 2 and one line with %q:\n%s", c.args, code, c.want, errOut)
		}
	}
}

// TestDeployTemplateSAMPlace checks where -o may write a SAM template. Its
// CodeUri (..) and ContextPath (.) are relative to the template: sam build
// copies the template's parent directory as the Go module and runs the
// Makefile beside the template. Written elsewhere, sam build copied
// whatever directory lies above it (a home directory, say) and then
// failed, so msklink refuses it: exit 2, naming the file and the fix.
func TestDeployTemplateSAMPlace(t *testing.T) {
	args := func(out string, extra ...string) []string {
		return append([]string{"deploy", "template", "--cluster-arn", testClusterARN, "--bootstrap", "b-1.demo.abc.c2.kafka.us-east-1.amazonaws.com:9098", "--topic", "orders", "-o", out}, extra...)
	}
	stray := filepath.Join(t.TempDir(), "orders.yaml")
	_, errOut, code := runCLI(t, "", args(stray)...)
	if code != 2 || !strings.Contains(errOut, `-o "`+stray+`"`) || !strings.Contains(errOut, "deploy/") || !strings.Contains(errOut, "--format cloudformation") || strings.Count(errOut, "\n") != 2 {
		t.Errorf("SAM template outside deploy/: exit %d, want 2 and one line naming the file and the fix:\n%s", code, errOut)
	}
	if _, err := os.Stat(stray); err == nil {
		t.Error("the misplaced template was written")
	}
	// The same file in plain CloudFormation: its code comes from S3.
	if _, errOut, code := runCLI(t, "", args(stray, "--format", "cloudformation")...); code != 0 {
		t.Errorf("CloudFormation template: exit %d: %s", code, errOut)
	}

	// A checkout's layout: deploy/Makefile beside the template, go.mod above.
	repo := samCheckout(t)
	if _, errOut, code := runCLI(t, "", args(filepath.Join(repo, "deploy", "orders.yaml"))...); code != 0 {
		t.Errorf("SAM template in deploy/: exit %d: %s", code, errOut)
	}
	// A Makefile without the function's target is not deploy/Makefile.
	other := filepath.Join(t.TempDir(), "deploy")
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "..", "go.mod"), []byte("module example.com/x\n"), 0o644)
	os.WriteFile(filepath.Join(other, "Makefile"), []byte("all:\n\ttrue\n"), 0o644)
	_, errOut, code = runCLI(t, "", args(filepath.Join(other, "orders.yaml"))...)
	if code != 2 || !strings.Contains(errOut, "build-PublisherFunction") {
		t.Errorf("SAM template beside another Makefile: exit %d, want 2 naming build-PublisherFunction:\n%s", code, errOut)
	}
}

// samCheckout returns a directory laid out as msklink's checkout is for
// sam build: go.mod, and deploy/Makefile (the repository's).
func samCheckout(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	mk, err := os.ReadFile(filepath.Join("..", "..", "deploy", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "deploy", "Makefile"), mk, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "go.mod"), []byte("module github.com/msklink/msklink\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return repo
}
