package iampolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Policy versions accepted by [Parse].
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effect is a statement's Effect element.
type Effect string

// The two effects IAM knows.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is an IAM identity policy document.
//
// A Policy is safe for concurrent use once built, as long as its fields
// are not modified concurrently.
type Policy struct {
	Version    string // Version2012, Version2008 or "" (absent; IAM then assumes 2008-10-17)
	ID         string // the optional Id element
	Statements []Statement
}

// Statement is one element of a policy's Statement list. Exactly one of
// Action and NotAction, and exactly one of Resource and NotResource, is
// non-empty in a valid statement.
type Statement struct {
	Sid         string
	Effect      Effect
	Action      []string
	NotAction   []string
	Resource    []string
	NotResource []string
}

// Sentinel errors wrapped by [*ParseError].
var (
	// ErrUnsupported: the document uses an element this package cannot
	// evaluate (Condition, Principal, NotPrincipal, policy variables,
	// unknown elements).
	ErrUnsupported = errors.New("iampolicy: unsupported policy element")
	// ErrInvalid: the document is not a valid IAM policy.
	ErrInvalid = errors.New("iampolicy: invalid policy")
)

// ParseError reports a problem in a policy document.
type ParseError struct {
	// Statement is the 1-based position of the statement in the Statement
	// list, or 0 when the problem is outside any statement.
	Statement int
	Sid       string // the statement's Sid, if it has one
	Field     string // the element, e.g. "Condition", "Action[2]", "Version"
	Reason    string // what is wrong and, where possible, what to do
	Err       error  // ErrUnsupported, ErrInvalid, or a JSON error
}

// Error describes the problem, naming the statement (1-based position
// and Sid) and the element.
func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("iampolicy: ")
	switch {
	case e.Statement > 0:
		fmt.Fprintf(&b, "statement %d", e.Statement)
		if e.Sid != "" {
			fmt.Fprintf(&b, " (%q)", e.Sid)
		}
		if e.Field != "" {
			b.WriteString(": " + e.Field)
		}
	case e.Field != "":
		b.WriteString(e.Field)
	default:
		b.WriteString("policy")
	}
	b.WriteString(" " + e.Reason)
	return b.String()
}

// Unwrap returns the sentinel ([ErrUnsupported] or [ErrInvalid]) or the
// underlying JSON error.
func (e *ParseError) Unwrap() error { return e.Err }

// Is makes a JSON-level ParseError match [ErrInvalid] too.
func (e *ParseError) Is(target error) bool {
	return target == ErrInvalid && e.Err != ErrUnsupported
}

