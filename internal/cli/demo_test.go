package cli

import (
	"strings"
	"testing"
)

// TestDemo runs the README's first command in-process: it must exit 0 with
// every record round-tripped, on a machine with no AWS configuration.
func TestDemo(t *testing.T) {
	cleanAWSEnv(t)
	out, errOut, code := runCLI(t, "", "demo")
	if code != 0 {
		t.Fatalf("demo exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"direct ", "sqs ", "apigw ", "eventbridge ", "consumed  8 of 8", "partial batch response: 1 failed",
		"delivered 8 of 8 records to the consumer function", "ok        every record made the round trip"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
