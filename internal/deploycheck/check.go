package deploycheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/msklink/msklink/iampolicy"
)

// Severity is how bad a finding is.
type Severity string

// The severities. Only errors fail `msklink deploy check` (exit 1).
const (
	// SeverityError: the stack deploys but does not work with MSK (or does
	// not deploy at all).
	SeverityError Severity = "error"
	// SeverityWarning: something deploycheck could not check (an
	// unresolvable value, a role outside the template), or a setting that
	// works but is probably not meant.
	SeverityWarning Severity = "warning"
)

// The checks, the Check field of a finding. docs/DEPLOYMENT.md says what
// each one checks and why.
const (
	CheckTemplate     = "template"     // the template has no Lambda function
	CheckUnresolved   = "unresolved"   // a value it cannot compute: not checked
	CheckRuntime      = "runtime"      // a Go bootstrap needs an OS-only runtime
	CheckHandler      = "handler"      // a .zip function needs Handler
	CheckArchitecture = "architecture" // the bootstrap's GOARCH
	CheckAuthPort     = "auth-port"    // bootstrap brokers' port against the auth mode
	CheckNetwork      = "network"      // the function in the VPC at all
	CheckEgress       = "egress"       // the function's security groups let it out on the port
	CheckIngress      = "ingress"      // the cluster's rules in the template admit it on the port
	CheckIAM          = "iam"          // the role's statements against the workload
	CheckESM          = "esm"          // the event source mapping's values and ranges
	CheckESMMode      = "esm-mode"     // provisioned-only features
	CheckOnFailure    = "on-failure"   // the on-failure topic
	CheckSecretEnv    = "secret-env"   // SCRAM credentials in the environment
)

// Finding is one problem in a template: where it is, why it matters and
// what to do.
type Finding struct {
	Severity Severity `json:"severity"`
	Check    string   `json:"check"`
	// Resource is the logical ID of the resource at fault ("" for the
	// template as a whole).
	Resource string `json:"resource"`
	// Path is the property path inside the resource, e.g.
	// "Properties.VpcConfig.SecurityGroupIds".
	Path string `json:"path"`
	// Line is the line of the resource in the template (0: unknown).
	Line int    `json:"line,omitempty"`
	Why  string `json:"why"`
	Fix  string `json:"fix"`
}

func (f Finding) String() string {
	where := f.Resource
	if f.Path != "" {
		if where != "" {
			where += " "
		}
		where += f.Path
	}
	if where == "" {
		where = "template"
	}
	return fmt.Sprintf("%s [%s] %s: %s. Fix: %s", f.Severity, f.Check, where, f.Why, f.Fix)
}

// Opt is an option of [Check].
type Opt func(*config)

type config struct {
	params  map[string]string
	cluster string
	goarch  string
}

// WithParameters sets parameter values, as `sam deploy
// --parameter-overrides` or `aws cloudformation deploy` would; parameters
// not given take their Default. List parameters take comma-separated
// values. Default: none.
func WithParameters(p map[string]string) Opt {
	return func(c *config) { c.params = p }
}

// WithClusterARN names the MSK cluster a publisher function writes to, for
// the role's kafka-cluster actions. Default: the one cluster ARN among the
// parameters' values and the event source mappings, if there is one.
func WithClusterARN(arn string) Opt {
	return func(c *config) { c.cluster = arn }
}

// WithGOARCH is the architecture the Go bootstrap is built for. Default
// "arm64", what deploy/Makefile builds (make GOARCH=amd64 builds x86_64).
func WithGOARCH(goarch string) Opt {
	return func(c *config) { c.goarch = goarch }
}

// DefaultGOARCH is deploy/Makefile's GOARCH.
const DefaultGOARCH = "arm64"

// Check parses a SAM or CloudFormation template (YAML or JSON) and
// returns its findings, errors first, then by resource. The error is a
// *ParseError when data is not a template; a template without a Lambda
// function is a finding, not an error.
func Check(data []byte, opts ...Opt) ([]Finding, error) {
	t, err := Parse(data)
	if err != nil {
		return nil, err
	}
	return CheckParsed(t, opts...), nil
}

// CheckParsed is Check for a parsed template.
func CheckParsed(t *Template, opts ...Opt) []Finding {
	c := newChecker(t, opts)
	c.run()
	sort.SliceStable(c.findings, func(i, j int) bool {
		a, b := c.findings[i], c.findings[j]
		if a.Severity != b.Severity {
			return a.Severity == SeverityError
		}
		if a.Resource != b.Resource {
			return a.Resource < b.Resource
		}
		return a.Path < b.Path
	})
	return c.findings
}

