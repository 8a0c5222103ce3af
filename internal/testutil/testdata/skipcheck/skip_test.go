// Package skipcheck is run by TestMissingToolIsNeverCached with go test:
// its one test needs a tool, named by $MSKLINK_SKIPCHECK_TOOL, on PATH.
package skipcheck

import (
	"os"
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Main(m) }

func TestNeedsTool(t *testing.T) {
	testutil.LookTool(t, os.Getenv("MSKLINK_SKIPCHECK_TOOL"), "see TestMissingToolIsNeverCached")
}
