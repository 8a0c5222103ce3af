package cli

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// versionLine is what msklink version prints: the version (Version when
// set at link time, else the module's version from the build info, as go
// install module@version stamps it, else "devel"), then the VCS stamp go
// build writes from a git checkout (commit, its time, and whether the
// tree had changes not committed), the Go version and the platform:
//
//	msklink devel commit 1a2b3c4d5e6f (2026-12-08T02:00:00Z, modified) go1.26.8 linux/amd64
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	return formatVersion(Version, bi, ok)
}

// formatVersion is versionLine's text for the link-time version v and the
// build info bi (ok false: none).
func formatVersion(v string, bi *debug.BuildInfo, ok bool) string {
	parts := []string{"msklink"}
	if !ok {
		return strings.Join(append(parts, v, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH), " ")
	}
	if v == "devel" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	parts = append(parts, v)
	var rev, at string
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		parts = append(parts, "commit", rev[:min(12, len(rev))])
		var notes []string
		if at != "" {
			notes = append(notes, at)
		}
		if modified {
			notes = append(notes, "modified")
		}
		if len(notes) > 0 {
			parts = append(parts, "("+strings.Join(notes, ", ")+")")
		}
	}
	goVersion := bi.GoVersion
	if goVersion == "" {
		goVersion = runtime.Version()
	}
	return strings.Join(append(parts, goVersion, runtime.GOOS+"/"+runtime.GOARCH), " ")
}