// newChecker returns a checker of t with opts applied. AWS::StackName is
// "STACK" (it only names things).
func newChecker(t *Template, opts []Opt) *checker {
	cfg := config{goarch: DefaultGOARCH}
	for _, o := range opts {
		o(&cfg)
	}
	return &checker{t: t, cfg: cfg, r: &resolver{t: t, params: cfg.params, pseudo: map[string]string{"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "STACK"}}}
}

// checker holds one run of Check.
type checker struct {
	t        *Template
	cfg      config
	r        *resolver
	cluster  *iampolicy.ClusterARN // the cluster the template is for, if known
	findings []Finding
	seen     map[string]bool // findings already reported (resource, path, why)
}

func (c *checker) add(sev Severity, check, resource, path, why, fix string) {
	key := resource + "\x00" + path + "\x00" + why
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	line := 0
	if r, ok := c.t.Resources[resource]; ok {
		line = r.Line
	}
	c.findings = append(c.findings, Finding{Severity: sev, Check: check, Resource: resource, Path: path, Line: line, Why: why, Fix: fix})
}

// notChecked reports a value it could not resolve, and what that left
// unchecked.
func (c *checker) notChecked(resource, path, what string, err error) {
	fix := "give the parameters it uses a Default, or pass their values (msklink deploy check --param NAME=VALUE)"
	if u, ok := err.(*unresolved); ok && !strings.Contains(u.why, "parameter") {
		fix = "replace the intrinsic with a value or a parameter deploy check can resolve (Ref, Fn::Sub, Fn::GetAtt, Fn::FindInMap, Fn::If, Fn::Join, Fn::Select, Fn::Split)"
	}
	c.add(SeverityWarning, CheckUnresolved, resource, path, fmt.Sprintf("%s not checked: %v", what, err), fix)
}

// lookup walks raw from a resource's Properties along path (keys
// separated by dots), evaluating intrinsic functions on the way, and
// returns the evaluated value. found is false when the property is absent;
// err is set when a value could not be resolved.
func (c *checker) lookup(props map[string]any, path string) (v any, found bool, err error) {
	var cur any = props
	for _, k := range strings.Split(path, ".") {
		if isIntrinsic(cur) {
			if cur, err = c.r.eval(cur); err != nil {
				return nil, true, err
			}
		}
		m, ok := cur.(map[string]any)
		if !ok {
			if _, nv := cur.(noValue); nv || cur == nil {
				return nil, false, nil
			}
			return nil, true, unresolvedf("%s is %s, not a mapping", k, describe(cur))
		}
		if cur, ok = m[k]; !ok {
			return nil, false, nil
		}
	}
	v, err = c.r.eval(cur)
	if err != nil {
		return nil, true, err
	}
	if _, nv := v.(noValue); nv {
		return nil, false, nil
	}
	return v, true, nil
}

// get is lookup that reports an unresolvable value as a finding naming
// what it left unchecked. found is false when the property is absent; an
// unresolvable one is found with a nil value (reported), so that callers
// neither take it for absent nor check it.
func (c *checker) get(id string, props map[string]any, path, what string) (any, bool) {
	v, found, err := c.lookup(props, path)
	if err != nil {
		c.notChecked(id, "Properties."+path, what, err)
		return nil, true
	}
	return v, found
}

func isIntrinsic(v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

// run finds the functions and their triggers and checks each.
func (c *checker) run() {
	c.findCluster()
	fns := c.functions()
	if len(fns) == 0 {
		c.add(SeverityError, CheckTemplate, "", "Resources", "no Lambda function (AWS::Lambda::Function or AWS::Serverless::Function): there is nothing to check",
			"check the template that deploys the function (msklink deploy template writes one)")
		return
	}
	for _, f := range fns {
		c.checkFunction(f)
	}
}

// findCluster picks the MSK cluster the template is for: WithClusterARN,
// else the one cluster ARN among the parameters' values and the event
// source mappings' EventSourceArn. The stack is in the cluster's region
// (a function's VPC and an MSK trigger must be), which gives AWS::Region
// and AWS::AccountId for the ARNs of policies.
func (c *checker) findCluster() {
	arns := map[string]bool{}
	if c.cfg.cluster != "" {
		arns[c.cfg.cluster] = true
	} else {
		for name := range c.t.Parameters {
			if v, err := c.r.ref(name); err == nil {
				if s, ok := v.(string); ok && strings.Contains(s, ":kafka:") && strings.Contains(s, ":cluster/") {
					arns[s] = true
				}
			}
		}
		for _, res := range c.t.Resources {
			if res.Type != "AWS::Lambda::EventSourceMapping" {
				continue
			}
			if v, _, err := c.lookup(res.Properties, "EventSourceArn"); err == nil {
				if s, ok := v.(string); ok && strings.Contains(s, ":kafka:") {
					arns[s] = true
				}
			}
		}
	}
	if len(arns) != 1 {
		return
	}
	for s := range arns {
		if a, err := iampolicy.ParseClusterARN(s); err == nil {
			c.cluster = &a
			c.r.pseudo["AWS::Region"] = a.Region
			c.r.pseudo["AWS::AccountId"] = a.Account
			if a.Partition != "" {
				c.r.pseudo["AWS::Partition"] = a.Partition
			}
		}
	}
}

// Evaluate returns v, a value of t such as a resource's property, with its
// intrinsic functions evaluated as Check evaluates them: parameters take
// the WithParameters value or their Default, AWS::Region and
// AWS::AccountId come from the template's MSK cluster, AWS::NoValue
// removes what it stands in. A reference to a resource stays a reference
// (it prints, and marshals, as "!Ref ID" or "!GetAtt ID.Attribute"); a
// value it cannot compute is an error naming why.
func Evaluate(t *Template, v any, opts ...Opt) (any, error) {
	c := newChecker(t, opts)
	c.findCluster()
	return c.r.eval(v)
}
