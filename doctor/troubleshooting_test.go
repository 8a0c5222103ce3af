package doctor

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// troubleshooting is the guide whose error texts Explain must know.
const troubleshooting = "../docs/TROUBLESHOOTING.md"

// docRow is one row of a table of error texts in the guide.
type docRow struct {
	line   int
	texts  []string // the error texts: the code spans of the first column
	causes []string // the cause codes of the causes column, likeliest first
	// commands are the msklink commands the causes column gives as the
	// way out ("msklink proxy").
	commands []string
}

var (
	codeSpan = regexp.MustCompile("`([^`]+)`")
	command  = regexp.MustCompile("`(msklink [a-z]+)`")
)

// errorTextRows returns the rows of every table in the guide whose first
// column is headed "error text" and that has a column headed "...
// causes ...": the convention by which the guide lists what Explain
// knows.
func errorTextRows(t *testing.T, doc string) []docRow {
	t.Helper()
	known := map[string]bool{}
	for _, c := range Causes() {
		known[c] = true
	}
	var rows []docRow
	causesCol := -1
	inTable := false
	for i, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable, causesCol = false, -1
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		if !inTable {
			inTable = true
			if strings.EqualFold(strings.TrimSpace(cells[0]), "error text") {
				for j, c := range cells {
					if strings.Contains(strings.ToLower(c), "causes") {
						causesCol = j
					}
				}
				if causesCol < 0 {
					t.Fatalf("%s:%d: a table of error texts without a causes column", troubleshooting, i+1)
				}
			}
			continue
		}
		if causesCol < 0 || strings.HasPrefix(line, "|---") {
			continue
		}
		if len(cells) <= causesCol {
			t.Fatalf("%s:%d: %d cells, want a causes column %d: %s", troubleshooting, i+1, len(cells), causesCol+1, line)
		}
		r := docRow{line: i + 1}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[0], -1) {
			r.texts = append(r.texts, m[1])
		}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[causesCol], -1) {
			if known[m[1]] && !slices.Contains(r.causes, m[1]) {
				r.causes = append(r.causes, m[1])
			}
		}
		for _, m := range command.FindAllStringSubmatch(cells[causesCol], -1) {
			r.commands = append(r.commands, m[1])
		}
		if len(r.texts) == 0 || len(r.causes) == 0 {
			t.Fatalf("%s:%d: a row of error texts needs the texts as code spans and at least one cause code: %s", troubleshooting, i+1, line)
		}
		rows = append(rows, r)
	}
	return rows
}

// TestExplainKnowsTroubleshootingGuide: every error text the guide's
// tables of error texts list is known to Explain, which names first the
// cause the guide names first, and lists every other cause the guide
// gives for it. The guide and Explain cannot drift apart: a text added to
// the guide fails here until Explain knows it.
func TestExplainKnowsTroubleshootingGuide(t *testing.T) {
	b, err := os.ReadFile(troubleshooting)
	if err != nil {
		t.Fatal(err)
	}
	rows := errorTextRows(t, string(b))
	if len(rows) < 20 {
		t.Fatalf("found %d rows of error texts in %s; the tables headed \"error text\" are gone or unreadable", len(rows), troubleshooting)
	}
	for _, r := range rows {
		for _, text := range r.texts {
			ex := Explain(text)
			if len(ex) == 0 {
				t.Errorf("%s:%d: msklink explain does not know %q", troubleshooting, r.line, text)
				continue
			}
			var got []string
			for _, x := range ex {
				for _, c := range x.Causes {
					got = append(got, c.Cause)
				}
			}
			if got[0] != r.causes[0] {
				t.Errorf("%s:%d: %q: the guide's likeliest cause is %s, explain's is %s (%s)", troubleshooting, r.line, text, r.causes[0], got[0], ex[0].Meaning)
			}
			// A command the guide gives as the way out (`msklink proxy`)
			// is in explain's answer too.
			all := fmt.Sprintf("%+v", ex)
			for _, cmd := range r.commands {
				if !strings.Contains(all, cmd) {
					t.Errorf("%s:%d: %q: the guide says %q; explain does not: %s", troubleshooting, r.line, text, cmd, all)
				}
			}
			for _, c := range r.causes[1:] {
				if !slices.Contains(got, c) {
					t.Errorf("%s:%d: %q: the guide names cause %s, explain does not (it lists %q)", troubleshooting, r.line, text, c, got)
				}
			}
		}
	}
}
