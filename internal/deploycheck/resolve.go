package deploycheck

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// symbol is a value known by name only: a resource's Ref or attribute, a
// parameter without a default, a pseudo parameter of the stack. Two
// symbols are the same value when they are equal, which is enough to tell
// which security group a rule names.
type symbol struct {
	kind string // "resource", "getatt", "param", "pseudo"
	name string // logical ID, ID.Attribute, parameter or pseudo parameter name
}

func (s symbol) String() string {
	if s.kind == "getatt" {
		return "!GetAtt " + s.name
	}
	return "!Ref " + s.name
}

// MarshalText writes the reference, e.g. "!Ref FunctionRole".
func (s symbol) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// noValue is AWS::NoValue: the property is removed.
type noValue struct{}

// unresolved is a value deploycheck cannot compute, and why.
type unresolved struct{ why string }

func (u *unresolved) Error() string { return u.why }

func unresolvedf(format string, args ...any) *unresolved {
	return &unresolved{fmt.Sprintf(format, args...)}
}

// resolver evaluates intrinsic functions against a template's parameter
// values.
type resolver struct {
	t      *Template
	params map[string]string // overrides (WithParameters)
	// pseudo are the pseudo parameters it knows: AWS::Partition and
	// AWS::URLSuffix always, AWS::Region and AWS::AccountId when the
	// template names one MSK cluster (the stack must be in its region).
	pseudo map[string]string
	steps  int // evaluation steps taken, bounded by maxSteps
}

// maxEval bounds the nesting of intrinsics and conditions; maxSteps the
// work of one check (conditions of conditions can otherwise grow
// exponentially).
const (
	maxEval  = 64
	maxSteps = 1 << 20
)

// eval returns v with every intrinsic function evaluated. Values it cannot
// compute are symbols (references) or an *unresolved error.
func (r *resolver) eval(v any) (any, error) { return r.evalDepth(v, 0) }

func (r *resolver) evalDepth(v any, depth int) (any, error) {
	if r.steps++; r.steps > maxSteps {
		return nil, unresolvedf("the template takes more than %d evaluation steps", maxSteps)
	}
	if depth > maxEval {
		return nil, unresolvedf("intrinsic functions nested more than %d deep", maxEval)
	}
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, len(v))
		for _, x := range v {
			e, err := r.evalDepth(x, depth+1)
			if err != nil {
				return nil, err
			}
			if _, drop := e.(noValue); !drop {
				out = append(out, e)
			}
		}
		return out, nil
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return r.intrinsic(k, arg, depth+1)
				}
			}
		}
		out := make(map[string]any, len(v))
		for k, x := range v {
			e, err := r.evalDepth(x, depth+1)
			if err != nil {
				return nil, err
			}
			if _, drop := e.(noValue); !drop {
				out[k] = e
			}
		}
		return out, nil
	}
	return v, nil
}

