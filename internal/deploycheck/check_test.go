package deploycheck

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/msklink/msklink/internal/deploytmpl"
	"github.com/msklink/msklink/kafkaconn"
)

// The example cluster of docs/DEPLOYMENT.md and deploy/*.yaml.
const (
	exampleARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/11111111-2222-3333-4444-555555555555-3"
	exampleB1  = "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com"
	exampleB2  = "b-2.demo.abc123.c3.kafka.us-east-1.amazonaws.com"
)

func publisherParams(auth kafkaconn.Auth, f deploytmpl.Format) deploytmpl.Params {
	port, _ := deploytmpl.Port(auth)
	return deploytmpl.Params{
		ClusterARN: exampleARN,
		Bootstrap:  []string{fmt.Sprintf("%s:%d", exampleB1, port), fmt.Sprintf("%s:%d", exampleB2, port)},
		Topics:     []string{"orders", "payments"},
		Auth:       auth,
		Format:     f,
	}
}

func consumerParams(f deploytmpl.Format, onFailure string) deploytmpl.Params {
	p := publisherParams(kafkaconn.AuthIAM, f)
	p.Topics = []string{"orders"}
	p.Bootstrap = nil
	p.ESM = &deploytmpl.ESM{Group: "billing", OnFailureTopic: onFailure}
	return p
}

// generated are the templates `msklink deploy template` writes: every
// format, auth mode and side.
func generated() map[string]deploytmpl.Params {
	out := map[string]deploytmpl.Params{}
	for _, f := range []deploytmpl.Format{deploytmpl.FormatSAM, deploytmpl.FormatCloudFormation} {
		for _, a := range []kafkaconn.Auth{kafkaconn.AuthIAM, kafkaconn.AuthSCRAM, kafkaconn.AuthTLS} {
			out[fmt.Sprintf("%s-%s", f, a)] = publisherParams(a, f)
		}
		p := publisherParams(kafkaconn.AuthIAM, f)
		p.DisableIdempotence = true
		out[fmt.Sprintf("%s-iam-not-idempotent", f)] = p
		out[fmt.Sprintf("%s-consumer", f)] = consumerParams(f, "")
		out[fmt.Sprintf("%s-consumer-on-failure-topic", f)] = consumerParams(f, "orders-dlt")
	}
	return out
}

func render(t *testing.T, p deploytmpl.Params) string {
	t.Helper()
	b, err := deploytmpl.Render(p)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return string(b)
}

// shipped returns deploy/*.yaml, every template the project ships.
func shipped(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no templates in deploy/: %v", err)
	}
	return files
}

func errorsOf(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Severity == SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// TestShippedAndGeneratedPass checks every template the project ships
// (deploy/*.yaml) and every variant it generates: no finding at all, not
// even a warning (every value in them resolves).
func TestShippedAndGeneratedPass(t *testing.T) {
	for _, f := range shipped(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fs, err := Check(b)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range fs {
				t.Errorf("%s", x)
			}
		})
	}
	for name, p := range generated() {
		t.Run(name, func(t *testing.T) {
			fs, err := Check([]byte(render(t, p)))
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range fs {
				t.Errorf("%s", x)
			}
		})
	}
}

// breakage is a generated template broken the way a hand edit would:
// each old substring (which must appear exactly once) replaced by new.
type breakage struct {
	name     string
	params   deploytmpl.Params
	edits    [][2]string
	check    string // the finding that must be reported, as an error
	resource string
	why      string // a substring of its Why
}

