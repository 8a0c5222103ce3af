package deploycheck

import (
	"fmt"
	"strings"

	"github.com/msklink/msklink/iampolicy"
)

// managedPolicies are the AWS managed policies Lambda templates attach,
// as AWS publishes them (AWS Managed Policy reference: the JSON policy
// document of each).
var managedPolicies = map[string][]string{
	"AWSLambdaBasicExecutionRole": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
	"AWSLambdaVPCAccessExecutionRole": {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
		"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets", "ec2:DeleteNetworkInterface",
		"ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"},
	"AWSXRayDaemonWriteAccess": {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
		"xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"},
	"AWSLambdaMSKExecutionRole": {"kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
		"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DeleteNetworkInterface",
		"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"},
}

// managedPolicy returns the statements of an AWS managed policy named by
// ARN (arn:PARTITION:iam::aws:policy/...) or, in SAM's Policies, by name.
func managedPolicy(s string) (*iampolicy.Policy, bool) {
	name := s
	if strings.HasPrefix(s, "arn:") {
		if !strings.Contains(s, ":iam::aws:policy/") {
			return nil, false
		}
		name = s[strings.LastIndex(s, "/")+1:]
	}
	actions, ok := managedPolicies[name]
	if !ok {
		return nil, false
	}
	return &iampolicy.Policy{ID: name, Statements: []iampolicy.Statement{{Effect: iampolicy.Allow, Action: actions, Resource: []string{"*"}}}}, true
}

// role is what deploycheck knows of a function's execution role.
type role struct {
	id       string // the AWS::IAM::Role's logical ID, or the function's for SAM's generated role
	policies []*iampolicy.Policy
	// unknown are the policies it could not read (an unresolvable
	// statement, a customer managed policy outside the template), each
	// with why: a permission not found could be in them.
	unknown []string
	// partial are statements whose resources are known only in part (a
	// parameter without a default, a resource's attribute): they may
	// allow their actions on what they name.
	partial []partialStatement
	outside string // the role is not in the template: why nothing was checked
}

type partialStatement struct {
	st    iampolicy.Statement
	where string
}

// role collects the statements of the function's execution role.
func (c *checker) role(f *function) *role {
	rv, found := c.get(f.id, f.props, "Role", "the execution role's permissions")
	if rv == nil && found {
		return &role{outside: "the Role could not be resolved"}
	}
	if !found {
		if !f.sam {
			return &role{outside: "the function has no Role"}
		}
		return c.samRole(f)
	}
	s, ok := rv.(symbol)
	id, _, _ := strings.Cut(s.name, ".")
	if res, in := c.t.Resources[id]; ok && (s.kind == "getatt" || s.kind == "resource") && in && res.Type == "AWS::IAM::Role" {
		return c.iamRole(id)
	}
	return &role{outside: fmt.Sprintf("the role is %s, not an AWS::IAM::Role of this template", describe(rv))}
}

// samRole is the role SAM generates for a function without Role:
// AWSLambdaBasicExecutionRole, AWSLambdaVPCAccessExecutionRole with a
// VpcConfig, AWSLambdaMSKExecutionRole with an MSK event, and Policies.
func (c *checker) samRole(f *function) *role {
	r := &role{id: f.id}
	add := func(name string) {
		p, _ := managedPolicy(name)
		r.policies = append(r.policies, p)
	}
	add("AWSLambdaBasicExecutionRole")
	if _, found, _ := c.lookup(f.props, "VpcConfig"); found {
		add("AWSLambdaVPCAccessExecutionRole")
	}
	if len(f.esms) > 0 {
		add("AWSLambdaMSKExecutionRole")
	}
	pv, found := c.get(f.id, f.props, "Policies", "the function's Policies")
	if !found {
		return r
	}
	if pv == nil {
		r.unknown = append(r.unknown, "Policies (unresolved)")
		return r
	}
	list, ok := pv.([]any)
	if !ok {
		list = []any{pv}
	}
	for i, x := range list {
		where := fmt.Sprintf("Policies[%d]", i)
		switch x := x.(type) {
		case string:
			if p, ok := managedPolicy(x); ok {
				r.policies = append(r.policies, p)
			} else {
				r.unknown = append(r.unknown, fmt.Sprintf("%s (managed policy %s)", where, x))
			}
		case map[string]any:
			if _, doc := x["Statement"]; doc {
				c.addDocument(r, f.id, "Properties."+where, x)
			} else {
				for k := range x {
					r.unknown = append(r.unknown, fmt.Sprintf("%s (SAM policy template %s)", where, k))
				}
			}
		}
	}
	return r
}