func (r *resolver) intrinsic(fn string, arg any, depth int) (any, error) {
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return nil, unresolvedf("Ref takes a name, not %s", describe(arg))
		}
		return r.ref(name)
	case "Fn::GetAtt":
		a, err := r.evalDepth(arg, depth)
		if err != nil {
			return nil, err
		}
		var parts []string
		switch a := a.(type) {
		case string:
			parts = strings.SplitN(a, ".", 2)
		case []any:
			for _, p := range a {
				s, ok := p.(string)
				if !ok {
					return nil, unresolvedf("Fn::GetAtt with %s", describe(p))
				}
				parts = append(parts, s)
			}
		}
		if len(parts) != 2 {
			return nil, unresolvedf("Fn::GetAtt wants [LogicalId, Attribute]")
		}
		res, ok := r.t.Resources[parts[0]]
		if !ok {
			return nil, unresolvedf("Fn::GetAtt of %s, which is not a resource of the template", parts[0])
		}
		if res.Type == "AWS::Logs::LogGroup" && parts[1] == "Arn" {
			if arn, ok := r.logGroupARN(parts[0]); ok {
				return arn, nil
			}
		}
		return symbol{"getatt", parts[0] + "." + parts[1]}, nil
	case "Fn::Sub":
		return r.sub(arg, depth)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, unresolvedf("Fn::Join wants [delimiter, [values]]")
		}
		delim, ok := a[0].(string)
		if !ok {
			return nil, unresolvedf("Fn::Join's delimiter is not a string")
		}
		list, err := r.evalDepth(a[1], depth)
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, unresolvedf("Fn::Join of %s, not a list", describe(list))
		}
		parts := make([]string, len(items))
		for i, it := range items {
			s, ok := scalar(it)
			if !ok {
				return nil, unresolvedf("Fn::Join of %s", describe(it))
			}
			parts[i] = s
		}
		return strings.Join(parts, delim), nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, unresolvedf("Fn::Select wants [index, [values]]")
		}
		idx, err := r.evalDepth(a[0], depth)
		if err != nil {
			return nil, err
		}
		is, _ := scalar(idx)
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, unresolvedf("Fn::Select's index %s is not a number", describe(idx))
		}
		list, err := r.evalDepth(a[1], depth)
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return nil, unresolvedf("Fn::Select from %s, not a list", describe(list))
		}
		if i < 0 || i >= len(items) {
			return nil, unresolvedf("Fn::Select index %d of a list of %d", i, len(items))
		}
		return items[i], nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return nil, unresolvedf("Fn::Split wants [delimiter, string]")
		}
		delim, ok := a[0].(string)
		if !ok || delim == "" {
			return nil, unresolvedf("Fn::Split's delimiter is not a string")
		}
		sv, err := r.evalDepth(a[1], depth)
		if err != nil {
			return nil, err
		}
		s, ok := scalar(sv)
		if !ok {
			return nil, unresolvedf("Fn::Split of %s", describe(sv))
		}
		var out []any
		for _, p := range strings.Split(s, delim) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::FindInMap":
		a, ok := arg.([]any)
		if !ok || len(a) < 3 {
			return nil, unresolvedf("Fn::FindInMap wants [map, key, key]")
		}
		keys := make([]string, 3)
		for i := range keys {
			kv, err := r.evalDepth(a[i], depth)
			if err != nil {
				return nil, err
			}
			k, ok := scalar(kv)
			if !ok {
				return nil, unresolvedf("Fn::FindInMap key %s", describe(kv))
			}
			keys[i] = k
		}
		m1, _ := r.t.Mappings[keys[0]].(map[string]any)
		m2, _ := m1[keys[1]].(map[string]any)
		v, ok := m2[keys[2]]
		if !ok {
			return nil, unresolvedf("Fn::FindInMap [%s, %s, %s]: no such entry in Mappings", keys[0], keys[1], keys[2])
		}
		return r.evalDepth(v, depth)
	case "Fn::If":
		a, ok := arg.([]any)
		if !ok || len(a) != 3 {
			return nil, unresolvedf("Fn::If wants [condition, value if true, value if false]")
		}
		name, ok := a[0].(string)
		if !ok {
			return nil, unresolvedf("Fn::If's condition is not a name")
		}
		b, err := r.condition(name, depth)
		if err != nil {
			return nil, err
		}
		if b {
			return r.evalDepth(a[1], depth)
		}
		return r.evalDepth(a[2], depth)
	case "Fn::Base64":
		return r.evalDepth(arg, depth)
	}
	return nil, unresolvedf("%s (its value is known only when the stack is deployed)", fn)
}

// logGroupName returns the name of log group resource id: its
// LogGroupName, or the name CloudFormation makes up, which deploycheck
// writes STACK-<id>-GENERATED.
func (r *resolver) logGroupName(id string) string {
	if v, err := r.eval(r.t.Resources[id].Properties["LogGroupName"]); err == nil {
		if s, ok := v.(string); ok && s != "" {
			return s
		}
	}
	return "STACK-" + id + "-GENERATED"
}

// logGroupARN is what GetAtt LogGroup.Arn returns:
// arn:PARTITION:logs:REGION:ACCOUNT:log-group:NAME:* (the
// AWS::Logs::LogGroup reference), when the region and account are known.
func (r *resolver) logGroupARN(id string) (string, bool) {
	region, account := r.pseudo["AWS::Region"], r.pseudo["AWS::AccountId"]
	if region == "" || account == "" {
		return "", false
	}
	return fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", r.pseudo["AWS::Partition"], region, account, r.logGroupName(id)), true
}

// ref resolves Ref name.
func (r *resolver) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue{}, nil
	}
	if strings.HasPrefix(name, "AWS::") {
		if v, ok := r.pseudo[name]; ok {
			return v, nil
		}
		return symbol{"pseudo", name}, nil
	}
	if p, ok := r.t.Parameters[name]; ok {
		typ, _ := p["Type"].(string)
		v, given := r.params[name]
		if !given {
			d, has := p["Default"]
			if !has {
				return symbol{"param", name}, nil
			}
			if l, ok := d.([]any); ok { // not valid CloudFormation, but seen
				return l, nil
			}
			v, _ = scalar(d)
		}
		if strings.HasPrefix(typ, "List<") || typ == "CommaDelimitedList" {
			var out []any
			for _, s := range strings.Split(v, ",") {
				out = append(out, strings.TrimSpace(s))
			}
			return out, nil
		}
		return v, nil
	}
	if _, ok := r.t.Resources[name]; ok {
		return symbol{"resource", name}, nil
	}
	return nil, unresolvedf("Ref %s names neither a parameter nor a resource", name)
}

