package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireToolsEnv names the environment variable that turns a skip for a
// missing third-party tool into a failure. .ci/run sets it
// (MSKLINK_REQUIRE_TOOLS=1) after .ci/install-tools has installed every
// tool, so a test that cannot run there fails instead of passing silently.
const RequireToolsEnv = "MSKLINK_REQUIRE_TOOLS"

// InstallTools is the one command that installs every tool the tests run
// (kcat, kafka-python, make, aws-lambda-rie, the template validator).
const InstallTools = "bash .ci/install-tools"

// toolSkips counts the tests of this test binary skipped for a missing
// tool, by tool, for Main's summary. It is the one process-wide state of
// this package: tests report to their binary's TestMain through it.
var toolSkips struct {
	sync.Mutex
	n map[string]int
}

// MissingTool is the one way a test gives up because a third-party tool
// (a client, a validator, a build tool) is not installed: it skips t,
// naming tool and how to install it, and counts the skip for Main's
// summary; with MSKLINK_REQUIRE_TOOLS=1 (CI) it fails t instead.
//
// A skipped run is never cached by go test (see Main), so the next run,
// after the tool is installed, runs the test for real instead of
// reporting the skip as "ok (cached)".
func MissingTool(t testing.TB, tool, install string) {
	t.Helper()
	if os.Getenv(RequireToolsEnv) == "1" {
		t.Fatalf("%s is missing: %s=1 requires every tool (%s; all of them: %s)", tool, RequireToolsEnv, install, InstallTools)
	}
	skipMissing(t, tool, fmt.Sprintf("%s is not installed (%s; all of them: %s)", tool, install, InstallTools))
}

// MissingOptionalTool is MissingTool for a tool that no registry CI
// reaches has (cfn-lint, from PyPI): it skips t even in CI, and is
// counted in Main's summary like any other.
func MissingOptionalTool(t testing.TB, tool, why string) {
	t.Helper()
	skipMissing(t, tool, fmt.Sprintf("%s is not installed: %s", tool, why))
}

func skipMissing(t testing.TB, tool, msg string) {
	t.Helper()
	toolSkips.Lock()
	if toolSkips.n == nil {
		toolSkips.n = map[string]int{}
	}
	toolSkips.n[tool]++
	toolSkips.Unlock()
	// go test records the files a test opens and refuses to cache a
	// result that read a file modified in the last two seconds. Main
	// writes this file, with a modification time in the future, after
	// a run with skips: a skipped result is then never cached.
	if f, err := os.Open(skipsFile()); err == nil {
		f.Close()
	}
	t.Skip(msg)
}

// NeedTool returns path, the path of a third-party client a test runs,
// or, when nothing is there, gives up on the test with MissingTool.
// install says how to install it alone ("apt-get install kcat"). The
// lookup is an os.Stat of path, which go test records: installing the
// tool changes the test's cache key.
func NeedTool(t testing.TB, path, install string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		MissingTool(t, filepath.Base(path), install)
	}
	return path
}

// LookTool is NeedTool for a tool found on PATH (exec.LookPath, whose
// reads of PATH and of each candidate go test records).
func LookTool(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		MissingTool(t, name, install)
	}
	return p
}

// Main runs the tests of a package (call it from TestMain) and then, when
// tests were skipped for missing tools, says so where a person reads it:
// "N tests skipped: kcat not installed (install: bash .ci/install-tools)".
// go test hides a passing package's output behind its "ok" line, so the
// note goes to the terminal (/dev/tty) when there is one, else to stdout
// (which go test -v and a failing run show). m is the package's *testing.M,
// or a wrapper whose Run runs it and then cleans up after the tests.
func Main(m interface{ Run() int }) {
	code := m.Run()
	if note := skipNote(); note != "" {
		pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
		line := fmt.Sprintf("%s: %s\n", pkg, note)
		var w io.Writer = os.Stdout
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			defer tty.Close()
			w = tty
		}
		io.WriteString(w, line)
		markSkipped(line)
	} else {
		os.Remove(skipsFile())
	}
	os.Exit(code)
}

// skipNote summarizes the skips for missing tools, or returns "".
func skipNote() string {
	toolSkips.Lock()
	defer toolSkips.Unlock()
	if len(toolSkips.n) == 0 {
		return ""
	}
	total := 0
	var tools []string
	for tool, n := range toolSkips.n {
		total += n
		tools = append(tools, tool)
	}
	slices.Sort(tools)
	tests := "tests"
	if total == 1 {
		tests = "test"
	}
	return fmt.Sprintf("%d %s skipped: %s not installed (install: %s)", total, tests, strings.Join(tools, ", "), InstallTools)
}

// skipsFile is the file a skipped test opens and Main touches after a run
// with skips (see skipMissing): one per package directory, in .testskips/
// at the module's root (git ignores it). go test checks only the files
// under the module's root that a test opened, so it cannot be in the
// temporary directory; nor can an installed tool's path be the cache key.
func skipsFile() string {
	wd, _ := os.Getwd()
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		up := filepath.Dir(root)
		if up == root {
			root = os.TempDir()
			break
		}
		root = up
	}
	sum := sha256.Sum256([]byte(wd))
	return filepath.Join(root, ".testskips", hex.EncodeToString(sum[:8]))
}

// markSkipped writes the skips file with a modification time an hour
// ahead, so go test, which opened it during the run, does not cache it.
func markSkipped(note string) {
	p := skipsFile()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return
	}
	if err := os.WriteFile(p, []byte(note), 0o644); err != nil {
		return
	}
	future := time.Now().Add(time.Hour)
	os.Chtimes(p, future, future)
}
