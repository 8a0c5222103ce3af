package esm

import (
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestDeps keeps the package map's arrows (DESIGN.md): esm links kafkaconn
// (and iamauth under it) and franz-go, not the Lambda side (lambdafn,
// aws-lambda-go) nor the emulator (kfake).
func TestDeps(t *testing.T) {
	for _, d := range testutil.Deps(t, ".", "") {
		switch {
		case strings.Contains(d, "aws-lambda-go"), strings.Contains(d, "kfake"),
			strings.HasPrefix(d, "github.com/msklink/msklink/") && d != "github.com/msklink/msklink/esm" && d != "github.com/msklink/msklink/esm/eventfilter" &&
				d != "github.com/msklink/msklink/kafkaconn" && d != "github.com/msklink/msklink/iamauth":
			t.Errorf("esm links %s", d)
		}
	}
}
