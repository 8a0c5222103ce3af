package iampolicy

import (
	"errors"
	"fmt"
	"strings"
)

// ESMWorkload is what an AWS Lambda event source mapping (ESM) for Amazon
// MSK does with its function's execution role: it connects to the
// cluster with IAM, reads the cluster's dynamic configuration, consumes
// the mapping's topics in a consumer group and commits offsets there,
// looks the cluster up through MSK's control plane, creates network
// interfaces in the cluster's subnets, and writes the function's logs. With
// a Kafka on-failure destination it also produces to that topic.
//
// Sources: the Lambda developer guide's "Configuring Lambda permissions
// for Amazon MSK event source mappings" (with-msk-permissions), its IAM
// role-based authentication section (kafka-cluster:Connect, DescribeGroup,
// AlterGroup, DescribeTopic, ReadData, DescribeClusterDynamicConfiguration
// on the cluster, topic and group), the AWSLambdaMSKExecutionRole managed
// policy (kafka:DescribeClusterV2, kafka:GetBootstrapBrokers, the ec2
// network-interface actions, logs), and "Capturing discarded batches"
// (kafka-on-failure: kafka-cluster:WriteData for a Kafka destination).
type ESMWorkload struct {
	// Topics are the topics the mapping consumes (Lambda takes one).
	Topics []string
	// Group is the consumer group: the mapping's UUID, or the
	// ConsumerGroupId given in AmazonManagedKafkaEventSourceConfig.
	Group string
	// OnFailureTopic, if set, is the Kafka on-failure destination
	// (DestinationConfig "kafka://TOPIC"), on the same cluster.
	OnFailureTopic string
	// FunctionName, if set, narrows the CloudWatch Logs statement to the
	// function's log group /aws/lambda/FunctionName; else /aws/lambda/*.
	FunctionName string
	// SchemaRegistry, if set, is the mapping's SchemaRegistryConfig: its
	// permissions are added (see SchemaRegistryAccess).
	SchemaRegistry *SchemaRegistryAccess
}

// ErrInvalidESMWorkload is wrapped by ESMWorkload.Validate's errors.
var ErrInvalidESMWorkload = errors.New("iampolicy: invalid event source mapping workload")

// Validate reports what makes w unusable: no topic, no group, or an
// on-failure topic that is one of the source topics (Lambda refuses that
// configuration to prevent a loop).
func (w ESMWorkload) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidESMWorkload, fmt.Sprintf(format, args...))
	}
	if len(w.Topics) == 0 {
		return bad("no topic: name the topic the mapping consumes")
	}
	for i, t := range w.Topics {
		if t == "" {
			return bad("topic %d is empty", i+1)
		}
		if t == w.OnFailureTopic {
			return bad("the on-failure topic %q is also a source topic: Lambda rejects that (it would loop); use another topic", t)
		}
	}
	if w.Group == "" {
		return bad("no consumer group: use the mapping's UUID, or its ConsumerGroupId")
	}
	if strings.ContainsAny(w.FunctionName, "*?:/") {
		return bad("function name %q: give the plain function name (no ARN, no wildcard)", w.FunctionName)
	}
	if w.SchemaRegistry != nil {
		return w.SchemaRegistry.Validate()
	}
	return nil
}

// Workload returns the kafka-cluster part of w as a Workload, for
// Requirements and Check: Connect and DescribeClusterDynamicConfiguration
// on the cluster, DescribeTopic and ReadData on the topics, DescribeGroup
// and AlterGroup on the group, and DescribeTopic and WriteData on the
// on-failure topic.
func (w ESMWorkload) Workload() Workload {
	wl := Workload{Consume: w.Topics, Groups: []string{w.Group}, DescribeClusterConfig: true}
	if w.Group == "" {
		wl.Groups = nil
	}
	if w.OnFailureTopic != "" {
		wl.Produce = []string{w.OnFailureTopic}
	}
	return wl
}

// The AWS actions an event source mapping needs besides kafka-cluster:*,
// and the Sids of their statements.
const (
	kafkaDescribeClusterV2        = "kafka:DescribeClusterV2"
	kafkaGetBootstrapBrokers      = "kafka:GetBootstrapBrokers"
	ec2CreateNetworkInterface     = "ec2:CreateNetworkInterface"
	ec2DeleteNetworkInterface     = "ec2:DeleteNetworkInterface"
	ec2DescribeNetworkInterfaces  = "ec2:DescribeNetworkInterfaces"
	ec2DescribeSecurityGroups     = "ec2:DescribeSecurityGroups"
	ec2DescribeSubnets            = "ec2:DescribeSubnets"
	ec2DescribeVpcs               = "ec2:DescribeVpcs"
	logsCreateLogGroup            = "logs:CreateLogGroup"
	logsCreateLogStream           = "logs:CreateLogStream"
	logsPutLogEvents              = "logs:PutLogEvents"
	esmStatementControlPlane      = "ClusterControlPlane"
	esmStatementNetworkInterfaces = "VpcNetworkInterfaces"
	esmStatementVPCDescribe       = "VpcDescribe"
	esmStatementLogs              = "Logs"
)

