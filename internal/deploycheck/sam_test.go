package deploycheck

import (
	"strings"
	"testing"
)

// userSAM is a SAM template as a team writes it by hand: Globals, a
// function with an MSK event (SAM makes the mapping and the role, with
// AWSLambdaMSKExecutionRole), kafka-cluster statements in Policies, and a
// cluster security group with its self rule.
const userSAM = `AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Cluster:
    Type: String
    Default: arn:aws:kafka:eu-west-1:210987654321:cluster/payments/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-1
  Topic:
    Type: String
    Default: payments
  ClusterGroup:
    Type: AWS::EC2::SecurityGroup::Id
Mappings:
  Settings:
    Batch:
      Size: 500
Globals:
  Function:
    Runtime: provided.al2023
    Architectures: [arm64]
    Handler: bootstrap
    Timeout: 60
Resources:
  SelfRule:
    Type: AWS::EC2::SecurityGroupIngress
    Properties:
      GroupId: !Ref ClusterGroup
      SourceSecurityGroupId: !Ref ClusterGroup
      IpProtocol: tcp
      FromPort: 9098
      ToPort: 9098
  Consumer:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: makefile
    Properties:
      CodeUri: .
      Policies:
        - Statement:
            - Effect: Allow
              Action: [kafka-cluster:Connect, kafka-cluster:DescribeClusterDynamicConfiguration]
              Resource: !Ref Cluster
            - Effect: Allow
              Action: [kafka-cluster:DescribeTopic, kafka-cluster:ReadData]
              Resource: !Sub
                - "arn:aws:kafka:${AWS::Region}:${AWS::AccountId}:topic/${Path}/${Topic}"
                - Path: !Select [1, !Split [":cluster/", !Ref Cluster]]
            - Effect: Allow
              Action: [kafka-cluster:DescribeGroup, kafka-cluster:AlterGroup]
              Resource: !Join ["", [!Select [0, !Split [":cluster/", !Ref Cluster]], ":group/", !Select [1, !Split [":cluster/", !Ref Cluster]], "/payments-consumer"]]
      Events:
        Payments:
          Type: MSK
          Properties:
            Stream: !Ref Cluster
            Topics: [!Ref Topic]
            StartingPosition: LATEST
            BatchSize: !FindInMap [Settings, Batch, Size]
            ConsumerGroupId: payments-consumer
`

// TestUserSAMTemplate checks a hand-written SAM template: it passes as
// written, and fails when Globals give the wrong architecture, the group
// actions are missing, the self rule is on the wrong port, or the event's
// batch size (through Mappings) is out of range.
func TestUserSAMTemplate(t *testing.T) {
	fs, err := Check([]byte(userSAM))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("as written: %s", f)
	}
	for _, tc := range []struct {
		name, old, new       string
		check, resource, why string
	}{
		{"x86_64 in Globals", "    Architectures: [arm64]", "    Architectures: [x86_64]", CheckArchitecture, "Consumer", "Architectures is x86_64"},
		{"no group actions", "              Action: [kafka-cluster:DescribeGroup, kafka-cluster:AlterGroup]", "              Action: [kafka-cluster:DescribeGroup]", CheckIAM, "Consumer", "kafka-cluster:AlterGroup on arn:aws:kafka:eu-west-1:210987654321:group/payments/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-1/payments-consumer"},
		{"self rule on 9096", "      FromPort: 9098\n      ToPort: 9098", "      FromPort: 9096\n      ToPort: 9096", CheckIngress, "SelfRule", "not TCP 9098"},
		{"batch size from Mappings", "      Size: 500", "      Size: 50000", CheckESM, "Consumer", "1 to 10000"},
		{"the runtime from Globals", "    Runtime: provided.al2023", "    Runtime: python3.13", CheckRuntime, "Consumer", "python3.13"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(userSAM, tc.old) != 1 {
				t.Fatalf("%q is not in the template once", tc.old)
			}
			fs, err := Check([]byte(strings.Replace(userSAM, tc.old, tc.new, 1)))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range errorsOf(fs) {
				if f.Check == tc.check && f.Resource == tc.resource && strings.Contains(f.Why, tc.why) {
					t.Logf("%s", f)
					return
				}
			}
			t.Errorf("no %s error on %s with %q:\n%v", tc.check, tc.resource, tc.why, fs)
		})
	}
}

