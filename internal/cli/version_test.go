package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: "1a2b3c4d5e6f7a8b9c0d"}, {Key: "vcs.time", Value: "2026-12-08T02:00:00Z"}}
	for _, tc := range []struct {
		name, linked string
		bi           *debug.BuildInfo
		want         string
	}{
		{"no build info", "devel", nil, "msklink devel " + runtime.Version() + platform},
		{"go install module@version", "devel", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "msklink v1.2.3 go1.26.8" + platform},
		{"git checkout", "devel", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs},
			"msklink devel commit 1a2b3c4d5e6f (2026-12-08T02:00:00Z) go1.26.8" + platform},
		{"modified", "devel", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: append(vcs[:3:3], debug.BuildSetting{Key: "vcs.modified", Value: "true"})},
			"msklink devel commit 1a2b3c4d5e6f (2026-12-08T02:00:00Z, modified) go1.26.8" + platform},
		{"ldflags", "v9.9.9", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}}, "msklink v9.9.9 go1.26.8" + platform},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := formatVersion(tc.linked, tc.bi, tc.bi != nil); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestVersionBinary builds msklink from a git checkout of this tree (the
// files as they are now, committed in a new repository: go build stamps
// no VCS information in a linked worktree, golang/go#58218) and runs
// "msklink version": it names the module version, the commit and its
// time (it printed only "devel"), and "modified" once the tree has changes
// not committed.
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds msklink")
	}
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=msklink-test", "-c", "user.email=test@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	top := git(".", "rev-parse", "--show-toplevel")
	dir := t.TempDir()
	for _, f := range strings.Split(git(top, "ls-files", "--cached", "--others", "--exclude-standard"), "\n") {
		b, err := os.ReadFile(filepath.Join(top, f))
		if os.IsNotExist(err) {
			continue // deleted, not yet committed
		}
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git(dir, "init", "-q")
	git(dir, "add", "-A")
	git(dir, "commit", "-q", "-m", "test")
	rev, at := git(dir, "rev-parse", "HEAD"), git(dir, "log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ")
	version := func() string {
		t.Helper()
		bin := filepath.Join(t.TempDir(), "msklink")
		build := exec.Command("go", "build", "-buildvcs=true", "-o", bin, "./cmd/msklink")
		build.Dir = dir
		build.Env = append(os.Environ(), "TZ=UTC")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// The module version is go build's pseudo-version of the commit
	// (v0.0.0-<time>-<rev>, "+dirty" with changes).
	want := " commit " + rev[:12] + " (" + at + ") " + runtime.Version()
	if got := version(); !strings.HasPrefix(got, "msklink v") || !strings.Contains(got, want) {
		t.Errorf("msklink version: %q, want a version and %q", got, want)
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("changed\n"), 0o644)
	if got := version(); !strings.Contains(got, " commit "+rev[:12]+" ("+at+", modified) ") {
		t.Errorf("msklink version with a change not committed: %q", got)
	}
}