// iamRole collects an AWS::IAM::Role's inline policies, managed policies
// and the AWS::IAM::Policy, RolePolicy and ManagedPolicy resources
// attached to it.
func (c *checker) iamRole(id string) *role {
	r := &role{id: id}
	props := c.t.Resources[id].Properties
	if v, found, err := c.lookupRaw(props, "Policies"); err != nil {
		c.notChecked(id, "Properties.Policies", "the role's inline policies", err)
		r.unknown = append(r.unknown, "Policies (unresolved)")
	} else if found {
		l, _ := v.([]any)
		for i, x := range l {
			path := fmt.Sprintf("Properties.Policies[%d].PolicyDocument", i)
			doc, err := c.r.eval(x)
			if err != nil {
				c.notChecked(id, path, "this inline policy", err)
				r.unknown = append(r.unknown, path)
				continue
			}
			m, _ := doc.(map[string]any)
			d, _ := m["PolicyDocument"].(map[string]any)
			c.addDocument(r, id, path, d)
		}
	}
	if v, found := c.get(id, props, "ManagedPolicyArns", "the role's managed policies"); found && v == nil {
		r.unknown = append(r.unknown, "ManagedPolicyArns (unresolved)")
	} else if found {
		l, _ := v.([]any)
		for _, x := range l {
			c.addManaged(r, id, x)
		}
	}
	// Policies attached from outside the role.
	for _, pid := range sortedKeys(c.t.Resources) {
		res := c.t.Resources[pid]
		if !c.r.exists(pid) {
			continue
		}
		var attached bool
		switch res.Type {
		case "AWS::IAM::RolePolicy":
			v, _, _ := c.lookup(res.Properties, "RoleName")
			attached = v == symbol{"resource", id}
		case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
			v, _, _ := c.lookup(res.Properties, "Roles")
			l, _ := v.([]any)
			for _, x := range l {
				attached = attached || x == symbol{"resource", id}
			}
		}
		if !attached || res.Type == "AWS::IAM::ManagedPolicy" && c.managedAttached(props, pid) {
			continue
		}
		v, _, err := c.lookup(res.Properties, "PolicyDocument")
		if err != nil {
			c.notChecked(pid, "Properties.PolicyDocument", "this policy of role "+id, err)
			r.unknown = append(r.unknown, pid)
			continue
		}
		d, _ := v.(map[string]any)
		c.addDocument(r, pid, "Properties.PolicyDocument", d)
	}
	return r
}

// managedAttached reports whether the role lists the template's managed
// policy pid in ManagedPolicyArns too (then it is read there).
func (c *checker) managedAttached(roleProps map[string]any, pid string) bool {
	v, _, _ := c.lookup(roleProps, "ManagedPolicyArns")
	l, _ := v.([]any)
	for _, x := range l {
		if x == (symbol{"resource", pid}) {
			return true
		}
	}
	return false
}

func (c *checker) addManaged(r *role, id string, x any) {
	if s, ok := x.(string); ok {
		if p, ok := managedPolicy(s); ok {
			r.policies = append(r.policies, p)
			return
		}
	}
	if s, ok := x.(symbol); ok && s.kind == "resource" {
		if res, in := c.t.Resources[s.name]; in && res.Type == "AWS::IAM::ManagedPolicy" {
			v, _, err := c.lookup(res.Properties, "PolicyDocument")
			if err != nil {
				c.notChecked(s.name, "Properties.PolicyDocument", "this policy of role "+id, err)
				r.unknown = append(r.unknown, s.name)
				return
			}
			d, _ := v.(map[string]any)
			c.addDocument(r, s.name, "Properties.PolicyDocument", d)
			return
		}
	}
	r.unknown = append(r.unknown, "managed policy "+describe(x))
}

