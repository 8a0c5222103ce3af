package deploycheck

import (
	"fmt"
	"strings"
)

// checkRuntime checks a Go bootstrap's runtime, handler and architecture
// against what deploy/Makefile builds: a static linux binary named
// bootstrap (CGO_ENABLED=0) for GOARCH (arm64 unless make GOARCH=amd64),
// which only the OS-only runtimes run. A function is taken for a Go
// bootstrap when its Handler is bootstrap, its Runtime is provided.*, or
// SAM builds it with a Makefile or as go1.x; container images are left
// alone.
func (c *checker) checkRuntime(f *function) {
	if pt, _, _ := c.lookup(f.props, "PackageType"); pt == "Image" {
		return
	}
	runtime, hasRuntime := c.get(f.id, f.props, "Runtime", "the function's runtime")
	handler, hasHandler := c.get(f.id, f.props, "Handler", "the function's handler")
	rt, _ := runtime.(string)
	h, _ := handler.(string)
	build := ""
	if f.sam {
		build, _ = f.meta["BuildMethod"].(string)
	}
	goBootstrap := h == "bootstrap" || strings.HasPrefix(rt, "provided") || build == "go1.x" ||
		(build == "makefile" && (h == "" || h == "bootstrap"))
	if !goBootstrap {
		return
	}
	switch {
	case !hasRuntime:
		c.add(SeverityError, CheckRuntime, f.id, "Properties.Runtime", "a .zip function needs a Runtime, and a Go bootstrap runs only on an OS-only runtime",
			"set Runtime: provided.al2023")
	case rt == "provided.al2023":
	case rt == "provided.al2":
		c.add(SeverityWarning, CheckRuntime, f.id, "Properties.Runtime", "provided.al2 runs the bootstrap, but on Amazon Linux 2, which reaches its end of support before Amazon Linux 2023",
			"set Runtime: provided.al2023")
	case rt != "":
		c.add(SeverityError, CheckRuntime, f.id, "Properties.Runtime",
			fmt.Sprintf("runtime %s does not run a Go bootstrap (deploy/Makefile builds a static binary named bootstrap, which only the OS-only runtimes start; %s looks for its own handler and fails at Init)", rt, rt),
			"set Runtime: provided.al2023")
	}
	switch {
	case !hasHandler:
		c.add(SeverityError, CheckHandler, f.id, "Properties.Handler", "no Handler: Lambda requires one for a .zip package (CreateFunction fails), whatever the runtime does with it",
			"set Handler: bootstrap (the provided runtimes run the file named bootstrap and ignore the value)")
	case h != "bootstrap" && handler != nil:
		c.add(SeverityWarning, CheckHandler, f.id, "Properties.Handler", fmt.Sprintf("Handler %q: an OS-only runtime runs the file named bootstrap whatever Handler says, so this value misleads a reader", h),
			"set Handler: bootstrap")
	}
	arch, has := c.get(f.id, f.props, "Architectures", "the function's architecture")
	if arch == nil && has {
		return // reported as unresolved
	}
	got := "x86_64" // Lambda's default
	if l, ok := arch.([]any); ok && len(l) == 1 {
		got, _ = scalar(l[0])
	}
	want := map[string]string{"arm64": "arm64", "amd64": "x86_64"}[c.cfg.goarch]
	if want == "" {
		want = c.cfg.goarch
	}
	if got != want {
		why := fmt.Sprintf("Architectures is %s", got)
		if !has {
			why = "no Architectures, so Lambda runs x86_64"
		}
		c.add(SeverityError, CheckArchitecture, f.id, "Properties.Architectures",
			fmt.Sprintf("%s, but deploy/Makefile builds the bootstrap for GOARCH=%s: the function fails at Init with exec format error", why, c.cfg.goarch),
			fmt.Sprintf("set Architectures: [%s], or build with make GOARCH=%s (and check with --goarch)", want, map[string]string{"arm64": "amd64", "x86_64": "amd64"}[got]))
	}
}

// checkSecretEnv reports SCRAM credentials in the function's environment:
// Lambda shows the environment to anyone who may read the function's
// configuration (lambda:GetFunctionConfiguration, the console, CloudTrail
// of UpdateFunctionConfiguration), and a dynamic reference
// {{resolve:secretsmanager:...}} is resolved into it in plain text at
// deploy time. The function should read the secret at Init instead.
func (c *checker) checkSecretEnv(f *function, raw map[string]any) {
	fix := "pass the secret's ARN (MSK_SCRAM_SECRET_ARN) and read the secret from Secrets Manager at Init; grant secretsmanager:GetSecretValue on it"
	for _, k := range sortedKeys(raw) {
		path := "Properties.Environment.Variables." + k
		if containsString(raw[k], "{{resolve:secretsmanager:") {
			c.add(SeverityError, CheckSecretEnv, f.id, path,
				fmt.Sprintf("%s is a {{resolve:secretsmanager:...}} reference, which CloudFormation resolves into the function's configuration in plain text", k), fix)
			continue
		}
		if k == "MSK_SCRAM_PASSWORD" {
			if v, err := c.r.eval(raw[k]); err != nil || v != "" {
				c.add(SeverityError, CheckSecretEnv, f.id, path, "MSK_SCRAM_PASSWORD is set: the SCRAM password is in plain text in the function's configuration", fix)
			}
		}
	}
}

// containsString reports whether a string inside v contains sub.
func containsString(v any, sub string) bool {
	switch v := v.(type) {
	case string:
		return strings.Contains(v, sub)
	case []any:
		for _, x := range v {
			if containsString(x, sub) {
				return true
			}
		}
	case map[string]any:
		for _, x := range v {
			if containsString(x, sub) {
				return true
			}
		}
	}
	return false
}
