package testutil

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Template is a parsed CloudFormation (or SAM) YAML template, for tests that
// look inside one. Values are plain Go values (map[string]any, []any,
// string, int, float64, bool); short-form intrinsics become their long
// form, as CloudFormation reads them: !Ref X is {"Ref": "X"}, !GetAtt A.B
// is {"Fn::GetAtt": ["A", "B"]}, !Sub s is {"Fn::Sub": s}, and so on.
type Template map[string]any

// ParseTemplate parses a YAML template, failing the test on a YAML error.
func ParseTemplate(t testing.TB, b []byte) Template {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal(b, &n); err != nil {
		t.Fatalf("template is not YAML: %v", err)
	}
	if len(n.Content) != 1 {
		t.Fatal("template: want one YAML document")
	}
	v, err := cfnValue(n.Content[0])
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatal("template: the document is not a mapping")
	}
	return m
}

func cfnValue(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return cfnValue(n.Alias)
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: key %q appears twice", n.Content[i].Line, k)
			}
			val, err := cfnValue(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = val
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			val, err := cfnValue(c)
			if err != nil {
				return nil, err
			}
			s = append(s, val)
		}
		v = s
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int":
			i, err := strconv.Atoi(n.Value)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n.Line, err)
			}
			v = i
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				return nil, fmt.Errorf("line %d: %v", n.Line, err)
			}
			v = f
		case "!!bool":
			v = n.Value == "true"
		case "!!null":
			v = nil
		default:
			v = n.Value
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
	tag := n.Tag
	if !strings.HasPrefix(tag, "!") || strings.HasPrefix(tag, "!!") {
		return v, nil
	}
	name := tag[1:]
	switch name {
	case "Ref", "Condition":
		return map[string]any{name: v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			a, b, _ := strings.Cut(s, ".")
			v = []any{a, b}
		}
	}
	return map[string]any{"Fn::" + name: v}, nil
}

// Resources returns the template's resources by logical ID.
func (t Template) Resources() map[string]map[string]any {
	out := map[string]map[string]any{}
	rs, _ := t["Resources"].(map[string]any)
	for id, r := range rs {
		out[id], _ = r.(map[string]any)
	}
	return out
}

// Properties returns the properties of resource id (nil if it has none).
func (t Template) Properties(id string) map[string]any {
	p, _ := t.Resources()[id]["Properties"].(map[string]any)
	return p
}

// Default returns the default of parameter name, as text.
func (t Template) Default(name string) (string, bool) {
	ps, _ := t["Parameters"].(map[string]any)
	p, _ := ps[name].(map[string]any)
	d, ok := p["Default"]
	if !ok {
		return "", false
	}
	return fmt.Sprint(d), true
}

// ResolveString returns v as a string: a literal, or {"Ref": P} for a
// parameter P with a default (its default). ok is false for anything else.
func (t Template) ResolveString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case map[string]any:
		if ref, ok := v["Ref"].(string); ok && len(v) == 1 {
			return t.Default(ref)
		}
	}
	return "", false
}
