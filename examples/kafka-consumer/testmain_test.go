package main

import (
	"testing"

	"github.com/msklink/msklink/internal/testutil"
)

// TestMain reports the tests skipped for a missing tool beside go test's
// summary (testutil.Main).
func TestMain(m *testing.M) { testutil.Main(m) }