// TestClusterInTemplate checks a template that creates the cluster too:
// its self rule is checked, the role's permissions on a cluster known
// only once deployed are a warning (never a silent pass), and with
// --cluster-arn they are checked.
func TestClusterInTemplate(t *testing.T) {
	const tpl = `Resources:
  Cluster:
    Type: AWS::MSK::Cluster
    Properties:
      ClusterName: payments
      KafkaVersion: "3.6.0"
      NumberOfBrokerNodes: 3
      BrokerNodeGroupInfo: {InstanceType: kafka.m7g.large, ClientSubnets: [subnet-1, subnet-2, subnet-3], SecurityGroups: [!Ref Group]}
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: brokers
      SecurityGroupIngress:
        - {IpProtocol: tcp, FromPort: 9092, ToPort: 9092, SourceSecurityGroupId: !Ref Group}
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaMSKExecutionRole]
  Fn:
    Type: AWS::Lambda::Function
    Properties: {Runtime: provided.al2023, Handler: bootstrap, Architectures: [arm64], Role: !GetAtt Role.Arn, Code: {ZipFile: x}}
  Mapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {FunctionName: !Ref Fn, EventSourceArn: !Ref Cluster, Topics: [payments], StartingPosition: LATEST}
`
	fs, err := Check([]byte(tpl))
	if err != nil {
		t.Fatal(err)
	}
	var ingress, unchecked bool
	for _, f := range fs {
		t.Logf("%s", f)
		ingress = ingress || f.Severity == SeverityError && f.Check == CheckIngress && f.Resource == "Group"
		unchecked = unchecked || f.Severity == SeverityWarning && f.Check == CheckUnresolved && f.Resource == "Mapping" && strings.Contains(f.Why, "permissions on the cluster were not checked")
	}
	if !ingress || !unchecked {
		t.Errorf("want the self rule on 9092 as an error and the role as not checked: %v", fs)
	}
	fs, err = Check([]byte(tpl), WithClusterARN("arn:aws:kafka:us-east-1:123456789012:cluster/payments/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range errorsOf(fs) {
		if f.Check == CheckIAM && strings.Contains(f.Why, "kafka-cluster:Connect on arn:aws:kafka:us-east-1:123456789012:cluster/payments/") {
			return
		}
	}
	t.Errorf("with --cluster-arn, want the missing kafka-cluster:Connect: %v", fs)
}

// TestPublicAccessPorts checks a publisher on MSK's public IAM listener
// (9198): it needs no VPC, and in a VPC its egress must open 9198, not 9098.
func TestPublicAccessPorts(t *testing.T) {
	const tpl = `Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]
      Policies:
        - PolicyName: k
          PolicyDocument:
            Statement: [{Effect: Allow, Action: "kafka-cluster:*", Resource: "arn:aws:kafka:us-east-1:123456789012:*"}]
  Group:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: fn
      SecurityGroupEgress: [{IpProtocol: tcp, FromPort: 9098, ToPort: 9098, CidrIp: 0.0.0.0/0}]
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      Architectures: [arm64]
      Role: !GetAtt Role.Arn
      Code: {ZipFile: x}
      Environment:
        Variables:
          MSK_BOOTSTRAP_SERVERS: b-1-public.demo.abc.c3.kafka.us-east-1.amazonaws.com:9198
          MSK_TOPIC: orders
`
	fs, err := Check([]byte(tpl), WithClusterARN("arn:aws:kafka:us-east-1:123456789012:cluster/demo/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("outside the VPC on 9198: %s", f)
	}
	inVPC := strings.Replace(tpl, "      Environment:", "      VpcConfig: {SubnetIds: [subnet-1], SecurityGroupIds: [!Ref Group]}\n      Environment:", 1)
	fs, err = Check([]byte(inVPC), WithClusterARN("arn:aws:kafka:us-east-1:123456789012:cluster/demo/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee-1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range errorsOf(fs) {
		if f.Check == CheckEgress && strings.Contains(f.Why, "allow TCP 9098 out, not TCP 9198") {
			return
		}
	}
	t.Errorf("in the VPC with egress 9098 for a 9198 broker: %v", fs)
}
