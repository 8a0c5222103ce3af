package esm

import (
	"regexp"
	"strings"
	"testing"
)

// groupIDPattern is ConsumerGroupId's pattern in Lambda's API, which
// validGroupID checks by hand.
var groupIDPattern = regexp.MustCompile(`^[a-zA-Z0-9\-/*:_+=.@-]{1,200}$`)

// FuzzGroupID checks validGroupID against the pattern it stands for.
func FuzzGroupID(f *testing.F) {
	for _, s := range []string{"", "a", "msklink-esm-1", "bad group", "g/*:_+=.@-", "é", "a\n", "#", strings.Repeat("g", 200), strings.Repeat("g", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validGroupID(s), groupIDPattern.MatchString(s); got != want {
			t.Fatalf("validGroupID(%q) = %v, the pattern says %v", s, got, want)
		}
	})
}