// GenerateESM returns the execution-role policy an MSK event source
// mapping needs for w on cluster, each statement as narrow as AWS allows:
//
//   - the statements of Generate(cluster, w.Workload()): "Cluster"
//     (Connect, DescribeClusterDynamicConfiguration), "ReadTopics",
//     "ConsumerGroups", and with an on-failure topic "WriteTopics";
//   - "ClusterControlPlane": kafka:DescribeClusterV2 and
//     kafka:GetBootstrapBrokers on the cluster ARN (Lambda looks up the
//     cluster's subnets, security groups and IAM bootstrap brokers; V2
//     works for provisioned and serverless clusters);
//   - "VpcNetworkInterfaces": ec2:CreateNetworkInterface and
//     ec2:DeleteNetworkInterface on the cluster's account and region (the
//     interfaces, subnets and security groups these calls name are all in
//     the cluster's VPC);
//   - "VpcDescribe": the ec2:Describe* calls on "*" (they support no
//     resource-level permissions);
//   - "Logs": logs:CreateLogGroup, CreateLogStream and PutLogEvents on the
//     function's log group (/aws/lambda/FunctionName, or /aws/lambda/*);
//   - with w.SchemaRegistry, "SchemaRegistry" (Glue: glue:GetRegistry and
//     glue:GetSchemaVersion) or "SchemaRegistrySecret" (a Confluent
//     registry's Secrets Manager secret).
//
// CheckESM evaluates such a policy whole, Check(policies, cluster,
// w.Workload()) its kafka-cluster part. GenerateESM does not validate w
// (see Validate).
func GenerateESM(cluster ClusterARN, w ESMWorkload) *Policy {
	p := Generate(cluster, w.Workload())
	region, account, part := cluster.Region, cluster.Account, cluster.partition()
	p.Statements = append(p.Statements,
		Statement{Sid: esmStatementControlPlane, Effect: Allow,
			Action:   []string{kafkaDescribeClusterV2, kafkaGetBootstrapBrokers},
			Resource: []string{cluster.String()}},
		Statement{Sid: esmStatementNetworkInterfaces, Effect: Allow,
			Action:   []string{ec2CreateNetworkInterface, ec2DeleteNetworkInterface},
			Resource: []string{"arn:" + part + ":ec2:" + region + ":" + account + ":*"}},
		Statement{Sid: esmStatementVPCDescribe, Effect: Allow,
			Action:   []string{ec2DescribeNetworkInterfaces, ec2DescribeSecurityGroups, ec2DescribeSubnets, ec2DescribeVpcs},
			Resource: []string{"*"}},
		Statement{Sid: esmStatementLogs, Effect: Allow,
			Action:   []string{logsCreateLogGroup, logsCreateLogStream, logsPutLogEvents},
			Resource: []string{w.logGroupARN(cluster)}},
	)
	if w.SchemaRegistry != nil {
		p.Statements = append(p.Statements, w.SchemaRegistry.statements()...)
	}
	return p
}

// logGroupARN is the ARN of the function's log streams in the cluster's
// account and region: /aws/lambda/FunctionName, or /aws/lambda/* without
// one.
func (w ESMWorkload) logGroupARN(cluster ClusterARN) string {
	logGroup := "/aws/lambda/*"
	if w.FunctionName != "" {
		logGroup = "/aws/lambda/" + w.FunctionName
	}
	return "arn:" + cluster.partition() + ":logs:" + cluster.Region + ":" + cluster.Account + ":log-group:" + logGroup + ":*"
}

// ESMPart is one of the four parts of what an event source mapping's
// execution role needs, as findings are grouped for people.
type ESMPart string

// The parts of an execution role, in the order CheckESM reports them.
const (
	// ESMKafkaDataPlane: the kafka-cluster:* actions on the cluster, the
	// topics and the group (what ESMWorkload.Workload requires).
	ESMKafkaDataPlane ESMPart = "Kafka data plane"
	// ESMControlPlane: kafka:DescribeClusterV2 (or kafka:DescribeCluster)
	// and kafka:GetBootstrapBrokers on the cluster.
	ESMControlPlane ESMPart = "MSK control plane"
	// ESMNetworking: the ec2 network-interface and Describe actions.
	ESMNetworking ESMPart = "VPC networking"
	// ESMLogs: CloudWatch Logs for the function's log group.
	ESMLogs ESMPart = "logs"
)

// ESMParts returns the parts in the order CheckESM reports them.
func ESMParts() []ESMPart {
	return []ESMPart{ESMKafkaDataPlane, ESMControlPlane, ESMNetworking, ESMLogs}
}

// ESMRequirement is one permission an event source mapping's execution
// role needs.
type ESMRequirement struct {
	Requirement
	Part ESMPart
	// Or lists older actions that also grant it on some clusters:
	// kafka:DescribeCluster for kafka:DescribeClusterV2 (enough on a
	// provisioned cluster; a serverless one needs V2, and AWS plans to drop
	// DescribeCluster from AWSLambdaMSKExecutionRole).
	Or []Action
}