// sub evaluates Fn::Sub.
func (r *resolver) sub(arg any, depth int) (any, error) {
	var s string
	vars := map[string]any{}
	switch a := arg.(type) {
	case string:
		s = a
	case []any:
		if len(a) != 2 {
			return nil, unresolvedf("Fn::Sub wants a string or [string, {variables}]")
		}
		var ok bool
		if s, ok = a[0].(string); !ok {
			return nil, unresolvedf("Fn::Sub's template is not a string")
		}
		m, ok := a[1].(map[string]any)
		if !ok {
			return nil, unresolvedf("Fn::Sub's variables are not a mapping")
		}
		for k, v := range m {
			e, err := r.evalDepth(v, depth)
			if err != nil {
				return nil, err
			}
			vars[k] = e
		}
	default:
		return nil, unresolvedf("Fn::Sub of %s", describe(arg))
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		name := s[i+2 : i+j]
		s = s[i+j+1:]
		if strings.HasPrefix(name, "!") {
			b.WriteString("${" + name[1:] + "}")
			continue
		}
		var v any
		var err error
		if vv, ok := vars[name]; ok {
			v = vv
		} else if id, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = r.intrinsic("Fn::GetAtt", []any{id, attr}, depth)
		} else {
			v, err = r.ref(name)
		}
		if err != nil {
			return nil, err
		}
		str, ok := scalar(v)
		if !ok {
			return nil, unresolvedf("Fn::Sub's ${%s} is %s", name, describe(v))
		}
		b.WriteString(str)
	}
	return b.String(), nil
}

// condition evaluates the named condition.
func (r *resolver) condition(name string, depth int) (bool, error) {
	c, ok := r.t.Conditions[name]
	if !ok {
		return false, unresolvedf("condition %s is not in Conditions", name)
	}
	return r.cond(c, depth+1)
}

func (r *resolver) cond(c any, depth int) (bool, error) {
	if r.steps++; r.steps > maxSteps {
		return false, unresolvedf("the template takes more than %d evaluation steps", maxSteps)
	}
	if depth > maxEval {
		return false, unresolvedf("conditions nested more than %d deep", maxEval)
	}
	m, ok := c.(map[string]any)
	if !ok || len(m) != 1 {
		return false, unresolvedf("a condition that is not a condition function: %s", describe(c))
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			name, _ := arg.(string)
			return r.condition(name, depth)
		case "Fn::Equals":
			if len(args) != 2 {
				return false, unresolvedf("Fn::Equals wants two values")
			}
			var vals [2]string
			for i := range vals {
				v, err := r.evalDepth(args[i], depth)
				if err != nil {
					return false, err
				}
				s, ok := scalar(v)
				if !ok {
					return false, unresolvedf("Fn::Equals of %s", describe(v))
				}
				vals[i] = s
			}
			return vals[0] == vals[1], nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, unresolvedf("Fn::Not wants one condition")
			}
			b, err := r.cond(args[0], depth+1)
			return !b, err
		case "Fn::And", "Fn::Or":
			if len(args) == 0 {
				return false, unresolvedf("%s wants conditions", fn)
			}
			and := fn == "Fn::And"
			for _, a := range args {
				b, err := r.cond(a, depth+1)
				if err != nil {
					return false, err
				}
				if b != and {
					return b, nil
				}
			}
			return and, nil
		}
		return false, unresolvedf("%s is not a condition function", fn)
	}
	return false, nil
}

// exists reports whether resource id is created with the parameters'
// values: its Condition, if any, is true. An unresolvable condition counts
// as true (the checks then cover the resource as if it were there).
func (r *resolver) exists(id string) bool {
	res, ok := r.t.Resources[id]
	if !ok {
		return false
	}
	if res.Condition == "" {
		return true
	}
	b, err := r.condition(res.Condition, 0)
	return err != nil || b
}

// scalar returns v as text if it is a string, number or bool.
func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int:
		return strconv.Itoa(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}

// describe names a value that is not what was wanted, for a message.
func describe(v any) string {
	switch v := v.(type) {
	case symbol:
		switch v.kind {
		case "param":
			return fmt.Sprintf("parameter %s, which has no default", v.name)
		case "pseudo":
			return fmt.Sprintf("the pseudo parameter %s", v.name)
		}
		return fmt.Sprintf("%s (known only once deployed)", v)
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "a mapping {" + strings.Join(keys, ", ") + "}"
	}
	s, _ := scalar(v)
	if _, text := v.(string); !text {
		return s // a number or a bool
	}
	return strconv.Quote(s)
}
