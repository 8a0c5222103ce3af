package deploycheck

import (
	"fmt"
	"sort"
	"strings"
)

// function is a Lambda function of the template and what triggers it.
type function struct {
	id    string
	sam   bool
	props map[string]any // with SAM's Globals merged in
	meta  map[string]any
	esms  []mapping
}

// mapping is an MSK event source mapping: an AWS::Lambda::EventSourceMapping
// resource, or an MSK event of a SAM function (which SAM turns into one).
type mapping struct {
	id    string         // the resource's logical ID, or the function's for a SAM event
	path  string         // "Properties" or "Properties.Events.NAME.Properties"
	props map[string]any // the mapping's properties
	sam   bool
}

// functions returns the template's functions that exist with the
// parameters' values, by logical ID, each with its MSK mappings.
func (c *checker) functions() []*function {
	byID := map[string]*function{}
	var ids []string
	for id, res := range c.t.Resources {
		if !c.r.exists(id) {
			continue
		}
		switch res.Type {
		case "AWS::Lambda::Function", "AWS::Serverless::Function":
		default:
			continue
		}
		f := &function{id: id, sam: res.Type == "AWS::Serverless::Function", props: res.Properties, meta: res.Metadata}
		if f.props == nil {
			f.props = map[string]any{}
		}
		if f.sam {
			f.props = c.withGlobals(f.props)
			if evs, ok := f.props["Events"].(map[string]any); ok {
				for _, name := range sortedKeys(evs) {
					ev, _ := evs[name].(map[string]any)
					if typ, _ := ev["Type"].(string); typ == "MSK" {
						p, _ := ev["Properties"].(map[string]any)
						f.esms = append(f.esms, mapping{id: id, path: "Properties.Events." + name + ".Properties", props: p, sam: true})
					}
				}
			}
		}
		byID[id] = f
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range sortedKeys(c.t.Resources) {
		res := c.t.Resources[id]
		if res.Type != "AWS::Lambda::EventSourceMapping" || !c.r.exists(id) {
			continue
		}
		arn, _, err := c.lookup(res.Properties, "EventSourceArn")
		if err != nil {
			c.notChecked(id, "Properties.EventSourceArn", "whether this mapping reads from MSK (and so its role, network and settings)", err)
			continue
		}
		if !c.isMSK(arn) {
			if sym, ok := arn.(symbol); ok && (sym.kind == "param" || sym.kind == "pseudo") {
				c.notChecked(id, "Properties.EventSourceArn", "whether this mapping reads from MSK (and so its role, network and settings)", unresolvedf("EventSourceArn is %s", describe(arn)))
			}
			continue // SQS, Kinesis, self-managed Kafka...
		}
		fnv, _, err := c.lookup(res.Properties, "FunctionName")
		if err != nil {
			c.notChecked(id, "Properties.FunctionName", "which function this MSK mapping invokes", err)
			continue
		}
		target := ""
		if s, ok := fnv.(symbol); ok {
			target, _, _ = strings.Cut(s.name, ".")
		}
		f, ok := byID[target]
		if !ok {
			c.add(SeverityWarning, CheckUnresolved, id, "Properties.FunctionName",
				fmt.Sprintf("the MSK mapping invokes %s, not a function of this template: its role and runtime were not checked", describe(fnv)),
				"check the template of that function too, or Ref the function of this template")
			continue
		}
		f.esms = append(f.esms, mapping{id: id, path: "Properties", props: res.Properties})
	}
	out := make([]*function, len(ids))
	for i, id := range ids {
		out[i] = byID[id]
	}
	return out
}

// isMSK reports whether an event source ARN is an MSK cluster's: an ARN
// of the kafka service, or a cluster resource of the template.
func (c *checker) isMSK(arn any) bool {
	switch v := arn.(type) {
	case string:
		return strings.Contains(v, ":kafka:")
	case symbol:
		id, _, _ := strings.Cut(v.name, ".")
		t := c.t.Resources[id].Type
		return (v.kind == "resource" || v.kind == "getatt") && (t == "AWS::MSK::Cluster" || t == "AWS::MSK::ServerlessCluster")
	}
	return false
}

// withGlobals returns a SAM function's properties with Globals.Function
// under them (the function's own win; Environment.Variables merge).
func (c *checker) withGlobals(props map[string]any) map[string]any {
	g, _ := c.t.Globals["Function"].(map[string]any)
	if len(g) == 0 {
		return props
	}
	out := map[string]any{}
	for k, v := range g {
		out[k] = v
	}
	for k, v := range props {
		out[k] = v
	}
	gv, _ := g["Environment"].(map[string]any)
	pv, _ := props["Environment"].(map[string]any)
	gvars, _ := gv["Variables"].(map[string]any)
	pvars, _ := pv["Variables"].(map[string]any)
	if gvars != nil && pvars != nil {
		vars := map[string]any{}
		for k, v := range gvars {
			vars[k] = v
		}
		for k, v := range pvars {
			vars[k] = v
		}
		out["Environment"] = map[string]any{"Variables": vars}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// env returns the function's environment variables that could be
// resolved; the others are in unresolvedVars with why.
func (c *checker) env(f *function) (vars map[string]string, raw map[string]any) {
	vars = map[string]string{}
	rawv, found, err := c.lookupRaw(f.props, "Environment.Variables")
	if err != nil {
		c.notChecked(f.id, "Properties.Environment.Variables", "the function's environment (MSK_* settings)", err)
		return vars, nil
	}
	if !found {
		return vars, nil
	}
	raw, _ = rawv.(map[string]any)
	for _, k := range sortedKeys(raw) {
		v, err := c.r.eval(raw[k])
		if err != nil {
			if strings.HasPrefix(k, "MSK_") {
				c.notChecked(f.id, "Properties.Environment.Variables."+k, "what depends on "+k, err)
			}
			continue
		}
		if s, ok := scalar(v); ok {
			vars[k] = s
		}
	}
	return vars, raw
}

// lookupRaw is lookup without evaluating the final value (a mapping whose
// entries are evaluated one by one).
func (c *checker) lookupRaw(props map[string]any, path string) (any, bool, error) {
	var cur any = props
	for _, k := range strings.Split(path, ".") {
		if isIntrinsic(cur) {
			var err error
			if cur, err = c.r.eval(cur); err != nil {
				return nil, true, err
			}
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false, nil
		}
		if cur, ok = m[k]; !ok {
			return nil, false, nil
		}
	}
	if isIntrinsic(cur) {
		v, err := c.r.eval(cur)
		return v, true, err
	}
	return cur, true, nil
}

// checkFunction runs every check on one function.
func (c *checker) checkFunction(f *function) {
	c.checkRuntime(f)
	env, raw := c.env(f)
	c.checkSecretEnv(f, raw)
	// A function that connects to Kafka itself (package kafkaconn's
	// FromEnv) has its bootstrap brokers in the environment.
	if _, publisher := raw["MSK_BOOTSTRAP_SERVERS"]; publisher {
		c.checkPublisher(f, env)
	}
	for _, m := range f.esms {
		c.checkMapping(f, m)
	}
}
