package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/msklink/msklink/esm/eventfilter"
)

// filterFlagsUsage is the synopsis of filterFlags, for commands' usage.
const filterFlagsUsage = `[--filter PATTERN]... [--filter-criteria FILE]`

// filterFlags are an event source mapping's FilterCriteria: --filter
// PATTERN (repeatable, one filter each, as the console takes them) and
// --filter-criteria FILE ({"Filters": [{"Pattern": "..."}]}, as aws lambda
// create-event-source-mapping --filter-criteria takes it). Both may be
// given: the filters add up.
type filterFlags struct {
	patterns patternList
	file     string
}

type patternList []string

func (p *patternList) String() string { return strings.Join(*p, " ") }

func (p *patternList) Set(s string) error {
	*p = append(*p, s)
	return nil
}

func (f *filterFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.patterns, "filter", `a filter pattern on the record value, e.g. '{"value": {"type": ["order"]}}' (repeatable; a record matching any filter is delivered)`)
	fs.StringVar(&f.file, "filter-criteria", "", `a FilterCriteria JSON file, {"Filters": [{"Pattern": "..."}]}, as aws lambda create-event-source-mapping takes it`)
}

// criteria compiles the filters; nil when none were given. A bad pattern
// is a usage error naming the flag, the filter, the path in the pattern
// and the operator.
func (f *filterFlags) criteria(cmd string) (*eventfilter.Criteria, error) {
	var fromFlags, fromFile *eventfilter.Criteria
	if len(f.patterns) > 0 {
		c, err := eventfilter.Compile(f.patterns...)
		if err != nil {
			return nil, filterUsage(cmd, "--filter", err)
		}
		fromFlags = c
	}
	if f.file != "" {
		data, err := os.ReadFile(f.file)
		if err != nil {
			return nil, usagef("%s: --filter-criteria: %v", cmd, err)
		}
		c, err := eventfilter.Parse(data)
		if err != nil {
			return nil, filterUsage(cmd, "--filter-criteria "+f.file, err)
		}
		fromFile = c
	}
	if fromFlags == nil && fromFile == nil {
		return nil, nil
	}
	c, err := eventfilter.Join(fromFlags, fromFile)
	if err != nil {
		return nil, filterUsage(cmd, "--filter and --filter-criteria", err)
	}
	return c, nil
}

// filterUsage words a pattern error for flag: "esm: --filter 2:
// value.n[0] ("numeric"): ...".
func filterUsage(cmd, flag string, err error) error {
	var pe *eventfilter.PatternError
	if !errors.As(err, &pe) {
		return usagef("%s: %s: %v", cmd, flag, err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", cmd, flag)
	if pe.Filter > 0 {
		if strings.HasPrefix(flag, "--filter-criteria") {
			fmt.Fprintf(&b, ": filter %d", pe.Filter)
		} else {
			fmt.Fprintf(&b, " %d", pe.Filter)
		}
	}
	b.WriteString(": ")
	b.WriteString(pe.Detail())
	return usagef("%s", b.String())
}
