package testutil

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMissingToolIsNeverCached runs go test on testdata/skipcheck, whose
// test needs a tool, as a person would: without the tool the summary says
// the test was skipped and why, a second run is not "(cached)", with
// MSKLINK_REQUIRE_TOOLS=1 it fails, and once the tool is installed the
// test runs.
func TestMissingToolIsNeverCached(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	tool := "msklink-skipcheck-" + filepath.Base(bin)
	run := func(env ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "test", "-v", "./testdata/skipcheck")
		cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+filepath.Dir(goBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
			"MSKLINK_SKIPCHECK_TOOL="+tool, RequireToolsEnv+"=")
		cmd.Env = append(cmd.Env, env...)
		// A session of its own has no terminal, so Main's note goes to
		// stdout, which -v shows.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	note := "skipcheck: 1 test skipped: " + tool + " not installed (install: " + InstallTools + ")"
	for i := range 2 {
		out, err := run()
		if err != nil || !strings.Contains(out, "--- SKIP: TestNeedsTool") || !strings.Contains(out, note) || strings.Contains(out, "(cached)") {
			t.Fatalf("run %d without the tool: want a skip, the note %q and no cached result; got %v:\n%s", i+1, note, err, out)
		}
	}
	if out, err := run(RequireToolsEnv + "=1"); err == nil || !strings.Contains(out, "--- FAIL: TestNeedsTool") {
		t.Fatalf("with %s=1: want the test to fail; got %v:\n%s", RequireToolsEnv, err, out)
	}
	if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := run(); err != nil || !strings.Contains(out, "--- PASS: TestNeedsTool") || strings.Contains(out, "skipped") {
		t.Fatalf("with the tool installed: want the test to run and pass; got %v:\n%s", err, out)
	}
}