func breakages() []breakage {
	sam, cfn := publisherParams(kafkaconn.AuthIAM, deploytmpl.FormatSAM), publisherParams(kafkaconn.AuthIAM, deploytmpl.FormatCloudFormation)
	consumer := consumerParams(deploytmpl.FormatSAM, "orders-dlt")
	consumerCfn := consumerParams(deploytmpl.FormatCloudFormation, "orders-dlt")
	egress := "          FromPort: 9098\n          ToPort: 9098\n          DestinationSecurityGroupId"
	ingress := "      FromPort: 9098\n      ToPort: 9098\n      SourceSecurityGroupId: !Ref FunctionSecurityGroup"
	selfIngress := "      FromPort: 9098\n      ToPort: 9098\n      SourceSecurityGroupId: !Ref ClusterSecurityGroupId"
	provisioned := "      ProvisionedPollerConfig:\n        MinimumPollers: !Ref MinimumPollers\n        MaximumPollers: !Ref MaximumPollers\n        PollerGroupName: !If [HasPollerGroup, !Ref PollerGroupName, !Ref AWS::NoValue]\n"
	return []breakage{
		// The broken variants of issue 25, which AWS's validator and
		// cfn-lint both pass.
		{"egress on 443", sam, [][2]string{{egress, strings.ReplaceAll(egress, "9098", "443")}}, CheckEgress, deploytmpl.FunctionID, "TCP 443 out, not TCP 9098"},
		{"role without Connect", sam, [][2]string{{"                  - kafka-cluster:Connect\n", ""}}, CheckIAM, "FunctionRole", "kafka-cluster:Connect on arn:aws:kafka:us-east-1:123456789012:cluster/demo/"},
		{"role without WriteData", cfn, [][2]string{{"                  - kafka-cluster:WriteData\n", ""}}, CheckIAM, "FunctionRole", "kafka-cluster:WriteData on arn:aws:kafka:us-east-1:123456789012:topic/demo/11111111-2222-3333-4444-555555555555-3/orders"},
		{"trigger role without ENI permissions", consumer, [][2]string{{"                  - ec2:CreateNetworkInterface\n", ""}}, CheckIAM, "FunctionRole", "ec2:CreateNetworkInterface"},
		{"publisher role without ENI permissions", cfn, [][2]string{
			{"        - HasTracing\n        - - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\n", "        - HasTracing\n        - - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\n"},
			{"        - - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\n", "        - - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole\n"}}, CheckIAM, "FunctionRole", "ec2:CreateNetworkInterface"},
		{"cluster ingress on the wrong port", sam, [][2]string{{ingress, strings.ReplaceAll(ingress, "9098", "9092")}}, CheckIngress, "ClusterIngressFromFunction", "TCP 9092, not TCP 9098"},
		{"cluster self ingress on the wrong port", consumerCfn, [][2]string{{selfIngress, strings.ReplaceAll(selfIngress, "9098", "9096")}}, CheckIngress, "ClusterSelfIngressRule", "TCP 9096, not TCP 9098"},
		{"on-demand mapping with partial batch responses", consumer, [][2]string{{provisioned, ""}}, CheckESMMode, "ConsumerTrigger", "partial batch responses"},
		{"on-demand mapping with a schema registry", consumerParams(deploytmpl.FormatSAM, ""), [][2]string{{provisioned, ""}, {"      FunctionResponseTypes:\n        - ReportBatchItemFailures\n", ""},
			{"        ConsumerGroupId: !Ref ConsumerGroupId\n", "        ConsumerGroupId: !Ref ConsumerGroupId\n        SchemaRegistryConfig:\n          SchemaRegistryURI: arn:aws:glue:us-east-1:123456789012:registry/orders\n          EventRecordFormat: JSON\n"}}, CheckESMMode, "ConsumerTrigger", "schema registry"},
		{"on-failure topic is the source topic", consumer, [][2]string{{`Destination: !Sub "kafka://${OnFailureTopic}"`, `Destination: !Sub "kafka://${Topics}"`}}, CheckOnFailure, "ConsumerTrigger", "is the topic the mapping consumes"},
		{"nodejs22.x for a Go bootstrap", sam, [][2]string{{"      Runtime: provided.al2023", "      Runtime: nodejs22.x"}}, CheckRuntime, deploytmpl.FunctionID, "nodejs22.x does not run a Go bootstrap"},
		{"x86_64 for an arm64 build", consumer, [][2]string{{"      Architectures:\n        - arm64", "      Architectures:\n        - x86_64"}}, CheckArchitecture, deploytmpl.ConsumerFunctionID, "GOARCH=arm64"},
		{"no Architectures", cfn, [][2]string{{"      Architectures:\n        - arm64\n", ""}}, CheckArchitecture, deploytmpl.FunctionID, "Lambda runs x86_64"},
		{"missing Handler", cfn, [][2]string{{"      Handler: bootstrap\n", ""}}, CheckHandler, deploytmpl.FunctionID, "no Handler"},
		// The other checks.
		{"auth mode against the brokers' port", sam, [][2]string{{"          MSK_AUTH: !Ref AuthMode", "          MSK_AUTH: scram"}}, CheckAuthPort, deploytmpl.FunctionID, "MSK_AUTH is scram"},
		{"function outside the VPC", cfn, [][2]string{{"      VpcConfig:\n        SubnetIds: !Ref SubnetIds\n        SecurityGroupIds:\n          - !Ref FunctionSecurityGroup\n", ""}}, CheckNetwork, deploytmpl.FunctionID, "no VpcConfig"},
		{"role without WriteDataIdempotently", sam, [][2]string{{"                  - kafka-cluster:WriteDataIdempotently\n", "                  - kafka-cluster:DescribeCluster\n"}}, CheckIAM, "FunctionRole", "kafka-cluster:WriteDataIdempotently"},
		{"trigger role without ReadData", consumer, [][2]string{{"                  - kafka-cluster:ReadData\n", ""}}, CheckIAM, "FunctionRole", "kafka-cluster:ReadData"},
		{"trigger role without group actions", consumer, [][2]string{{"                  - kafka-cluster:AlterGroup\n", ""}}, CheckIAM, "FunctionRole", "kafka-cluster:AlterGroup"},
		{"trigger role without GetBootstrapBrokers", consumer, [][2]string{{"                  - kafka:GetBootstrapBrokers\n", ""}}, CheckIAM, "FunctionRole", "kafka:GetBootstrapBrokers"},
		{"trigger role without DescribeClusterV2", consumer, [][2]string{{"                  - kafka:DescribeClusterV2\n", ""}}, CheckIAM, "FunctionRole", "kafka:DescribeClusterV2"},
		{"trigger role without logs", consumer, [][2]string{{"                  - logs:PutLogEvents\n", ""}}, CheckIAM, "FunctionRole", "logs:PutLogEvents"},
		{"trigger role without WriteData on the on-failure topic", consumer, [][2]string{{"                  - kafka-cluster:WriteData\n", ""}}, CheckIAM, "FunctionRole", "kafka-cluster:WriteData"},
		{"a Deny statement", sam, [][2]string{{"            Statement:\n              - Sid: Cluster\n", "            Statement:\n              - {Effect: Deny, Action: \"kafka-cluster:WriteData\", Resource: \"*\"}\n              - Sid: Cluster\n"}}, CheckIAM, "FunctionRole", "is denied by"},
		{"batch size too large", consumer, [][2]string{{"      BatchSize: !Ref BatchSize", "      BatchSize: 20000"}}, CheckESM, "ConsumerTrigger", "1 to 10000"},
		{"batching window too long", consumer, [][2]string{{"      MaximumBatchingWindowInSeconds: !Ref MaximumBatchingWindowInSeconds", "      MaximumBatchingWindowInSeconds: 301"}}, CheckESM, "ConsumerTrigger", "0 to 300"},
		{"unknown starting position", consumer, [][2]string{{"      StartingPosition: !Ref StartingPosition", "      StartingPosition: EARLIEST"}}, CheckESM, "ConsumerTrigger", "EARLIEST"},
		{"no starting position", consumer, [][2]string{{"      StartingPosition: !Ref StartingPosition\n", ""}}, CheckESM, "ConsumerTrigger", "no StartingPosition"},
		{"two topics", consumer, [][2]string{{"      Topics:\n        - !Ref Topics\n", "      Topics:\n        - !Ref Topics\n        - payments\n"}}, CheckESM, "ConsumerTrigger", "exactly one topic"},
		{"SCRAM role without GetSecretValue", publisherParams(kafkaconn.AuthSCRAM, deploytmpl.FormatSAM), [][2]string{{"                Action: secretsmanager:GetSecretValue\n", "                Action: secretsmanager:DescribeSecret\n"}}, CheckIAM, "FunctionRole", "secretsmanager:GetSecretValue on !Ref ScramCredentialsArn"},
		{"SCRAM function without egress to Secrets Manager", publisherParams(kafkaconn.AuthSCRAM, deploytmpl.FormatCloudFormation), [][2]string{{"          FromPort: 443\n          ToPort: 443\n", "          FromPort: 9096\n          ToPort: 9096\n"}}, CheckEgress, deploytmpl.FunctionID, "not TCP 443, which Secrets Manager"},
		{"SCRAM function without credentials", publisherParams(kafkaconn.AuthSCRAM, deploytmpl.FormatCloudFormation), [][2]string{{"          MSK_SCRAM_SECRET_ARN: !Ref ScramCredentialsArn", "          MSK_SCRAM_SECRETARN: !Ref ScramCredentialsArn"}}, CheckSecretEnv, deploytmpl.FunctionID, "no SCRAM credentials"},
		{"SCRAM password in the environment", publisherParams(kafkaconn.AuthTLS, deploytmpl.FormatSAM), [][2]string{{`          MSK_SCRAM_PASSWORD: ""`, `          MSK_SCRAM_PASSWORD: "{{resolve:secretsmanager:AmazonMSK_orders:SecretString:password}}"`}}, CheckSecretEnv, deploytmpl.FunctionID, "plain text"},
		{"SCRAM password literal", publisherParams(kafkaconn.AuthTLS, deploytmpl.FormatCloudFormation), [][2]string{{`          MSK_SCRAM_PASSWORD: ""`, `          MSK_SCRAM_PASSWORD: hunter2`}}, CheckSecretEnv, deploytmpl.FunctionID, "plain text"},
	}
}