// Parse parses an IAM identity policy document and validates it. The
// returned error is a [*ParseError] wrapping [ErrUnsupported] or
// [ErrInvalid].
func Parse(data []byte) (*Policy, error) {
	var top map[string]json.RawMessage
	if err := unmarshalStrict(data, &top); err != nil {
		return nil, &ParseError{Reason: "is not a JSON object: " + err.Error(), Err: err}
	}
	if top == nil {
		return nil, &ParseError{Reason: "is null, want a JSON object", Err: ErrInvalid}
	}
	p := &Policy{}
	for _, k := range sortedKeys(top) {
		raw := top[k]
		switch k {
		case "Version":
			if err := json.Unmarshal(raw, &p.Version); err != nil {
				return nil, &ParseError{Field: "Version", Reason: "must be a string", Err: ErrInvalid}
			}
		case "Id":
			if err := json.Unmarshal(raw, &p.ID); err != nil {
				return nil, &ParseError{Field: "Id", Reason: "must be a string", Err: ErrInvalid}
			}
		case "Statement":
			sts, err := parseStatements(raw)
			if err != nil {
				return nil, err
			}
			p.Statements = sts
		default:
			return nil, &ParseError{Field: quoteKey(k), Reason: "is not a supported top-level element (want Version, Id, Statement)", Err: ErrUnsupported}
		}
	}
	if _, ok := top["Statement"]; !ok {
		return nil, &ParseError{Field: "Statement", Reason: "is missing", Err: ErrInvalid}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// UnmarshalJSON implements [json.Unmarshaler] with [Parse].
func (p *Policy) UnmarshalJSON(data []byte) error {
	q, err := Parse(data)
	if err != nil {
		return err
	}
	*p = *q
	return nil
}

func unmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	if _, err := dec.Token(); err == nil {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

func quoteKey(k string) string { return fmt.Sprintf("%q", k) }

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func parseStatements(raw json.RawMessage) ([]Statement, error) {
	var list []json.RawMessage
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		list = []json.RawMessage{raw}
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, &ParseError{Field: "Statement", Reason: "must be an object or an array of objects", Err: ErrInvalid}
		}
		if len(list) == 0 {
			return nil, &ParseError{Field: "Statement", Reason: "is empty", Err: ErrInvalid}
		}
	default:
		return nil, &ParseError{Field: "Statement", Reason: "must be an object or an array of objects", Err: ErrInvalid}
	}
	sts := make([]Statement, 0, len(list))
	for i, r := range list {
		st, err := parseStatement(i+1, r)
		if err != nil {
			return nil, err
		}
		sts = append(sts, st)
	}
	return sts, nil
}

// unsupportedElements explains the elements that exist in IAM but that
// this package cannot evaluate.
var unsupportedElements = map[string]string{
	"Condition":    "is not supported; remove it or evaluate the policy with the IAM policy simulator (a policy with conditions cannot be evaluated without request context)",
	"Principal":    "is not supported: identity policies have no Principal; remove it (resource-based policies are not evaluated by this package)",
	"NotPrincipal": "is not supported: identity policies have no NotPrincipal; remove it (resource-based policies are not evaluated by this package)",
}

func parseStatement(n int, raw json.RawMessage) (Statement, error) {
	var st Statement
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return st, &ParseError{Statement: n, Reason: "is not a JSON object", Err: ErrInvalid}
	}
	// Read the Sid first so every later error can name it.
	if r, ok := m["Sid"]; ok {
		if err := json.Unmarshal(r, &st.Sid); err != nil {
			return st, &ParseError{Statement: n, Field: "Sid", Reason: "must be a string", Err: ErrInvalid}
		}
	}
	fail := func(field, reason string, err error) (Statement, error) {
		return Statement{}, &ParseError{Statement: n, Sid: st.Sid, Field: field, Reason: reason, Err: err}
	}
	for _, k := range sortedKeys(m) {
		r := m[k]
		var err error
		switch k {
		case "Sid":
		case "Effect":
			var e string
			if json.Unmarshal(r, &e) != nil {
				return fail("Effect", "must be a string", ErrInvalid)
			}
			st.Effect = Effect(e)
		case "Action":
			st.Action, err = stringOrList(r)
		case "NotAction":
			st.NotAction, err = stringOrList(r)
		case "Resource":
			st.Resource, err = stringOrList(r)
		case "NotResource":
			st.NotResource, err = stringOrList(r)
		default:
			if why, ok := unsupportedElements[k]; ok {
				return fail(k, why, ErrUnsupported)
			}
			return fail(quoteKey(k), "is not a supported statement element (want Sid, Effect, Action, NotAction, Resource, NotResource)", ErrUnsupported)
		}
		if err != nil {
			return fail(k, err.Error(), ErrInvalid)
		}
	}
	return st, nil
}

func stringOrList(raw json.RawMessage) ([]string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil || l == nil {
		return nil, errors.New("must be a string or an array of strings")
	}
	if len(l) == 0 {
		return nil, errors.New("is an empty array")
	}
	return l, nil
}

// Validate checks p as [Parse] does: known Version, at least one
// statement, unique alphanumeric Sids, a known Effect, exactly one of
// Action/NotAction and of Resource/NotResource, well-formed actions
// ("*" or "service:name") and resources ("*" or an ARN), and no policy
// variables. It returns a [*ParseError].
func (p *Policy) Validate() error {
	switch p.Version {
	case "", Version2012, Version2008:
	default:
		return &ParseError{Field: "Version", Reason: fmt.Sprintf("%q is not a policy language version (want %q)", p.Version, Version2012), Err: ErrInvalid}
	}
	if len(p.Statements) == 0 {
		return &ParseError{Field: "Statement", Reason: "is empty", Err: ErrInvalid}
	}
	sids := map[string]int{}
	for i := range p.Statements {
		if err := p.Statements[i].validate(i+1, sids); err != nil {
			return err
		}
	}
	return nil
}

