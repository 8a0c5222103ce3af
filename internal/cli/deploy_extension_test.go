package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestDeployTemplateExtension: deploy template --extension writes the
// extension template for each runtime, its policy the one msklink policy
// generate prints; a missing or unknown runtime and --esm with it are
// usage errors (exit 2).
func TestDeployTemplateExtension(t *testing.T) {
	const bootstrap = "b-1.demo.abc.c2.kafka.us-east-1.amazonaws.com:9098"
	for _, rt := range []string{"python3.13", "nodejs22.x"} {
		t.Run(rt, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", "deploy", "template", "--extension", "--runtime", rt, "--cluster-arn", testClusterARN, "--bootstrap", bootstrap, "--topic", "orders", "--idempotent=false")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			tpl := testutil.ParseTemplate(t, []byte(out))
			if fn := tpl.Properties("ExtensionFunction"); fn["Runtime"] != rt {
				t.Errorf("runtime %v, want %s", fn["Runtime"], rt)
			}
			pol, _, code := runCLI(t, "", "policy", "generate", "--cluster-arn", testClusterARN, "--produce", "orders")
			if code != 0 {
				t.Fatal("policy generate failed")
			}
			var doc any
			for _, p := range tpl.Properties("FunctionRole")["Policies"].([]any) {
				doc = p.(map[string]any)["PolicyDocument"]
			}
			var want any
			if err := json.Unmarshal([]byte(pol), &want); err != nil {
				t.Fatal(err)
			}
			if got, want := canonicalJSON(t, doc), canonicalJSON(t, want); got != want {
				t.Errorf("role policy\n%s\nwant msklink policy generate's\n%s", got, want)
			}
		})
	}
	for _, args := range [][]string{
		{"--extension"},
		{"--extension", "--runtime", "ruby3.3"},
		{"--extension", "--runtime", "python3.13", "--esm", "--group", "g"},
	} {
		_, errOut, code := runCLI(t, "", append(append([]string{"deploy", "template"}, args...), "--cluster-arn", testClusterARN, "--bootstrap", bootstrap, "--topic", "orders")...)
		if code != 2 || !strings.Contains(errOut, "deploy template") {
			t.Errorf("%v: exit %d, want 2 with a usage message: %s", args, code, errOut)
		}
	}
}