// TestBrokenTemplates breaks generated templates, one way each, and checks
// that deploy check reports the breakage as an error of the right check
// on the right resource, while the unbroken template has no finding.
func TestBrokenTemplates(t *testing.T) {
	for _, b := range breakages() {
		t.Run(b.name, func(t *testing.T) {
			text := render(t, b.params)
			if fs, _ := Check([]byte(text)); len(fs) != 0 {
				t.Fatalf("the unbroken template has findings: %v", fs)
			}
			for _, e := range b.edits {
				if n := strings.Count(text, e[0]); n != 1 {
					t.Fatalf("%q appears %d times in the template, want once", e[0], n)
				}
				text = strings.Replace(text, e[0], e[1], 1)
			}
			fs, err := Check([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range errorsOf(fs) {
				if f.Check == b.check && f.Resource == b.resource && strings.Contains(f.Why, b.why) {
					if f.Fix == "" || f.Path == "" {
						t.Errorf("finding without a path or fix: %+v", f)
					}
					t.Logf("%s", f)
					return
				}
			}
			t.Errorf("no %s error on %s with %q; findings:\n%v", b.check, b.resource, b.why, fs)
		})
	}
}

// TestBadInput checks what cannot be checked: never a crash, never a
// silent pass.
func TestBadInput(t *testing.T) {
	consumer := render(t, consumerParams(deploytmpl.FormatSAM, "orders-dlt"))
	publisher := render(t, publisherParams(kafkaconn.AuthIAM, deploytmpl.FormatCloudFormation))
	for _, tc := range []struct {
		name     string
		text     string
		parseErr bool
		sev      Severity
		check    string
		resource string
		why      string
	}{
		{name: "not YAML", text: "Resources: [\n  - : :", parseErr: true},
		{name: "empty", text: "", parseErr: true},
		{name: "a list", text: "- a\n- b\n", parseErr: true},
		{name: "no resources", text: "AWSTemplateFormatVersion: \"2010-09-09\"\n", parseErr: true},
		{name: "unknown tag", text: "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: !Reff x\n", parseErr: true},
		{name: "no function", text: "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n", sev: SeverityError, check: CheckTemplate, why: "no Lambda function"},
		{name: "JSON template", text: `{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": "nodejs22.x", "Handler": "bootstrap", "Architectures": ["arm64"]}}}}`,
			sev: SeverityError, check: CheckRuntime, resource: "F", why: "nodejs22.x"},
		{name: "ImportValue cluster ARN", text: strings.Replace(consumer, "      EventSourceArn: !Ref ClusterArn", "      EventSourceArn: !ImportValue shared-cluster-arn", 1),
			sev: SeverityWarning, check: CheckUnresolved, resource: "ConsumerTrigger", why: "Fn::ImportValue"},
		{name: "security group parameter without default", text: strings.Replace(publisher, "          - !Ref FunctionSecurityGroup\n", "          - !Ref ClusterSecurityGroupId\n", 1),
			sev: SeverityWarning, check: CheckEgress, resource: deploytmpl.FunctionID, why: "not a resource of this template"},
		{name: "role outside the template", text: strings.Replace(publisher, "      Role: !GetAtt FunctionRole.Arn", "      Role: !ImportValue shared-role", 1),
			sev: SeverityWarning, check: CheckUnresolved, resource: deploytmpl.FunctionID, why: "the execution role's permissions not checked"},
		{name: "runtime from another stack", text: `{"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {"Runtime": {"Fn::ImportValue": "runtime"}, "Handler": "bootstrap", "Architectures": {"Fn::ImportValue": "arch"}}}}}`,
			sev: SeverityWarning, check: CheckUnresolved, resource: "F", why: "the function's runtime not checked: Fn::ImportValue"},
		{name: "cluster ARN without default", text: strings.Replace(publisher, "    Default: \""+exampleARN+"\"\n", "", 1),
			sev: SeverityWarning, check: CheckIAM, resource: deploytmpl.FunctionID, why: "kafka-cluster actions were not checked"},
		{name: "bootstrap without default", text: strings.Replace(publisher, "          MSK_BOOTSTRAP_SERVERS: !Ref BootstrapServers", "          MSK_BOOTSTRAP_SERVERS: !GetAZs ''", 1),
			sev: SeverityWarning, check: CheckUnresolved, resource: deploytmpl.FunctionID, why: "MSK_BOOTSTRAP_SERVERS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Check([]byte(tc.text))
			if tc.parseErr {
				var pe *ParseError
				if !errors.As(err, &pe) || !errors.Is(err, ErrNotTemplate) {
					t.Fatalf("want a *ParseError, got %v (findings %v)", err, fs)
				}
				t.Logf("%v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.sev == SeverityWarning {
				// What could not be checked is not taken for wrong.
				for _, f := range errorsOf(fs) {
					t.Errorf("an error where a value is unresolved: %s", f)
				}
			}
			for _, f := range fs {
				if f.Severity == tc.sev && f.Check == tc.check && f.Resource == tc.resource && strings.Contains(f.Why, tc.why) {
					t.Logf("%s", f)
					return
				}
			}
			t.Errorf("no %s %s finding on %q with %q; findings:\n%v", tc.sev, tc.check, tc.resource, tc.why, fs)
		})
	}
}

// TestMakefileGOARCH keeps DefaultGOARCH equal to what deploy/Makefile
// builds.
func TestMakefileGOARCH(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nGOARCH = "+DefaultGOARCH+"\n") {
		t.Errorf("deploy/Makefile does not set GOARCH = %s: update DefaultGOARCH", DefaultGOARCH)
	}
}

// FuzzParse feeds the parser and the checks arbitrary text: an error or
// findings, never a panic.
func FuzzParse(f *testing.F) {
	f.Add("Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Handler: !Sub '${AWS::Region}'\n")
	f.Add(`{"Resources": {"F": {"Type": "AWS::Serverless::Function", "Properties": {"Role": {"Fn::GetAtt": ["R", "Arn"]}}}}}`)
	f.Add("Conditions:\n  C: !Equals [!Ref P, x]\nResources:\n  F:\n    Type: AWS::Lambda::Function\n    Condition: C\n    Properties:\n      Runtime: !If [C, a, !Select [0, !Split [',', !Join [',', [a, b]]]]]\n")
	f.Add("a: &x [*x]\n")
	f.Add("Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Role: !GetAtt R.Arn\n      Environment: {Variables: {MSK_BOOTSTRAP_SERVERS: 'b:9098', MSK_TOPIC: t}}\n      VpcConfig: {SecurityGroupIds: [!Ref G]}\n" +
		"  G:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      SecurityGroupEgress: [{IpProtocol: tcp, FromPort: 443, ToPort: 443}]\n" +
		"  R:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies: [{PolicyDocument: {Statement: [{Effect: Allow, Action: '*', Resource: !Sub 'arn:${AWS::Partition}:kafka:*'}]}}]\n" +
		"  M:\n    Type: AWS::Lambda::EventSourceMapping\n    Properties: {FunctionName: !Ref F, EventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/c/u', Topics: [t], StartingPosition: LATEST}\n")
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := Check([]byte(s))
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		for _, x := range fs {
			if x.Why == "" || x.Fix == "" || x.Check == "" {
				t.Fatalf("incomplete finding: %+v", x)
			}
		}
	})
}
