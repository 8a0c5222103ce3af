package eventfilter

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Lambda's limits on FilterCriteria.
const (
	// MaxPatternLength is the longest Pattern, in characters: Filter's
	// Pattern, "Maximum length of 4096" (API_Filter.html).
	MaxPatternLength = 4096

	// DefaultMaxFilters is the filters a mapping may have under the
	// default quota, and MaxFilters the most with a quota increase: "By
	// default, you can have five different filters per event source. You
	// can request a quota increase for up to 10 filters per event source"
	// (invocation-eventfiltering.html). Parse accepts up to MaxFilters.
	DefaultMaxFilters = 5
	MaxFilters        = 10

	// maxNumeric bounds the operands of numeric rules: EventBridge's
	// "Numeric matching only works with values between -5.0e9 and
	// +5.0e9 inclusive" (eb-create-pattern-operators.html).
	maxNumeric = 5.0e9
)

// Sentinel conditions of a PatternError (errors.Is).
var (
	// ErrUnsupported: an operator EventBridge event buses have but
	// Lambda's event filtering does not: wildcard and anything-but with
	// prefix, suffix, equals-ignore-case or wildcard ("Pipe support: No"
	// in eb-create-pattern-operators.html, absent from Lambda's list of
	// operators in invocation-eventfiltering.html), and cidr (IP address
	// matching: in neither list).
	ErrUnsupported = errors.New("eventfilter: not supported by Lambda's event filtering")
	// ErrNotValue: a key other than "value" at the top of a Kafka pattern.
	ErrNotValue = errors.New(`eventfilter: Kafka event source mappings filter on "value" only`)
	// ErrTooMany: more than MaxFilters filters.
	ErrTooMany = errors.New("eventfilter: too many filters")
	// ErrTooLong: a pattern over MaxPatternLength characters.
	ErrTooLong = errors.New("eventfilter: pattern too long")
)

// PatternError is an invalid filter: which filter, where in its pattern
// (a JSON path such as value.device_ID[0]), which operator, and why.
type PatternError struct {
	// Filter is the filter's position in Filters, from 1; 0 when the
	// pattern was compiled alone.
	Filter int
	// Path is the JSON path in the pattern ("" for the whole pattern).
	Path string
	// Operator is the operator at fault ("numeric", "prefix", ...), if any.
	Operator string
	// Reason says what is wrong and, where it helps, what is valid.
	Reason string
	// Err is a sentinel (ErrUnsupported, ErrNotValue, ErrTooLong) or nil.
	Err error
}

func (e *PatternError) Error() string {
	filter := ""
	if e.Filter > 0 {
		filter = fmt.Sprintf("filter %d: ", e.Filter)
	}
	return "eventfilter: " + filter + e.Detail()
}

// Detail is the error without its package and filter number: the path,
// the operator and the reason ("value.n[0] (\"numeric\"): ..."), for a
// caller that names the filter its own way.
func (e *PatternError) Detail() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		if e.Operator != "" {
			fmt.Fprintf(&b, " (%q)", e.Operator)
		}
		b.WriteString(": ")
	} else if e.Operator != "" {
		fmt.Fprintf(&b, "%q: ", e.Operator)
	}
	b.WriteString(e.Reason)
	return b.String()
}

func (e *PatternError) Unwrap() error { return e.Err }

// object is a pattern object: every field must match (And), and one
// branch of each $or.
type object struct {
	fields []field
	ors    [][]*object
}

// field is one key of a pattern object: a nested object, or a list of
// rules of which one must match (Or).
type field struct {
	name  string
	sub   *object
	rules []rule
}

type ruleKind uint8

const (
	ruleString ruleKind = iota // "Alice"; "" is Empty
	ruleNumber                 // 100, by its text (see matchLeaf)
	ruleBool
	ruleNull
	rulePrefix
	ruleSuffix
	ruleEqualsIgnoreCase
	ruleAnythingBut
	ruleNumeric
	ruleExists
)

// rule is one element of a rule list.
type rule struct {
	kind       ruleKind
	s          string   // string, number text, prefix, suffix (lower-cased when fold)
	fold       bool     // prefix/suffix with equals-ignore-case
	b          bool     // bool value; exists
	butStrings []string // anything-but
	butNumbers []string // anything-but, numbers by their text
	lo, hi     float64  // numeric bounds
	loOp, hiOp string   // ">", ">=", "=", or "" (none); "<", "<=" or ""
}

