package cli

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/msklink/msklink/iampolicy"
)

// helpPaths is every command and subcommand of msklink, as a person types
// it after "msklink". TestHelpPathsAreTheCommandTable keeps it equal to
// the command table.
var helpPaths = []string{
	"consume", "demo", "deploy", "deploy check", "deploy template", "doctor", "esm", "explain", "invoke", "local",
	"policy", "policy check", "policy generate", "produce", "proxy", "token", "token inspect", "version",
}

// flagInUsage matches a flag a usage line names: --name or -name.
var flagInUsage = regexp.MustCompile(`(?:^|[\s\[(|])--?([a-z][a-z0-9-]*)`)

// flagInDefaults matches a flag flag.PrintDefaults lists: "  -name".
var flagInDefaults = regexp.MustCompile(`(?m)^  -([a-z][a-z0-9-]*)`)

// TestHelp asks every command and subcommand for its help the three ways
// a person does (msklink help CMD, CMD --help, CMD -h) and checks what
// they get: the help on stdout (so "msklink produce --help | less"
// shows it), nothing on stderr, exit 0, the same text each way; usage
// lines that start "msklink CMD" and repeat no word; the flags listed;
// every flag a usage line names among them.
func TestHelp(t *testing.T) {
	for _, path := range helpPaths {
		t.Run(strings.ReplaceAll(path, " ", "_"), func(t *testing.T) {
			words := strings.Fields(path)
			var first string
			for i, args := range [][]string{
				append([]string{"help"}, words...),
				append(slices.Clone(words), "--help"),
				append(slices.Clone(words), "-h"),
			} {
				out, errOut, code := runCLI(t, "", args...)
				if code != 0 || errOut != "" || out == "" {
					t.Fatalf("msklink %s: exit %d, stdout %d bytes, stderr:\n%s", strings.Join(args, " "), code, len(out), errOut)
				}
				if i == 0 {
					first = out
				} else if out != first {
					t.Fatalf("msklink %s prints another help than msklink help %s:\n%s\n---\n%s", strings.Join(args, " "), path, out, first)
				}
			}
			checkHelp(t, path, first)
		})
	}
}

// checkHelp checks one command's help text.
func checkHelp(t *testing.T, path, help string) {
	t.Helper()
	if !strings.HasPrefix(help, "usage: msklink "+path) {
		t.Fatalf("help does not start with %q:\n%s", "usage: msklink "+path, help)
	}
	// The usage lines: each "usage: " line and the lines under it up to a
	// blank line (a command with subcommands prints one block each).
	var usages []string
	inBlock := false
	for line := range strings.Lines(help) {
		line = strings.TrimRight(line, "\n")
		if u, ok := strings.CutPrefix(line, "usage: "); ok {
			inBlock = true
			line = u
		} else if !inBlock || strings.TrimSpace(line) == "" {
			inBlock = false
			continue
		}
		usages = append(usages, strings.TrimSpace(line))
	}
	for _, u := range usages {
		if !strings.HasPrefix(u, "msklink "+path) && !strings.HasPrefix(path, strings.Join(strings.Fields(u)[:2], " ")) {
			t.Errorf("usage line %q is not one of msklink %s", u, path)
		}
		f := strings.Fields(u)
		for i := 1; i < len(f); i++ {
			if f[i] == f[i-1] {
				t.Errorf("usage line repeats %q: %s", f[i], u)
			}
		}
		if strings.Contains(u, " -h ") || strings.Contains(u, "--help") {
			t.Errorf("usage line names the help flag: %s", u)
		}
	}
	if !strings.Contains(help, "\nFlags:\n") && !strings.Contains(help, "Flags of ") {
		t.Fatalf("help lists no flags:\n%s", help)
	}
	listed := map[string]bool{}
	for _, m := range flagInDefaults.FindAllStringSubmatch(help, -1) {
		listed[m[1]] = true
	}
	for _, u := range usages {
		for _, m := range flagInUsage.FindAllStringSubmatch(u, -1) {
			if !listed[m[1]] {
				t.Errorf("usage names --%s, which the help's flags do not list: %s", m[1], u)
			}
		}
	}
}

// TestUsageErrorGoesToStderr: help because of a usage error is not help
// asked for: stderr, exit 2, nothing on stdout.
func TestUsageErrorGoesToStderr(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nosuchcommand"},
		{"help", "nosuchcommand"},
		{"produce", "--nosuchflag"},
		{"policy"},
		{"policy", "nosuchsub"},
		{"deploy", "nosuchsub"},
		{"help", "policy", "nosuchsub"},
	} {
		out, errOut, code := runCLI(t, "", args...)
		if code != 2 || out != "" || errOut == "" {
			t.Errorf("msklink %s: exit %d, stdout %q, stderr %q; want exit 2 and the error on stderr only", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// TestHelpPathsAreTheCommandTable: TestHelp covers every command and
// subcommand of the table, and nothing else.
func TestHelpPathsAreTheCommandTable(t *testing.T) {
	var paths []string
	var walk func(prefix string, cmds []*command)
	walk = func(prefix string, cmds []*command) {
		for _, c := range cmds {
			p := strings.TrimSpace(prefix + " " + c.name)
			paths = append(paths, p)
			walk(p, c.subs)
		}
	}
	walk("", commands())
	slices.Sort(paths)
	want := slices.Sorted(slices.Values(helpPaths))
	if !slices.Equal(paths, want) {
		t.Fatalf("the command table has %q; TestHelp covers %q", paths, want)
	}
}

// TestPolicyGenerateJSON: policy generate --json, advertised by its help,
// prints the policy document and the permissions it grants.
func TestPolicyGenerateJSON(t *testing.T) {
	const arn = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/abc-123"
	for _, args := range [][]string{
		{"--produce", "orders", "--idempotent"},
		{"--esm", "--topic", "orders", "--group", "g1"},
	} {
		out, errOut, code := runCLI(t, "", append([]string{"policy", "generate", "--cluster-arn", arn, "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("policy generate --json %q: exit %d: %s", args, code, errOut)
		}
		var got struct {
			Policy struct {
				Version   string
				Statement []json.RawMessage
			} `json:"policy"`
			Covers []struct{ Action, Resource, Why string } `json:"covers"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("policy generate --json %q: %v\n%s", args, err, out)
		}
		if got.Policy.Version != "2012-10-17" || len(got.Policy.Statement) == 0 || len(got.Covers) == 0 {
			t.Fatalf("policy generate --json %q: no policy or no permissions:\n%s", args, out)
		}
		// Every permission it says it covers, the policy grants.
		p, err := iampolicy.Parse(mustMarshal(t, got.Policy))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range got.Covers {
			if c.Why == "" || !p.Evaluate(c.Action, c.Resource).Allowed() {
				t.Errorf("policy generate --json %q covers %s on %s (%q), which its policy does not allow", args, c.Action, c.Resource, c.Why)
			}
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
