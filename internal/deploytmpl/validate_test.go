package deploytmpl

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
)

// The templates are checked by AWS's offline CloudFormation validator,
// @aws/cloudformation-validate (deploy/validate, installed by .ci/install-tools
// with npm ci): the CloudFormation registry's provider schema of every resource
// type (unknown properties, wrong types, enum values, patterns) and
// cfn-lint's rules (references to missing resources and parameters, GetAtt
// attributes, conditions). It does not expand the SAM transform, so the
// SAM function's own properties are checked in the plain CloudFormation
// rendering, which shares them; when AWS's Python cfn-lint is installed
// (it is in this project's machine image, but no registry CI reaches has
// it), TestTemplatesCfnLint also runs the real SAM transform.

const validatorInstall = "npm ci --prefix deploy/validate"

// validator returns the command that runs deploy/validate/validate.js. In
// CI its absence fails the test; elsewhere it skips it.
func validator(t *testing.T) []string {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("..", "..", "deploy", "validate", "validate.js"))
	if err != nil {
		t.Fatal(err)
	}
	node := testutil.LookTool(t, "node", "install Node.js 20 or later, then "+validatorInstall)
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "@aws", "cloudformation-validate", "package.json")); err != nil {
		testutil.MissingTool(t, "@aws/cloudformation-validate", validatorInstall)
	}
	return []string{node, script}
}

type diagnostic struct {
	RuleID, Severity, Message, Resource, Path string
	Line                                      int
	Ignored                                   bool // a known false positive (validate.js says why)
}

type report struct {
	File        string
	Status      string
	Diagnostics []diagnostic
}

// validate runs the validator on files and returns its report of each.
func validate(t *testing.T, files ...string) map[string]report {
	t.Helper()
	cmd := validator(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, cmd[0], append(append(cmd[1:], "--json"), files...)...).Output()
	if err != nil && len(out) == 0 {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("validator: %v\n%s", err, stderr)
	}
	var res struct {
		Validator string
		Reports   []report
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("validator output: %v\n%s", err, out)
	}
	if len(res.Reports) != len(files) {
		t.Fatalf("validator reported on %d of %d templates", len(res.Reports), len(files))
	}
	t.Logf("%s: %d templates", res.Validator, len(files))
	m := map[string]report{}
	for _, r := range res.Reports {
		m[r.File] = r
	}
	return m
}

// problems returns the findings that fail a template: WARN and above,
// but for the known false positives validate.js lists.
func (r report) problems() []diagnostic {
	var out []diagnostic
	for _, d := range r.Diagnostics {
		if d.Ignored {
			continue
		}
		switch d.Severity {
		case "WARN", "ERROR", "FATAL":
			out = append(out, d)
		}
	}
	return out
}

// writeVariants renders every variant into dir and returns the files.
func writeVariants(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	for name, p := range variants() {
		_, b := render(t, p)
		f := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files[name] = f
	}
	return files
}

// TestTemplatesValidate validates every rendered variant and the
// checked-in templates: no finding of severity WARN or above.
func TestTemplatesValidate(t *testing.T) {
	validator(t)
	files := writeVariants(t, t.TempDir())
	for name := range goldens {
		f, err := filepath.Abs(filepath.Join("..", "..", "deploy", name))
		if err != nil {
			t.Fatal(err)
		}
		files["deploy/"+name] = f
	}
	var all []string
	for _, f := range files {
		all = append(all, f)
	}
	sort.Strings(all)
	reports := validate(t, all...)
	for name, f := range files {
		r := reports[f]
		if r.Status != "OK" {
			t.Errorf("%s: analysis %s", name, r.Status)
		}
		for _, d := range r.problems() {
			t.Errorf("%s:%d: %s %s %s %s: %s", name, d.Line, d.Severity, d.RuleID, d.Resource, d.Path, d.Message)
		}
	}
}

// mutation breaks a rendered template the way a hand edit or a generator
// bug would; the validator must reject the result with rule.
type mutation struct {
	name     string
	params   Params
	old, new string // a unique substring and its replacement
	rule     string // the rule that must fire
	resource string
}