// The older control-plane action that can stand in for DescribeClusterV2.
const kafkaDescribeCluster = "kafka:DescribeCluster"

// ESMRequirements returns every permission the execution role of an MSK
// event source mapping for w on cluster needs, grouped by part in the
// order of ESMParts: the Requirements of w.Workload() (Kafka data plane),
// then what the AWSLambdaMSKExecutionRole managed policy grants
// (docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaMSKExecutionRole.html;
// the Lambda developer guide's with-msk-permissions page says why), each
// on the resource GenerateESM grants it on:
//
//   - MSK control plane: kafka:DescribeClusterV2 (or kafka:DescribeCluster,
//     provisioned clusters only) and kafka:GetBootstrapBrokers on the
//     cluster ARN;
//   - VPC networking: ec2:CreateNetworkInterface on the network interfaces,
//     subnets and security groups of the cluster's account and region (it
//     acts on all three), ec2:DeleteNetworkInterface on its network
//     interfaces, and ec2:DescribeNetworkInterfaces, DescribeSubnets,
//     DescribeSecurityGroups and DescribeVpcs on "*" (they take no
//     resource);
//   - logs: logs:CreateLogGroup, CreateLogStream and PutLogEvents on the
//     function's log group (/aws/lambda/FunctionName, or /aws/lambda/*
//     when w has no FunctionName).
func ESMRequirements(cluster ClusterARN, w ESMWorkload) []ESMRequirement {
	var out []ESMRequirement
	for _, r := range Requirements(cluster, w.Workload()) {
		out = append(out, ESMRequirement{Requirement: r, Part: ESMKafkaDataPlane})
	}
	add := func(part ESMPart, action, resource, why string, or ...Action) {
		out = append(out, ESMRequirement{Requirement: Requirement{Action: Action(action), Resource: resource, Why: why}, Part: part, Or: or})
	}
	c := cluster.String()
	add(ESMControlPlane, kafkaDescribeClusterV2, c, "look up the cluster's subnets, security groups and authentication", kafkaDescribeCluster)
	add(ESMControlPlane, kafkaGetBootstrapBrokers, c, "look up the cluster's IAM bootstrap brokers")
	ec2 := "arn:" + cluster.partition() + ":ec2:" + cluster.Region + ":" + cluster.Account + ":"
	const eni = "create the mapping's network interfaces in the cluster's VPC"
	add(ESMNetworking, ec2CreateNetworkInterface, ec2+"network-interface/*", eni)
	add(ESMNetworking, ec2CreateNetworkInterface, ec2+"subnet/*", eni)
	add(ESMNetworking, ec2CreateNetworkInterface, ec2+"security-group/*", eni)
	add(ESMNetworking, ec2DeleteNetworkInterface, ec2+"network-interface/*", "delete the mapping's network interfaces")
	for _, a := range []string{ec2DescribeNetworkInterfaces, ec2DescribeSecurityGroups, ec2DescribeSubnets, ec2DescribeVpcs} {
		add(ESMNetworking, a, "*", "find the cluster's subnets and security groups and the mapping's network interfaces")
	}
	logs := w.logGroupARN(cluster)
	for _, a := range []string{logsCreateLogGroup, logsCreateLogStream, logsPutLogEvents} {
		add(ESMLogs, a, logs, "write the function's logs")
	}
	return out
}

// ESMFinding is a permission an event source mapping's execution role
// needs that the policies do not grant, or grant only through an older
// action (AllowedBy).
type ESMFinding struct {
	Finding
	Part ESMPart
	// AllowedBy, when set, is the older action (ESMRequirement.Or) the
	// policies allow instead of Action: a warning rather than a missing
	// permission (kafka:DescribeCluster works for a provisioned cluster,
	// not for a serverless one).
	AllowedBy Action
}

// Missing reports whether the permission is missing (as opposed to granted
// only through an older action: see AllowedBy).
func (f ESMFinding) Missing() bool { return f.AllowedBy == "" }

// CheckESM evaluates every ESMRequirements of w on cluster against the
// policies attached to the execution role (see EvaluateAll) and returns
// one ESMFinding per requirement that is not allowed, grouped by part in
// the order of ESMParts. An empty result means the role suffices; a
// result whose findings all have AllowedBy set works on a provisioned
// cluster only. Check(policies, cluster, w.Workload()) is the Kafka data
// plane part alone.
func CheckESM(policies []*Policy, cluster ClusterARN, w ESMWorkload) []ESMFinding {
	var out []ESMFinding
	for _, r := range ESMRequirements(cluster, w) {
		d := EvaluateAll(policies, string(r.Action), r.Resource)
		if d.Allowed() {
			continue
		}
		f := ESMFinding{Finding: Finding{Requirement: r.Requirement, Decision: d}, Part: r.Part}
		for _, a := range r.Or {
			if EvaluateAll(policies, string(a), r.Resource).Allowed() {
				f.AllowedBy = a
				break
			}
		}
		out = append(out, f)
	}
	return out
}
