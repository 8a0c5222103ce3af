package deploytmpl

import (
	"fmt"
	"strings"

	"github.com/msklink/msklink/iampolicy"
)

// The policy in the template is iampolicy's, generated for placeholder
// names and written as YAML whose resources are CloudFormation
// expressions of the parameters: the cluster from ClusterArn, the topics,
// the group and the on-failure topic from their parameters, the log group
// from the template's own. So the parameters are not pinned to the
// cluster the template was generated for, and the policy still grants
// exactly what `msklink policy generate` does for their values
// (`msklink deploy check` evaluates it so).
const (
	phRegion    = "REGION"
	phAccount   = "ACCOUNT"
	phName      = "CLUSTER"
	phUUID      = "UUID"
	phTopic     = "%TOPIC%" // followed by the topic's index
	phGroup     = "%GROUP%"
	phOnFailure = "%ONFAILURE%"
)

// placeholderCluster is the cluster the policy is generated for.
var placeholderCluster = iampolicy.ClusterARN{Partition: "aws", Region: phRegion, Account: phAccount, Name: phName, UUID: phUUID}

// policyExprs turns the placeholder resources of a generated policy into
// CloudFormation expressions.
type policyExprs struct {
	topic func(i int) string // the Sub variable value of topic i
}

// resource returns the YAML of one resource.
func (e policyExprs) resource(r string) string {
	cl := placeholderCluster
	switch {
	case r == "*":
		return `"*"`
	case r == cl.String():
		return "!Ref ClusterArn"
	case strings.HasPrefix(r, "arn:aws:ec2:"+phRegion+":"+phAccount+":"):
		return "!Sub " + quote(strings.Replace(r, "arn:aws:ec2:"+phRegion+":"+phAccount+":", "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:", 1))
	case strings.HasPrefix(r, "arn:aws:logs:"):
		return "!GetAtt LogGroup.Arn"
	}
	prefix := "arn:aws:kafka:" + phRegion + ":" + phAccount + ":"
	if !strings.HasPrefix(r, prefix) && !strings.Contains(r, ":"+phRegion+":"+phAccount+":") {
		return quote(r) // the user's own ARN (a schema registry, its secret)
	}
	rest, ok := strings.CutPrefix(r, prefix)
	if !ok {
		panic("deploytmpl: unexpected resource in a generated policy: " + r)
	}
	kind, name, _ := strings.Cut(rest, "/"+phName+"/"+phUUID+"/")
	vars := []string{`Arn: !Select [0, !Split [":cluster/", !Ref ClusterArn]]`, `Cluster: !Select [1, !Split [":cluster/", !Ref ClusterArn]]`}
	switch {
	case strings.HasPrefix(name, phTopic):
		var i int
		fmt.Sscanf(strings.TrimPrefix(name, phTopic), "%d", &i)
		v := e.topic(i)
		if strings.HasPrefix(v, "!") {
			vars = append(vars, fmt.Sprintf("Topic%d: %s", i, v))
			name = fmt.Sprintf("${Topic%d}", i)
		} else {
			name = "${" + v + "}"
		}
	case name == phGroup:
		name = "${ConsumerGroupId}"
	case name == phOnFailure:
		name = "${OnFailureTopic}"
	default:
		panic("deploytmpl: unexpected name in a generated policy: " + r)
	}
	return fmt.Sprintf(`!Sub ["${Arn}:%s/${Cluster}/%s", {%s}]`, kind, name, strings.Join(vars, ", "))
}

// policyYAML writes p's statements as the YAML of a PolicyDocument,
// indented by indent spaces.
func (e policyExprs) policyYAML(p *iampolicy.Policy, indent int) string {
	pad := strings.Repeat(" ", indent)
	var b strings.Builder
	fmt.Fprintf(&b, "%sVersion: %q\n%sStatement:\n", pad, p.Version, pad)
	for _, st := range p.Statements {
		in := pad + "  "
		fmt.Fprintf(&b, "%s- Sid: %s\n", in, st.Sid)
		fmt.Fprintf(&b, "%s  Effect: %s\n", in, st.Effect)
		fmt.Fprintf(&b, "%s  Action:\n", in)
		for _, a := range st.Action {
			fmt.Fprintf(&b, "%s    - %s\n", in, a)
		}
		fmt.Fprintf(&b, "%s  Resource:\n", in)
		for _, r := range st.Resource {
			fmt.Fprintf(&b, "%s    - %s\n", in, e.resource(r))
		}
	}
	return strings.TrimSuffix(b.String(), "\n")
}