func mutations() []mutation {
	sam, cfn := exampleParams("", FormatSAM), exampleParams("", FormatCloudFormation)
	return []mutation{
		// Misspelt properties: unknown to the resource's schema.
		{"misspelt function property", cfn, "      Runtime: provided.al2023", "      Runtme: provided.al2023", "F3002", FunctionID},
		{"misspelt security group property", sam, "      SecurityGroupEgress:", "      SecurityGroupEgres:", "F3002", "FunctionSecurityGroup"},
		{"misspelt event source mapping property", consumerParams(FormatSAM, "orders-dlt"), "      FunctionResponseTypes:", "      FunctionResponseType:", "F3002", "ConsumerTrigger"},
		{"misspelt log group property", sam, "      RetentionInDays: !Ref LogRetentionDays", "      RetentionDays: !Ref LogRetentionDays", "F3002", "LogGroup"},
		// Wrong types.
		{"port as text", cfn, "          FromPort: 9098\n", "          FromPort: iam\n", "F3012", "FunctionSecurityGroup"},
		{"architectures as a string", cfn, "      Architectures:\n        - arm64", "      Architectures: arm64", "F3012", FunctionID},
		// Broken references.
		{"reference to a missing parameter", sam, "      GroupId: !Ref ClusterSecurityGroupId", "      GroupId: !Ref ClusterSecurityGroup", "F1020", "ClusterIngressFromFunction"},
		{"GetAtt of a missing resource", cfn, "      Role: !GetAtt FunctionRole.Arn", "      Role: !GetAtt ExecutionRole.Arn", "F1020", FunctionID},
		// A value the schema does not allow.
		{"unknown runtime", cfn, "      Runtime: provided.al2023", "      Runtime: provided.al2099", "W3030", FunctionID},
	}
}

// TestValidatorRejectsBrokenCopies renders templates, breaks a copy of
// each (a misspelt property, a wrong type, a broken reference) and checks
// that the validator rejects every broken copy, with the expected rule on
// the expected resource, while the intact renderings pass.
func TestValidatorRejectsBrokenCopies(t *testing.T) {
	validator(t)
	dir := t.TempDir()
	var files []string
	byFile := map[string]mutation{}
	for i, m := range mutations() {
		_, b := render(t, m.params)
		if strings.Count(string(b), m.old) != 1 {
			t.Fatalf("%s: %q appears %d times in the rendered template", m.name, m.old, strings.Count(string(b), m.old))
		}
		f := filepath.Join(dir, fmt.Sprintf("broken-%d.yaml", i))
		if err := os.WriteFile(f, []byte(strings.Replace(string(b), m.old, m.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		byFile[f] = m
	}
	reports := validate(t, files...)
	for _, f := range files {
		m, r := byFile[f], reports[f]
		found := false
		for _, d := range r.problems() {
			if d.RuleID == m.rule && d.Resource == m.resource {
				found = true
				t.Logf("%s: rejected: %s %s: %s", m.name, d.RuleID, d.Path, d.Message)
			}
		}
		if !found {
			t.Errorf("%s: no %s finding on %s; findings: %+v", m.name, m.rule, m.resource, r.Diagnostics)
		}
	}
}

// TestTemplatesCfnLint runs AWS's Python cfn-lint, which expands the SAM
// transform with aws-sam-translator, on every rendered variant, and
// on a SAM copy with a misspelt function property (which only the
// transform catches). No registry CI reaches has it, so it is skipped
// where it is not installed.
func TestTemplatesCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		testutil.MissingOptionalTool(t, "cfn-lint", "AWS's Python linter, from PyPI, which CI cannot reach; the npm validator ran in TestTemplatesValidate")
	}
	dir := t.TempDir()
	files := writeVariants(t, dir)
	_, sam := render(t, exampleParams("", FormatSAM))
	broken := filepath.Join(dir, "broken-sam.yaml")
	if err := os.WriteFile(broken, []byte(strings.Replace(string(sam), "      Timeout: !Ref Timeout", "      Timeoutt: !Ref Timeout", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(files ...string) (string, error) {
		out, err := exec.CommandContext(ctx, bin, append([]string{"--format", "parseable", "--"}, files...)...).CombinedOutput()
		return string(out), err
	}
	all := slices.Sorted(maps.Values(files)) // every variant, as deploy check and the validator see them
	if out, err := run(all...); err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
	out, err := run(broken)
	if err == nil || !strings.Contains(out, "Timeoutt") {
		t.Errorf("cfn-lint accepted a SAM function with a misspelt property (%v):\n%s", err, out)
	}
	t.Logf("cfn-lint on the broken copy: %s", strings.TrimSpace(out))
}
