package cli

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readmeBlock is one ```sh block of README.md marked for docs/walkthrough.sh.
type readmeBlock struct {
	name  string
	lines []string
}

var walkthroughMarker = regexp.MustCompile(`^<!-- walkthrough: ([a-z]+) -->$`)

// walkthroughBlocks returns README.md's blocks marked <!-- walkthrough: NAME -->,
// in the README's order.
func walkthroughBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		m := walkthroughMarker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "```sh" {
			t.Fatalf("README.md:%d: %s is not followed by a ```sh block", i+1, lines[i])
		}
		blk := readmeBlock{name: m[1]}
		for i += 2; i < len(lines) && lines[i] != "```"; i++ {
			blk.lines = append(blk.lines, lines[i])
		}
		blocks = append(blocks, blk)
	}
	return blocks
}

// TestWalkthroughMatchesREADME: docs/walkthrough.sh runs every block of
// README.md marked for it and no other, exactly as the README has them
// (its --print shows what it runs), and every msklink command in them
// parses: each one's flags exist.
func TestWalkthroughMatchesREADME(t *testing.T) {
	blocks := walkthroughBlocks(t)
	var names []string
	for _, b := range blocks {
		names = append(names, b.name)
	}
	for _, want := range []string{"local", "invoke", "proxy", "esm", "stop"} {
		if !slices.Contains(names, want) {
			t.Errorf("README.md has no ```sh block marked <!-- walkthrough: %s -->", want)
		}
	}

	script, err := os.ReadFile("../../docs/walkthrough.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BLOCKS=\(([a-z ]+)\)$`).FindSubmatch(script)
	if m == nil {
		t.Fatal("docs/walkthrough.sh has no BLOCKS=(...) line")
	}
	run := strings.Fields(string(m[1]))
	if !slices.Equal(slices.Sorted(slices.Values(run)), slices.Sorted(slices.Values(names))) {
		t.Fatalf("docs/walkthrough.sh runs blocks %q; README.md marks %q", run, names)
	}

	cmd := exec.Command("bash", "docs/walkthrough.sh", "--print")
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walkthrough.sh --print: %v\n%s", err, out)
	}
	var want strings.Builder
	for _, name := range run {
		want.WriteString("# walkthrough: " + name + "\n")
		for _, b := range blocks {
			if b.name == name {
				for _, l := range b.lines {
					want.WriteString(l + "\n")
				}
			}
		}
	}
	if string(out) != want.String() {
		t.Fatalf("walkthrough.sh --print:\n%s\nREADME.md's blocks:\n%s", out, want.String())
	}

	// Each msklink command of the blocks, with --help after its flags:
	// an unknown flag is a usage error before the help is reached.
	for _, b := range blocks {
		for _, line := range b.lines {
			line, _, _ = strings.Cut(line, " #")
			for _, part := range regexp.MustCompile(`[;&|]+`).Split(line, -1) {
				f := strings.Fields(part)
				if len(f) == 0 || f[0] != "msklink" {
					continue
				}
				args := append(f[1:], "--help")
				if _, errOut, code := runCLI(t, "", args...); code != 0 {
					t.Errorf("README.md block %s: %s: exit %d: %s", b.name, strings.TrimSpace(part), code, errOut)
				}
			}
		}
	}
}