func (st *Statement) validate(n int, sids map[string]int) error {
	fail := func(field, reason string, err error) error {
		return &ParseError{Statement: n, Sid: st.Sid, Field: field, Reason: reason, Err: err}
	}
	if st.Sid != "" {
		for _, r := range st.Sid {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return fail("Sid", "must contain only ASCII letters and digits", ErrInvalid)
			}
		}
		if prev, dup := sids[st.Sid]; dup {
			return fail("Sid", fmt.Sprintf("duplicates the Sid of statement %d", prev), ErrInvalid)
		}
		sids[st.Sid] = n
	}
	switch st.Effect {
	case Allow, Deny:
	case "":
		return fail("Effect", "is missing (want \"Allow\" or \"Deny\")", ErrInvalid)
	default:
		return fail("Effect", fmt.Sprintf("%q is not \"Allow\" or \"Deny\"", string(st.Effect)), ErrInvalid)
	}
	switch {
	case len(st.Action) > 0 && len(st.NotAction) > 0:
		return fail("Action", "and NotAction are both present; use one", ErrInvalid)
	case len(st.Action) == 0 && len(st.NotAction) == 0:
		return fail("Action", "is missing (a statement needs Action or NotAction)", ErrInvalid)
	}
	for _, f := range []struct {
		name string
		vals []string
	}{{"Action", st.Action}, {"NotAction", st.NotAction}} {
		for i, a := range f.vals {
			if reason := checkAction(a); reason != "" {
				return fail(fmt.Sprintf("%s[%d]", f.name, i), reason, ErrInvalid)
			}
		}
	}
	switch {
	case len(st.Resource) > 0 && len(st.NotResource) > 0:
		return fail("Resource", "and NotResource are both present; use one", ErrInvalid)
	case len(st.Resource) == 0 && len(st.NotResource) == 0:
		return fail("Resource", "is missing (a statement needs Resource or NotResource)", ErrInvalid)
	}
	for _, f := range []struct {
		name string
		vals []string
	}{{"Resource", st.Resource}, {"NotResource", st.NotResource}} {
		for i, r := range f.vals {
			if reason, err := checkResource(r); reason != "" {
				return fail(fmt.Sprintf("%s[%d]", f.name, i), reason, err)
			}
		}
	}
	return nil
}

func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" {
		return fmt.Sprintf("%q is not \"*\" or \"service:action\"", a)
	}
	for _, r := range svc {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("%q has an invalid service prefix", a)
		}
	}
	return ""
}

func checkResource(r string) (string, error) {
	if strings.Contains(r, "${") {
		return fmt.Sprintf("%q uses a policy variable, which is not supported; replace it with the value", r), ErrUnsupported
	}
	if r == "*" {
		return "", nil
	}
	if !strings.HasPrefix(r, "arn:") || strings.Count(r, ":") < 5 {
		return fmt.Sprintf("%q is not \"*\" or an ARN (arn:partition:service:region:account:resource)", r), ErrInvalid
	}
	return "", nil
}

// statementJSON fixes the element order of marshaled statements.
type statementJSON struct {
	Sid         string   `json:"Sid,omitempty"`
	Effect      Effect   `json:"Effect"`
	Action      []string `json:"Action,omitempty"`
	NotAction   []string `json:"NotAction,omitempty"`
	Resource    []string `json:"Resource,omitempty"`
	NotResource []string `json:"NotResource,omitempty"`
}

type policyJSON struct {
	Version   string          `json:"Version"`
	ID        string          `json:"Id,omitempty"`
	Statement []statementJSON `json:"Statement"`
}

// MarshalJSON returns p as an IAM policy document: Version (2012-10-17
// when p.Version is empty), Id if set, and the statements in order, each
// with its elements in the order Sid, Effect, Action/NotAction,
// Resource/NotResource, and the values of each element sorted and
// de-duplicated. Values are always arrays. It fails with the error of
// [Policy.Validate] if p is not valid.
func (p *Policy) MarshalJSON() ([]byte, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	out := policyJSON{Version: p.Version, ID: p.ID}
	if out.Version == "" {
		out.Version = Version2012
	}
	for _, st := range p.Statements {
		out.Statement = append(out.Statement, statementJSON{
			Sid:         st.Sid,
			Effect:      st.Effect,
			Action:      sortedUnique(st.Action),
			NotAction:   sortedUnique(st.NotAction),
			Resource:    sortedUnique(st.Resource),
			NotResource: sortedUnique(st.NotResource),
		})
	}
	return json.Marshal(out)
}

func sortedUnique(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