// addDocument converts an evaluated policy document. Statements with a
// Condition: an Allow is taken as granting (deploycheck cannot know the
// request's context), a Deny as not denying, so a finding is never a
// condition's doing.
func (c *checker) addDocument(r *role, id, path string, doc map[string]any) {
	p := &iampolicy.Policy{ID: id}
	sts := doc["Statement"]
	list, ok := sts.([]any)
	if !ok {
		list = []any{sts}
	}
	for i, x := range list {
		m, ok := x.(map[string]any)
		if !ok {
			r.unknown = append(r.unknown, fmt.Sprintf("%s %s.Statement[%d]", id, path, i))
			continue
		}
		st := iampolicy.Statement{Effect: iampolicy.Effect(fmt.Sprint(m["Effect"]))}
		st.Sid, _ = m["Sid"].(string)
		if _, cond := m["Condition"]; cond && st.Effect == iampolicy.Deny {
			continue
		}
		var bad, param bool
		for _, f := range []struct {
			key string
			dst *[]string
		}{{"Action", &st.Action}, {"NotAction", &st.NotAction}, {"Resource", &st.Resource}, {"NotResource", &st.NotResource}} {
			v, ok := m[f.key]
			if !ok {
				continue
			}
			l, isList := v.([]any)
			if !isList {
				l = []any{v}
			}
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					s, ok = c.otherARN(e)
				}
				if !ok {
					// A parameter without a default matches a need
					// that names the same parameter (its written form).
					if sym, isSym := e.(symbol); isSym && sym.kind == "param" {
						s, ok, param = sym.String(), true, true
					}
				}
				if !ok {
					bad = true
					continue
				}
				*f.dst = append(*f.dst, s)
			}
		}
		where := fmt.Sprintf("%s %s.Statement[%d]", id, path, i)
		if bad || param {
			r.partial = append(r.partial, partialStatement{st, where})
		}
		if len(st.Action)+len(st.NotAction) > 0 && len(st.Resource)+len(st.NotResource) > 0 {
			p.Statements = append(p.Statements, st)
		}
	}
	r.policies = append(r.policies, p)
}

// otherARN stands for the ARN of a resource of the template deploycheck
// cannot name (an SQS queue's GetAtt Arn, say) when that resource cannot be
// one the checks need (an MSK cluster, a log group, a network interface,
// a secret or a key): an ARN of its own that matches none of them.
func (c *checker) otherARN(v any) (string, bool) {
	s, ok := v.(symbol)
	if !ok || (s.kind != "resource" && s.kind != "getatt") {
		return "", false
	}
	id, _, _ := strings.Cut(s.name, ".")
	typ := c.t.Resources[id].Type
	if !strings.HasPrefix(typ, "AWS::") {
		return "", false // custom resources return anything
	}
	for _, p := range []string{"AWS::MSK::", "AWS::Logs::", "AWS::EC2::", "AWS::SecretsManager::", "AWS::KMS::", "AWS::CloudFormation::"} {
		if strings.HasPrefix(typ, p) {
			return "", false
		}
	}
	return "arn:aws:cloudformation:::" + typ + "/" + s.name, true
}

// need is one permission the workload needs.
type need struct {
	action, resource, why string
	sev                   Severity
}

// checkNeeds evaluates needs against the role and reports each one not
// allowed.
func (c *checker) checkNeeds(f *function, r *role, who string, needs []need) {
	if r.outside != "" {
		c.add(SeverityWarning, CheckIAM, f.id, "Properties.Role",
			fmt.Sprintf("the %s's permissions were not checked: %s", who, r.outside),
			"check that role's policies with msklink policy check, or define the role in this template")
		return
	}
	var missing []need
	for _, n := range needs {
		d := iampolicy.EvaluateAll(r.policies, n.action, n.resource)
		if d.Allowed() {
			continue
		}
		if d.Outcome == iampolicy.ExplicitDeny {
			c.add(SeverityError, CheckIAM, r.id, "Properties.Policies",
				fmt.Sprintf("%s on %s, which the %s needs to %s, is denied by %s", n.action, n.resource, who, n.why, d.StatementRef()),
				"remove or narrow that Deny statement")
			continue
		}
		missing = append(missing, n)
	}
	for _, n := range missing {
		sev, fix := n.sev, fmt.Sprintf("allow %s on %s in the role (msklink policy generate prints the statements)", n.action, n.resource)
		why := fmt.Sprintf("the role does not allow %s on %s, which the %s needs to %s", n.action, n.resource, who, n.why)
		maybe := append([]string(nil), r.unknown...)
		for _, p := range r.partial {
			st := p.st
			st.Resource, st.NotResource = []string{"*"}, nil
			if st.Effect == iampolicy.Allow && st.Matches(n.action, n.resource) {
				maybe = append(maybe, p.where)
			}
		}
		if len(maybe) > 0 {
			sev = SeverityWarning
			why += fmt.Sprintf(" (unless %s, which deploy check could not resolve, allows it)", strings.Join(maybe, ", "))
		}
		c.add(sev, CheckIAM, r.id, "Properties.Policies", why, fix)
	}
}

