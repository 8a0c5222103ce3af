package iampolicy

import (
	"fmt"
	"strings"
)

// Outcome is the result of evaluating a request against policies.
type Outcome int

// The three outcomes of IAM evaluation.
const (
	// ImplicitDeny: no statement allows the request (and none denies it).
	ImplicitDeny Outcome = iota
	// Allowed: a statement allows the request and none denies it.
	Allowed
	// ExplicitDeny: a Deny statement matches the request.
	ExplicitDeny
)

// String returns "allowed", "explicitly denied" or "implicitly denied".
func (o Outcome) String() string {
	switch o {
	case ImplicitDeny:
		return "implicitly denied"
	case Allowed:
		return "allowed"
	case ExplicitDeny:
		return "explicitly denied"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Decision is the result of evaluating one (action, resource) request,
// with the statement that decided it.
type Decision struct {
	Outcome  Outcome
	Action   string
	Resource string
	// Policy is the index of the deciding policy in the slice given to
	// [EvaluateAll] (0 for [Policy.Evaluate]); PolicyID is its Id element.
	Policy   int
	PolicyID string
	// Statement is the 1-based position of the deciding statement in its
	// policy, as in [ParseError], or 0 for an implicit deny.
	Statement int
	Sid       string // the deciding statement's Sid, if any

	multi bool // evaluated against several policies: name the policy
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Outcome == Allowed }

// StatementRef names the deciding statement, e.g. `statement 2 ("Produce")`
// or `policy 1 statement 1`, or returns "" for an implicit deny.
func (d Decision) StatementRef() string {
	if d.Statement == 0 {
		return ""
	}
	var b strings.Builder
	if d.multi || d.PolicyID != "" {
		fmt.Fprintf(&b, "policy %d", d.Policy+1)
		if d.PolicyID != "" {
			fmt.Fprintf(&b, " (%q)", d.PolicyID)
		}
		b.WriteString(" ")
	}
	fmt.Fprintf(&b, "statement %d", d.Statement)
	if d.Sid != "" {
		fmt.Fprintf(&b, " (%q)", d.Sid)
	}
	return b.String()
}

// String describes the decision for a log line, e.g.
// `kafka-cluster:WriteData on arn:...: explicitly denied by statement 3 ("NoWrites")`.
func (d Decision) String() string {
	if d.Outcome == ImplicitDeny {
		return fmt.Sprintf("%s on %s: implicitly denied (no statement allows it)", d.Action, d.Resource)
	}
	return fmt.Sprintf("%s on %s: %s by %s", d.Action, d.Resource, d.Outcome, d.StatementRef())
}

// Evaluate decides whether p allows action on resource: a matching Deny
// statement wins, then a matching Allow, else the request is implicitly
// denied. The first matching statement (in document order) of the winning
// effect is reported.
func (p *Policy) Evaluate(action, resource string) Decision {
	return EvaluateAll([]*Policy{p}, action, resource)
}

// EvaluateAll evaluates a request against all the policies attached to
// an identity, as IAM does: an explicit Deny in any policy wins, then an
// Allow in any policy, else an implicit deny. Nil policies are skipped.
func EvaluateAll(policies []*Policy, action, resource string) Decision {
	d := Decision{Action: action, Resource: resource, multi: len(policies) > 1}
	var allow *Decision
	for pi, p := range policies {
		if p == nil {
			continue
		}
		for si := range p.Statements {
			st := &p.Statements[si]
			if !st.Matches(action, resource) {
				continue
			}
			hit := d
			hit.Policy, hit.PolicyID, hit.Statement, hit.Sid = pi, p.ID, si+1, st.Sid
			switch st.Effect {
			case Deny:
				hit.Outcome = ExplicitDeny
				return hit
			case Allow:
				if allow == nil {
					hit.Outcome = Allowed
					allow = &hit
				}
			}
		}
	}
	if allow != nil {
		return *allow
	}
	return d
}

// Matches reports whether the statement applies to action on resource,
// whatever its Effect: the action matches an Action pattern (or none of
// the NotAction patterns), and the resource matches a Resource pattern
// (or none of the NotResource patterns).
func (st *Statement) Matches(action, resource string) bool {
	var actionOK bool
	if len(st.NotAction) > 0 {
		actionOK = !anyMatch(st.NotAction, action, MatchAction)
	} else {
		actionOK = anyMatch(st.Action, action, MatchAction)
	}
	if !actionOK {
		return false
	}
	if len(st.NotResource) > 0 {
		return !anyMatch(st.NotResource, resource, MatchResource)
	}
	return anyMatch(st.Resource, resource, MatchResource)
}

func anyMatch(patterns []string, s string, match func(pattern, s string) bool) bool {
	for _, p := range patterns {
		if match(p, s) {
			return true
		}
	}
	return false
}

// MatchAction reports whether the action pattern (with * and ?
// wildcards) matches action, case-insensitively as IAM compares actions.
func MatchAction(pattern, action string) bool {
	return wildcardMatch(strings.ToLower(pattern), strings.ToLower(action))
}

// MatchResource reports whether the resource pattern matches resource,
// case-sensitively. "*" matches everything. When both are ARNs, they are
// compared segment by segment (partition, service, region, account,
// resource), so a wildcard does not match across the colons that separate
// the first five segments, as in IAM; the final resource segment may
// contain colons and slashes, which wildcards do match. Other patterns
// (which [Parse] rejects in policies) are matched as whole strings.
func MatchResource(pattern, resource string) bool {
	if pattern == "*" {
		return true
	}
	pp := strings.SplitN(pattern, ":", 6)
	rp := strings.SplitN(resource, ":", 6)
	if len(pp) == 6 && len(rp) == 6 {
		for i := range pp {
			if !wildcardMatch(pp[i], rp[i]) {
				return false
			}
		}
		return true
	}
	return wildcardMatch(pattern, resource)
}

// wildcardMatch matches s against pattern, where * matches any sequence of
// characters (including none) and ? matches exactly one character. It
// runs in O(len(pattern)*len(s)) time at worst.
func wildcardMatch(pattern, s string) bool {
	p := []rune(pattern)
	r := []rune(s)
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(r) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == r[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