// compile parses one pattern.
func compile(pattern string) (*object, error) {
	if n := utf8.RuneCountInString(pattern); n > MaxPatternLength {
		return nil, &PatternError{Reason: fmt.Sprintf("%d characters; Lambda's limit is %d", n, MaxPatternLength), Err: ErrTooLong}
	}
	d := json.NewDecoder(strings.NewReader(pattern))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, &PatternError{Reason: "not JSON: " + jsonErr(err)}
	}
	if d.More() {
		return nil, &PatternError{Reason: "not JSON: text after the pattern's object"}
	}
	if _, err := d.Token(); err == nil {
		return nil, &PatternError{Reason: "not JSON: text after the pattern's object"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &PatternError{Reason: `a pattern is a JSON object, e.g. {"value": {"type": ["order"]}}`}
	}
	root, err := compileObject(m, "", true)
	if err != nil {
		return nil, err
	}
	return root, nil
}

func jsonErr(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at character %d)", se, se.Offset)
	}
	return err.Error()
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// compileObject compiles a pattern object at path; root says it is the
// pattern's top, where Kafka allows only "value" (and $or of such).
func compileObject(m map[string]any, path string, root bool) (*object, error) {
	if len(m) == 0 {
		what := "an empty object matches nothing useful"
		if root {
			what = `the pattern has no rule: filter on "value", e.g. {"value": {"type": ["order"]}}`
		}
		return nil, &PatternError{Path: path, Reason: what}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	o := &object{}
	for _, k := range keys {
		v := m[k]
		if k == "$or" {
			branches, err := compileOr(v, join(path, k), root)
			if err != nil {
				return nil, err
			}
			o.ors = append(o.ors, branches)
			continue
		}
		p := join(path, k)
		if root && k != "value" {
			return nil, &PatternError{Path: p, Reason: fmt.Sprintf(`Amazon MSK and self-managed Kafka event source mappings filter on the record's "value" only (kafka-filtering.html); %q is not filterable`, k), Err: ErrNotValue}
		}
		switch v := v.(type) {
		case map[string]any:
			sub, err := compileObject(v, p, false)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: k, sub: sub})
		case []any:
			rules, err := compileRules(v, p)
			if err != nil {
				return nil, err
			}
			o.fields = append(o.fields, field{name: k, rules: rules})
		default:
			return nil, &PatternError{Path: p, Reason: fmt.Sprintf(`a field's rules are a list, e.g. [%s], or an object of fields; got %s`, jsonText(v), jsonText(v))}
		}
	}
	return o, nil
}

func compileOr(v any, path string, root bool) ([]*object, error) {
	list, ok := v.([]any)
	if !ok || len(list) < 2 {
		return nil, &PatternError{Path: path, Operator: "$or", Reason: `give a list of two or more pattern objects, e.g. [{"a": ["x"]}, {"b": ["y"]}]`}
	}
	branches := make([]*object, 0, len(list))
	for i, e := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		m, ok := e.(map[string]any)
		if !ok {
			return nil, &PatternError{Path: p, Operator: "$or", Reason: "each branch is a pattern object; got " + jsonText(e)}
		}
		b, err := compileObject(m, p, root)
		if err != nil {
			return nil, err
		}
		branches = append(branches, b)
	}
	return branches, nil
}

