package deploytmpl

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/extension"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// extensionGoldens are the checked-in extension templates and what
// renders them.
var extensionGoldens = map[string]struct {
	runtime string
	format  Format
}{
	"extension-python.yaml":     {"python3.13", FormatSAM},
	"extension-python-cfn.yaml": {"python3.13", FormatCloudFormation},
	"extension-nodejs.yaml":     {"nodejs22.x", FormatSAM},
	"extension-nodejs-cfn.yaml": {"nodejs22.x", FormatCloudFormation},
}

func renderExtension(t *testing.T, name string) (testutil.Template, []byte) {
	t.Helper()
	g := extensionGoldens[name]
	p := exampleParams(kafkaconn.AuthIAM, g.format)
	p.Path = "deploy/" + name
	b, err := RenderExtension(p, g.runtime)
	if err != nil {
		t.Fatalf("RenderExtension: %v", err)
	}
	return testutil.ParseTemplate(t, b), b
}

// TestCheckedInExtensionTemplates checks that deploy/extension-*.yaml are
// RenderExtension's output (go test -run CheckedInExtension -update
// rewrites them).
func TestCheckedInExtensionTemplates(t *testing.T) {
	for name := range extensionGoldens {
		_, want := renderExtension(t, name)
		checkGolden(t, name, want, "RenderExtension", "CheckedInExtension")
	}
}

// TestExtensionTemplate checks each rendering: port 9098 only between the
// function's group and the cluster's; the role's policy is iampolicy's for
// producing to the topics, and its Connect; the function runs the runtime
// with the layer, in the VPC; the environment holds every variable the
// extension reads (FromEnv, found by reading an environment that
// records what is asked), and no other MSK_ variable but the example's
// MSK_TOPIC.
func TestExtensionTemplate(t *testing.T) {
	var asked []string
	extension.FromEnv(func(k string) string {
		asked = append(asked, k)
		return ""
	})
	for name, g := range extensionGoldens {
		t.Run(name, func(t *testing.T) {
			tpl, _ := renderExtension(t, name)
			want := []sgRule{
				{"egress", "FunctionSecurityGroup", "ClusterSecurityGroupId", "tcp", 9098, 9098},
				{"ingress", "ClusterSecurityGroupId", "FunctionSecurityGroup", "tcp", 9098, 9098},
			}
			if got := sgRules(t, tpl); !reflect.DeepEqual(got, want) {
				t.Errorf("security-group rules %+v, want %+v", got, want)
			}
			role := tpl.Properties("FunctionRole")
			pols, _ := role["Policies"].([]any)
			if len(pols) != 1 {
				t.Fatalf("role policies %v, want one", pols)
			}
			doc, _ := pols[0].(map[string]any)["PolicyDocument"].(map[string]any)
			var gotPol iampolicy.Policy
			b, _ := json.Marshal(doc)
			if err := json.Unmarshal(b, &gotPol); err != nil {
				t.Fatal(err)
			}
			arn, _ := iampolicy.ParseClusterARN(exampleARN)
			wantPol := iampolicy.Generate(arn, iampolicy.Workload{Produce: []string{"orders", "payments"}, Idempotent: true})
			if !reflect.DeepEqual(&gotPol, wantPol) {
				t.Errorf("role policy %+v, want iampolicy's %+v", gotPol, wantPol)
			}
			fn := tpl.Properties(ExtensionFunctionID)
			if fn["Runtime"] != g.runtime || fn["Handler"] != extensionRuntimes[g.runtime].handler {
				t.Errorf("function runtime %v handler %v", fn["Runtime"], fn["Handler"])
			}
			if layers := fn["Layers"].([]any); len(layers) != 1 || !reflect.DeepEqual(layers[0], map[string]any{"Ref": "MsklinkExtensionLayer"}) {
				t.Errorf("function layers %v, want the extension's", layers)
			}
			if _, ok := fn["VpcConfig"]; !ok {
				t.Error("the function is not in the VPC")
			}
			vars := fn["Environment"].(map[string]any)["Variables"].(map[string]any)
			var names []string
			for k := range vars {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range asked {
				if _, ok := vars[k]; !ok && !notForExtension[k] {
					t.Errorf("the extension reads %s, which the template does not set", k)
				}
			}
			for _, k := range names {
				if k != "MSK_TOPIC" && !contains(asked, k) {
					t.Errorf("the template sets %s, which the extension does not read", k)
				}
			}
			if vars["MSK_PROXY_LISTEN"] != extension.DefaultListen {
				t.Errorf("MSK_PROXY_LISTEN %v", vars["MSK_PROXY_LISTEN"])
			}
		})
	}
}

// notForExtension are kafkaconn.FromEnv's variables of producing (or of
// other auth modes) that the extension reads but never uses: the function's
// own client produces.
var notForExtension = map[string]bool{
	"MSK_TOPIC": true, "MSK_TLS_CERT_FILE": true, "MSK_TLS_KEY_FILE": true, "MSK_SCRAM_USERNAME": true, "MSK_SCRAM_PASSWORD": true,
	"MSK_ACKS": true, "MSK_COMPRESSION": true, "MSK_IDEMPOTENT": true, "MSK_LINGER": true, "MSK_DELIVERY_TIMEOUT": true,
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestExtensionBadParams: what the extension template cannot deploy is a
// *ParamError naming the flag.
func TestExtensionBadParams(t *testing.T) {
	for _, tc := range []struct {
		name, runtime, flag string
		mod                 func(*Params)
	}{
		{"unknown runtime", "ruby3.3", "runtime", nil},
		{"scram", "python3.13", "auth", func(p *Params) { p.Auth = kafkaconn.AuthSCRAM }},
		{"esm", "python3.13", "esm", func(p *Params) { p.ESM = &ESM{Group: "g"} }},
		{"plaintext port", "python3.13", "bootstrap", func(p *Params) { p.Bootstrap = []string{exampleB1 + ":9092"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := exampleParams(kafkaconn.AuthIAM, FormatSAM)
			if tc.mod != nil {
				tc.mod(&p)
			}
			_, err := RenderExtension(p, tc.runtime)
			var pe *ParamError
			if !errors.As(err, &pe) || pe.Flag != tc.flag {
				t.Errorf("RenderExtension: %v, want a ParamError for --%s", err, tc.flag)
			}
		})
	}
}

// TestExtensionTemplatesValidate runs AWS's offline validator on every
// extension rendering (and cfn-lint, with the SAM transform, where it is
// installed): no finding of severity WARN or above.
func TestExtensionTemplatesValidate(t *testing.T) {
	validator(t)
	dir := t.TempDir()
	var files []string
	for name := range extensionGoldens {
		_, b := renderExtension(t, name)
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	sort.Strings(files)
	for f, r := range validate(t, files...) {
		if r.Status != "OK" {
			t.Errorf("%s: analysis %s", f, r.Status)
		}
		for _, d := range r.problems() {
			t.Errorf("%s:%d: %s %s %s %s: %s", filepath.Base(f), d.Line, d.Severity, d.RuleID, d.Resource, d.Path, d.Message)
		}
	}
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Log("cfn-lint not installed: the SAM transform was not checked")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"--format", "parseable", "--"}, files...)...).CombinedOutput()
	if err != nil {
		t.Errorf("cfn-lint: %v\n%s", err, out)
	}
	if strings.TrimSpace(string(out)) != "" {
		t.Logf("cfn-lint: %s", out)
	}
}
