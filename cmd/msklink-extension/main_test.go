package main

import (
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestNotLinked checks that the extension, built as the layer builds it
// (testutil.LambdaTags), links neither the Kafka emulator (kfake, package
// emulator) nor test code nor the AWS SDK's config loader and the SSO
// clients it brings: the extension's memory is the function's.
func TestNotLinked(t *testing.T) {
	for _, d := range testutil.Deps(t, ".", testutil.LambdaTags) {
		if strings.Contains(d, "kfake") || d == "github.com/msklink/msklink/emulator" || d == "testing" ||
			d == "github.com/aws/aws-sdk-go-v2/config" || strings.HasPrefix(d, "github.com/aws/aws-sdk-go-v2/service/sso") {
			t.Errorf("the extension links %s", d)
		}
	}
}
