package deploycheck

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrNotTemplate is wrapped by [ParseError]: the input is not a
// CloudFormation template deploycheck can read.
var ErrNotTemplate = errors.New("deploycheck: not a CloudFormation template")

// ParseError says why a template could not be read, with the line when
// the YAML or JSON syntax is at fault.
type ParseError struct {
	Line   int // 1-based; 0 when not known
	Reason string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("line %d: %s", e.Line, e.Reason)
	}
	return e.Reason
}

// Unwrap returns ErrNotTemplate.
func (e *ParseError) Unwrap() error { return ErrNotTemplate }

// Template is a parsed template. Values are plain Go values
// (map[string]any, []any, string, int, float64, bool, nil) with every
// short-form intrinsic in its long form, as CloudFormation reads them:
// !Ref X is {"Ref": "X"}, !GetAtt A.B is {"Fn::GetAtt": ["A", "B"]}.
type Template struct {
	// SAM is true when the template declares the
	// AWS::Serverless-2016-10-31 transform.
	SAM        bool
	Parameters map[string]map[string]any
	Mappings   map[string]any
	Conditions map[string]any
	// Globals is SAM's Globals section (Function's properties apply to
	// every AWS::Serverless::Function).
	Globals   map[string]any
	Resources map[string]Resource
}

// Resource is one entry of Resources.
type Resource struct {
	Type       string
	Properties map[string]any
	Metadata   map[string]any
	Condition  string // the name of the condition that creates it, if any
	Line       int    // where its logical ID is, 1-based
}

// Parse reads a YAML or JSON template. The error is a *ParseError.
func Parse(data []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &ParseError{Reason: "not YAML or JSON: " + err.Error()}
	}
	if len(doc.Content) != 1 {
		return nil, &ParseError{Reason: "empty: want one YAML or JSON document"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &ParseError{Line: root.Line, Reason: "the document is not a mapping (a template has Resources, Parameters, ...)"}
	}
	t := &Template{Parameters: map[string]map[string]any{}, Resources: map[string]Resource{}}
	budget := maxNodes
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, vn := root.Content[i], root.Content[i+1]
		v, err := value(vn, 0, &budget)
		if err != nil {
			return nil, err
		}
		switch k.Value {
		case "Transform":
			t.SAM = hasSAMTransform(v)
		case "Parameters":
			m, ok := v.(map[string]any)
			if !ok && v != nil {
				return nil, &ParseError{Line: vn.Line, Reason: "Parameters is not a mapping"}
			}
			for name, p := range m {
				pm, ok := p.(map[string]any)
				if !ok {
					return nil, &ParseError{Line: vn.Line, Reason: fmt.Sprintf("parameter %s is not a mapping", name)}
				}
				t.Parameters[name] = pm
			}
		case "Mappings":
			t.Mappings, _ = v.(map[string]any)
		case "Conditions":
			t.Conditions, _ = v.(map[string]any)
		case "Globals":
			t.Globals, _ = v.(map[string]any)
		case "Resources":
			if vn.Kind != yaml.MappingNode {
				return nil, &ParseError{Line: vn.Line, Reason: "Resources is not a mapping"}
			}
			for j := 0; j+1 < len(vn.Content); j += 2 {
				id := vn.Content[j].Value
				rv, _ := v.(map[string]any)[id].(map[string]any)
				if rv == nil {
					return nil, &ParseError{Line: vn.Content[j].Line, Reason: fmt.Sprintf("resource %s is not a mapping", id)}
				}
				r := Resource{Line: vn.Content[j].Line}
				r.Type, _ = rv["Type"].(string)
				if r.Type == "" {
					return nil, &ParseError{Line: r.Line, Reason: fmt.Sprintf("resource %s has no Type", id)}
				}
				if rv["Properties"] != nil {
					if r.Properties, _ = rv["Properties"].(map[string]any); r.Properties == nil {
						return nil, &ParseError{Line: r.Line, Reason: fmt.Sprintf("resource %s: Properties is not a mapping", id)}
					}
				}
				r.Metadata, _ = rv["Metadata"].(map[string]any)
				r.Condition, _ = rv["Condition"].(string)
				t.Resources[id] = r
			}
		}
	}
	if len(t.Resources) == 0 {
		return nil, &ParseError{Reason: "no Resources: a CloudFormation template declares at least one resource"}
	}
	return t, nil
}

func hasSAMTransform(v any) bool {
	switch v := v.(type) {
	case string:
		return v == "AWS::Serverless-2016-10-31"
	case []any:
		for _, x := range v {
			if hasSAMTransform(x) {
				return true
			}
		}
	}
	return false
}

// maxDepth bounds the nesting of values (and aliases), so that a
// hostile document cannot exhaust the stack; maxNodes bounds the values
// a document expands to, so that aliases of aliases (a "billion laughs")
// cannot exhaust memory. CloudFormation takes templates of 1 MB at most.
const (
	maxDepth = 100
	maxNodes = 1 << 20
)

// value converts a YAML node to a plain value, long-form intrinsics for
// short-form tags.
func value(n *yaml.Node, depth int, budget *int) (any, error) {
	if depth > maxDepth {
		return nil, &ParseError{Line: n.Line, Reason: fmt.Sprintf("nested more than %d levels deep", maxDepth)}
	}
	if *budget--; *budget < 0 {
		return nil, &ParseError{Line: n.Line, Reason: fmt.Sprintf("expands to more than %d values (aliases of aliases?)", maxNodes)}
	}
	var v any
	switch n.Kind {
	case yaml.AliasNode:
		return value(n.Alias, depth+1, budget)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return value(n.Content[0], depth+1, budget)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn := n.Content[i]
			if kn.Kind != yaml.ScalarNode {
				return nil, &ParseError{Line: kn.Line, Reason: "a mapping key is not a scalar"}
			}
			if kn.Value == "<<" && kn.Tag == "!!merge" {
				return nil, &ParseError{Line: kn.Line, Reason: "YAML merge keys (<<) are not supported by CloudFormation"}
			}
			if _, dup := m[kn.Value]; dup {
				return nil, &ParseError{Line: kn.Line, Reason: fmt.Sprintf("key %q appears twice in one mapping", kn.Value)}
			}
			val, err := value(n.Content[i+1], depth+1, budget)
			if err != nil {
				return nil, err
			}
			m[kn.Value] = val
		}
		v = m
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := value(c, depth+1, budget)
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
				// Hex, octal and huge numbers: keep the text.
				v = n.Value
				break
			}
			v = i
		case "!!float":
			f, err := strconv.ParseFloat(n.Value, 64)
			if err != nil {
				v = n.Value
				break
			}
			v = f
		case "!!bool":
			v = strings.EqualFold(n.Value, "true")
		case "!!null":
			v = nil
		default:
			v = n.Value
		}
	default:
		return nil, &ParseError{Line: n.Line, Reason: "unexpected YAML node"}
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
	case "Base64", "Cidr", "FindInMap", "GetAZs", "ImportValue", "Join", "Select", "Split", "Sub", "Transform",
		"And", "Equals", "If", "Not", "Or", "Length", "ToJsonString", "ForEach":
	default:
		return nil, &ParseError{Line: n.Line, Reason: fmt.Sprintf("unknown tag !%s (CloudFormation's short forms are !Ref, !Sub, !GetAtt, !If, !Join, ...)", name)}
	}
	return map[string]any{"Fn::" + name: v}, nil
}
