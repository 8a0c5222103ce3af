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
//     function's log group (/aws/lambda/FunctionName, or /aws/lambda/*).
//
// Check(policies, cluster, w.Workload()) evaluates the kafka-cluster part
// of such a policy. GenerateESM does not validate w (see Validate).
func GenerateESM(cluster ClusterARN, w ESMWorkload) *Policy {
	p := Generate(cluster, w.Workload())
	region, account, part := cluster.Region, cluster.Account, cluster.partition()
	logGroup := "/aws/lambda/*"
	if w.FunctionName != "" {
		logGroup = "/aws/lambda/" + w.FunctionName
	}
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
			Resource: []string{"arn:" + part + ":logs:" + region + ":" + account + ":log-group:" + logGroup + ":*"}},
	)
	return p
}