func compileRules(list []any, path string) ([]rule, error) {
	if len(list) == 0 {
		return nil, &PatternError{Path: path, Reason: `an empty list matches nothing: give a value such as ["x"], [""] (empty) or [null]`}
	}
	rules := make([]rule, 0, len(list))
	for i, e := range list {
		p := fmt.Sprintf("%s[%d]", path, i)
		var r rule
		switch e := e.(type) {
		case string:
			r = rule{kind: ruleString, s: e}
		case json.Number:
			r = rule{kind: ruleNumber, s: e.String()}
		case bool:
			r = rule{kind: ruleBool, b: e}
		case nil:
			r = rule{kind: ruleNull}
		case map[string]any:
			var err error
			if r, err = compileOperator(e, p); err != nil {
				return nil, err
			}
		default:
			return nil, &PatternError{Path: p, Reason: "a rule is a string, number, true, false, null or an operator object; got a list"}
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// operators lists what Lambda's event filtering supports, for errors.
const operators = `prefix, suffix, equals-ignore-case, anything-but, numeric, exists`

func compileOperator(m map[string]any, path string) (rule, error) {
	if len(m) != 1 {
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		return rule{}, &PatternError{Path: path, Reason: fmt.Sprintf("an operator object holds exactly one operator (%s); got %d keys %q", operators, len(m), keys)}
	}
	var op string
	var v any
	for op, v = range m {
	}
	bad := func(reason string) error { return &PatternError{Path: path, Operator: op, Reason: reason} }
	switch op {
	case "prefix", "suffix":
		kind := rulePrefix
		if op == "suffix" {
			kind = ruleSuffix
		}
		switch v := v.(type) {
		case string:
			return rule{kind: kind, s: v}, nil
		case map[string]any:
			s, ok := v["equals-ignore-case"].(string)
			if len(v) != 1 || !ok {
				return rule{}, bad(fmt.Sprintf(`give a string, or {"equals-ignore-case": "..."}; got %s`, jsonText(v)))
			}
			return rule{kind: kind, s: strings.ToLower(s), fold: true}, nil
		}
		return rule{}, bad(fmt.Sprintf(`give a string, or {"equals-ignore-case": "..."}; got %s`, jsonText(v)))
	case "equals-ignore-case":
		s, ok := v.(string)
		if !ok {
			return rule{}, bad("give a string; got " + jsonText(v))
		}
		return rule{kind: ruleEqualsIgnoreCase, s: s}, nil
	case "anything-but":
		return compileAnythingBut(v, path, bad)
	case "numeric":
		return compileNumeric(v, bad)
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return rule{}, bad("give true or false; got " + jsonText(v))
		}
		return rule{kind: ruleExists, b: b}, nil
	case "wildcard":
		return rule{}, unsupported(path, op, `Lambda's event filtering has no wildcard operator: EventBridge event buses have it, Pipes and Lambda do not ("Pipe support: No", eb-create-pattern-operators.html); use prefix or suffix`)
	case "cidr":
		return rule{}, unsupported(path, op, `Lambda's event filtering has no IP address (cidr) operator: it is in neither Lambda's list of operators (invocation-eventfiltering.html) nor EventBridge's with "Pipe support" (eb-create-pattern-operators.html); list the addresses, or use prefix (e.g. "10.0.0.")`)
	}
	return rule{}, bad(fmt.Sprintf("unknown operator; Lambda's are %s (and $or, as a field)", operators))
}

// unsupported is the error for an operator Lambda refuses.
func unsupported(path, op, reason string) error {
	return &PatternError{Path: path, Operator: op, Reason: reason, Err: ErrUnsupported}
}

func compileAnythingBut(v any, path string, bad func(string) error) (rule, error) {
	r := rule{kind: ruleAnythingBut}
	switch v := v.(type) {
	case string:
		r.butStrings = []string{v}
		return r, nil
	case json.Number:
		r.butNumbers = []string{v.String()}
		return r, nil
	case []any:
		if len(v) == 0 {
			return rule{}, bad("give a string, a number, or a non-empty list of strings or of numbers")
		}
		for _, e := range v {
			switch e := e.(type) {
			case string:
				r.butStrings = append(r.butStrings, e)
			case json.Number:
				r.butNumbers = append(r.butNumbers, e.String())
			default:
				return rule{}, bad("the list holds strings or numbers; got " + jsonText(e))
			}
		}
		if len(r.butStrings) > 0 && len(r.butNumbers) > 0 {
			return rule{}, bad("the list holds strings or numbers, not both")
		}
		return r, nil
	case map[string]any:
		for k := range v {
			switch k {
			case "prefix", "suffix", "equals-ignore-case", "wildcard":
				return rule{}, unsupported(path, "anything-but", fmt.Sprintf(`Lambda's event filtering has no anything-but with %q: EventBridge event buses have it, Pipes and Lambda do not ("Pipe support: No", eb-create-pattern-operators.html); give a list of values instead`, k))
			}
		}
	}
	return rule{}, bad("give a string, a number, or a list of strings or of numbers; got " + jsonText(v))
}

func compileNumeric(v any, bad func(string) error) (rule, error) {
	list, ok := v.([]any)
	if !ok || (len(list) != 2 && len(list) != 4) {
		return rule{}, bad(`give ["=", 100], [">", 10] or a range [">", 10, "<=", 20]; got ` + jsonText(v))
	}
	r := rule{kind: ruleNumeric}
	for i := 0; i < len(list); i += 2 {
		op, ok := list[i].(string)
		if !ok {
			return rule{}, bad(fmt.Sprintf(`element %d: give an operator, one of = < <= > >=; got %s`, i, jsonText(list[i])))
		}
		n, ok := list[i+1].(json.Number)
		if !ok {
			return rule{}, bad(fmt.Sprintf("element %d: give a number after %q; got %s", i+1, op, jsonText(list[i+1])))
		}
		f, err := n.Float64()
		if err != nil || math.Abs(f) > maxNumeric {
			return rule{}, bad(fmt.Sprintf("element %d: %s is out of range: numeric matching works between -5.0e9 and 5.0e9", i+1, n))
		}
		switch op {
		case "=":
			if len(list) != 2 {
				return rule{}, bad(`"=" stands alone: ["=", 100]`)
			}
			r.loOp, r.lo, r.hiOp, r.hi = ">=", f, "<=", f
		case ">", ">=":
			if r.loOp != "" {
				return rule{}, bad("two lower bounds: a range has one lower (> or >=) and one upper (< or <=) bound")
			}
			r.loOp, r.lo = op, f
		case "<", "<=":
			if r.hiOp != "" {
				return rule{}, bad("two upper bounds: a range has one lower (> or >=) and one upper (< or <=) bound")
			}
			r.hiOp, r.hi = op, f
		default:
			return rule{}, bad(fmt.Sprintf("element %d: unknown operator %q; use one of = < <= > >=", i, op))
		}
	}
	if r.loOp != "" && r.hiOp != "" && r.lo > r.hi {
		return rule{}, bad(fmt.Sprintf("the range is empty: lower bound %v is above upper bound %v", r.lo, r.hi))
	}
	return r, nil
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 60 {
		return string(b[:57]) + "..."
	}
	return string(b)
}

// numberText is a number's text for equality, as Lambda compares numbers:
// "For numbers, Lambda also uses string representation. For example, 300,
// 300.0, and 3.0e2 are not considered equal" (invocation-eventfiltering.html).
func numberText(n json.Number) string { return string(n) }

// matchObject reports whether the JSON value v (an object, or anything
// else: then no field exists) matches o.
func matchObject(o *object, v any) bool {
	if arr, ok := v.([]any); ok {
		// An array of objects: one element must match the whole object
		// (EventBridge: a pattern matches an array if it matches one of
		// its elements).
		for _, e := range arr {
			if matchObject(o, e) {
				return true
			}
		}
		return len(arr) == 0 && matchObject(o, nil)
	}
	m, _ := v.(map[string]any)
	for i := range o.fields {
		f := &o.fields[i]
		fv, present := m[f.name]
		if f.sub != nil {
			if !matchObject(f.sub, fv) {
				return false
			}
			continue
		}
		if !matchRules(f.rules, fv, present) {
			return false
		}
	}
	for _, branches := range o.ors {
		if !slices.ContainsFunc(branches, func(b *object) bool { return matchObject(b, m) }) {
			return false
		}
	}
	return true
}

// matchRules reports whether one of rules matches the field's value v
// (present says the field is in the event). Rules apply to leaves: a
// string, number, boolean or null, or the elements of an array (one
// matching is enough: EventBridge's array rule). A field that is an
// object, or an array without leaves, has no leaf: only {"exists": false}
// matches it ("exists matching only works on leaf nodes").
func matchRules(rules []rule, v any, present bool) bool {
	leaves := 0
	match := false
	each := func(leaf any) {
		leaves++
		for i := range rules {
			if rules[i].kind != ruleExists && matchLeaf(&rules[i], leaf) {
				match = true
				return
			}
		}
	}
	if present {
		switch v := v.(type) {
		case []any:
			for _, e := range v {
				if _, obj := e.(map[string]any); obj {
					continue
				}
				if _, arr := e.([]any); arr {
					continue
				}
				each(e)
				if match {
					break
				}
			}
		case map[string]any:
		default:
			each(v)
		}
	}
	if match {
		return true
	}
	for i := range rules {
		if rules[i].kind == ruleExists && rules[i].b == (leaves > 0) {
			return true
		}
	}
	return false
}

// matchLeaf reports whether r matches one leaf value: a string,
// json.Number, bool or nil.
func matchLeaf(r *rule, leaf any) bool {
	switch r.kind {
	case ruleString:
		s, ok := leaf.(string)
		return ok && s == r.s
	case ruleNumber:
		n, ok := leaf.(json.Number)
		return ok && numberText(n) == r.s
	case ruleBool:
		b, ok := leaf.(bool)
		return ok && b == r.b
	case ruleNull:
		return leaf == nil
	case rulePrefix, ruleSuffix:
		s, ok := leaf.(string)
		if !ok {
			return false
		}
		if r.fold {
			s = strings.ToLower(s)
		}
		if r.kind == rulePrefix {
			return strings.HasPrefix(s, r.s)
		}
		return strings.HasSuffix(s, r.s)
	case ruleEqualsIgnoreCase:
		s, ok := leaf.(string)
		return ok && strings.EqualFold(s, r.s)
	case ruleAnythingBut:
		switch l := leaf.(type) {
		case string:
			return !slices.Contains(r.butStrings, l)
		case json.Number:
			return !slices.Contains(r.butNumbers, numberText(l))
		}
		return true
	case ruleNumeric:
		n, ok := leaf.(json.Number)
		if !ok {
			return false
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return false
		}
		return compare(f, r.loOp, r.lo) && compare(f, r.hiOp, r.hi)
	}
	return false
}

func compare(f float64, op string, bound float64) bool {
	switch op {
	case ">":
		return f > bound
	case ">=":
		return f >= bound
	case "<":
		return f < bound
	case "<=":
		return f <= bound
	}
	return true // no bound
}
