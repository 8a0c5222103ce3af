package iamauth

import (
	"regexp"
	"testing"
)

// regionPattern is the shape isRegionName checks, as a regular expression.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$`)

// FuzzRegionName checks the hand-written isRegionName against the
// regular expression it stands for.
func FuzzRegionName(f *testing.F) {
	for _, s := range []string{"", "us", "us-1", "us-east-1", "us-east-12", "us-east-123", "us--east-1", "us-east-",
		"-east-1", "u1-east-1", "US-east-1", "us-gov-west-1", "cn-north-1", "us-east1", "useast-1", "us-eAst-1",
		"us-east-1-", "us-é-1", "usa-east-1", "us-e-1", "us-east-a1", "ab-c-d-e-9", "us-east-1a", "us-", "us-1-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isRegionName(s), regionPattern.MatchString(s); got != want {
			t.Fatalf("isRegionName(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