// kafkaNeeds turns iampolicy's requirements into needs.
func kafkaNeeds(cluster iampolicy.ClusterARN, w iampolicy.Workload, sev func(iampolicy.Action) Severity) []need {
	var out []need
	for _, rq := range iampolicy.Requirements(cluster, w) {
		out = append(out, need{string(rq.Action), rq.Resource, rq.Why, sev(rq.Action)})
	}
	return out
}

// logNeeds are what a function needs to write its logs to group.
func (c *checker) logNeeds(f *function, sev Severity) []need {
	group := ""
	if v, found, err := c.lookup(f.props, "LoggingConfig.LogGroup"); err == nil && found {
		switch v := v.(type) {
		case string:
			group = v
		case symbol:
			if res, ok := c.t.Resources[v.name]; ok && v.kind == "resource" && res.Type == "AWS::Logs::LogGroup" {
				group = c.r.logGroupName(v.name)
			}
		}
	}
	if group == "" {
		name := "STACK-" + f.id + "-GENERATED"
		if v, found, err := c.lookup(f.props, "FunctionName"); err == nil && found {
			if s, ok := v.(string); ok {
				name = s
			}
		}
		group = "/aws/lambda/" + name
	}
	region, account := c.r.pseudo["AWS::Region"], c.r.pseudo["AWS::AccountId"]
	if region == "" || account == "" {
		return nil
	}
	arn := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", c.r.pseudo["AWS::Partition"], region, account, group)
	why := "write its logs to " + group
	needs := []need{{"logs:CreateLogStream", arn, why, sev}, {"logs:PutLogEvents", arn, why, sev}}
	if !c.hasLogGroup(group) {
		needs = append([]need{{"logs:CreateLogGroup", arn, "create its log group " + group + " (the template does not)", sev}}, needs...)
	}
	return needs
}

// hasLogGroup reports whether the template creates log group name.
func (c *checker) hasLogGroup(name string) bool {
	for id, res := range c.t.Resources {
		if res.Type != "AWS::Logs::LogGroup" {
			continue
		}
		if strings.HasPrefix(name, "STACK-"+id+"-") {
			return true
		}
		if v, _, err := c.lookup(res.Properties, "LogGroupName"); err == nil && v == name {
			return true
		}
	}
	return false
}

// eniNeeds are what Lambda needs to put a function (or a mapping's
// pollers) into a VPC: create, describe and delete network interfaces
// (with-msk-permissions; AWSLambdaVPCAccessExecutionRole).
func (c *checker) eniNeeds(who string, describeAll bool) []need {
	eni := "*"
	if region, account := c.r.pseudo["AWS::Region"], c.r.pseudo["AWS::AccountId"]; region != "" && account != "" {
		eni = fmt.Sprintf("arn:%s:ec2:%s:%s:network-interface/*", c.r.pseudo["AWS::Partition"], region, account)
	}
	why := "create its network interfaces in the VPC (" + who + ")"
	out := []need{
		{"ec2:CreateNetworkInterface", eni, why, SeverityError},
		{"ec2:DescribeNetworkInterfaces", "*", why, SeverityError},
		{"ec2:DeleteNetworkInterface", eni, why, SeverityError},
	}
	if describeAll {
		for _, a := range []string{"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"} {
			out = append(out, need{a, "*", "find the cluster's subnets and security groups (" + who + ")", SeverityError})
		}
	}
	return out
}
