package iampolicy

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// awsLambdaMSKExecutionRole is the AWS managed policy's action list
// (version v2, docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaMSKExecutionRole.html),
// all on "*". GenerateESM grants the same actions but kafka:DescribeCluster
// (Lambda needs one of DescribeCluster and DescribeClusterV2, and plans to
// drop the former), each on the narrowest resource.
var awsLambdaMSKExecutionRole = []string{
	"kafka:DescribeCluster", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers",
	"ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs",
	"ec2:DeleteNetworkInterface", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
	"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
}

func TestGenerateESM(t *testing.T) {
	c := testClusterARN(t)
	w := ESMWorkload{Topics: []string{"orders"}, Group: "6d9bce8e-836b-442c-8070-74e77903c815", OnFailureTopic: "orders-failed", FunctionName: "order-consumer"}
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	p := GenerateESM(c, w)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := Parse(b)
	if err != nil {
		t.Fatalf("generated JSON does not parse: %v\n%s", err, b)
	}
	const pre = "arn:aws:kafka:us-east-1:123456789012:"
	const u = "/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2"
	want := []struct {
		sid       string
		actions   []string
		resources []string
	}{
		{"Cluster", []string{"kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"}, []string{pre + "cluster" + u}},
		{"ReadTopics", []string{"kafka-cluster:DescribeTopic", "kafka-cluster:ReadData"}, []string{pre + "topic" + u + "/orders"}},
		{"WriteTopics", []string{"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"}, []string{pre + "topic" + u + "/orders-failed"}},
		{"ConsumerGroups", []string{"kafka-cluster:AlterGroup", "kafka-cluster:DescribeGroup"}, []string{pre + "group" + u + "/6d9bce8e-836b-442c-8070-74e77903c815"}},
		{"ClusterControlPlane", []string{"kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers"}, []string{pre + "cluster" + u}},
		{"VpcNetworkInterfaces", []string{"ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"}, []string{"arn:aws:ec2:us-east-1:123456789012:*"}},
		{"VpcDescribe", []string{"ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"}, []string{"*"}},
		{"Logs", []string{"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}, []string{"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/order-consumer:*"}},
	}
	if len(parsed.Statements) != len(want) {
		t.Fatalf("%d statements, want %d:\n%s", len(parsed.Statements), len(want), b)
	}
	var granted []string
	for i, st := range parsed.Statements {
		w := want[i]
		if st.Sid != w.sid || st.Effect != Allow || !slices.Equal(st.Action, w.actions) || !slices.Equal(st.Resource, w.resources) {
			t.Errorf("statement %d:\n got %s %v on %v\nwant %s %v on %v", i+1, st.Sid, st.Action, st.Resource, w.sid, w.actions, w.resources)
		}
		granted = append(granted, st.Action...)
	}
	// The managed policy's actions are all granted, but DescribeCluster v1.
	for _, a := range awsLambdaMSKExecutionRole {
		if has := slices.Contains(granted, a); has == (a == "kafka:DescribeCluster") {
			t.Errorf("%s granted: %v", a, has)
		}
	}
	// Check understands the kafka-cluster part.
	if f := Check([]*Policy{parsed}, c, w.Workload()); len(f) != 0 {
		t.Errorf("Check: %v", f)
	}
	// Without a function name, every function's log group; without an
	// on-failure topic, no write statement.
	p2 := GenerateESM(c, ESMWorkload{Topics: []string{"orders"}, Group: "g"})
	for _, st := range p2.Statements {
		if st.Sid == "WriteTopics" {
			t.Error("a write statement without an on-failure topic")
		}
		if st.Sid == "Logs" && st.Resource[0] != "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/*:*" {
			t.Errorf("logs resource %v", st.Resource)
		}
	}
}

// TestGenerateESMRemoveOne: taking any kafka-cluster action out of the
// policy makes Check report exactly it, so none is superfluous.
func TestGenerateESMRemoveOne(t *testing.T) {
	c := testClusterARN(t)
	w := ESMWorkload{Topics: []string{"orders"}, Group: "g", OnFailureTopic: "dlt"}
	p := GenerateESM(c, w)
	n := 0
	for si, st := range p.Statements {
		for ai, a := range st.Action {
			if !strings.HasPrefix(a, ServicePrefix+":") {
				continue
			}
			n++
			q := clonePolicy(p)
			q.Statements[si].Action = slices.Delete(slices.Clone(st.Action), ai, ai+1)
			got := Check([]*Policy{q}, c, w.Workload())
			if len(got) != 1 || string(got[0].Action) != a {
				t.Errorf("without %s in %s: findings %v", a, st.Sid, got)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d kafka-cluster grants, want 8", n)
	}
}

func TestESMWorkloadValidate(t *testing.T) {
	for _, tt := range []struct {
		w    ESMWorkload
		want string
	}{
		{ESMWorkload{Group: "g"}, "no topic"},
		{ESMWorkload{Topics: []string{""}, Group: "g"}, "topic 1 is empty"},
		{ESMWorkload{Topics: []string{"t"}}, "no consumer group"},
		{ESMWorkload{Topics: []string{"t"}, Group: "g", OnFailureTopic: "t"}, "also a source topic"},
		{ESMWorkload{Topics: []string{"t"}, Group: "g", FunctionName: "arn:aws:lambda:us-east-1:1:function:f"}, "plain function name"},
	} {
		err := tt.w.Validate()
		if !errors.Is(err, ErrInvalidESMWorkload) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.w, err, tt.want)
		}
	}
}

func ExampleGenerateESM() {
	cluster, err := ParseClusterARN("arn:aws:kafka:eu-west-1:123456789012:cluster/events/4f3c2b1a-3")
	if err != nil {
		panic(err)
	}
	w := ESMWorkload{Topics: []string{"orders"}, Group: "order-consumer-esm", OnFailureTopic: "orders-failed"}
	for _, st := range GenerateESM(cluster, w).Statements {
		fmt.Println(st.Sid, st.Action, st.Resource)
	}
	// Output:
	// Cluster [kafka-cluster:Connect kafka-cluster:DescribeClusterDynamicConfiguration] [arn:aws:kafka:eu-west-1:123456789012:cluster/events/4f3c2b1a-3]
	// ReadTopics [kafka-cluster:DescribeTopic kafka-cluster:ReadData] [arn:aws:kafka:eu-west-1:123456789012:topic/events/4f3c2b1a-3/orders]
	// WriteTopics [kafka-cluster:DescribeTopic kafka-cluster:WriteData] [arn:aws:kafka:eu-west-1:123456789012:topic/events/4f3c2b1a-3/orders-failed]
	// ConsumerGroups [kafka-cluster:AlterGroup kafka-cluster:DescribeGroup] [arn:aws:kafka:eu-west-1:123456789012:group/events/4f3c2b1a-3/order-consumer-esm]
	// ClusterControlPlane [kafka:DescribeClusterV2 kafka:GetBootstrapBrokers] [arn:aws:kafka:eu-west-1:123456789012:cluster/events/4f3c2b1a-3]
	// VpcNetworkInterfaces [ec2:CreateNetworkInterface ec2:DeleteNetworkInterface] [arn:aws:ec2:eu-west-1:123456789012:*]
	// VpcDescribe [ec2:DescribeNetworkInterfaces ec2:DescribeSecurityGroups ec2:DescribeSubnets ec2:DescribeVpcs] [*]
	// Logs [logs:CreateLogGroup logs:CreateLogStream logs:PutLogEvents] [arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/*:*]
}

// TestCheckESM: CheckESM finds, by part, whatever an execution role lacks
// of what an MSK trigger needs, not only the kafka-cluster actions.
func TestCheckESM(t *testing.T) {
	c := testClusterARN(t)
	w := ESMWorkload{Topics: []string{"orders"}, Group: "esm-1", FunctionName: "order-consumer"}
	parse := func(t *testing.T, doc string) *Policy {
		t.Helper()
		p, err := Parse([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	managed := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":` + string(mustJSON(t, awsLambdaMSKExecutionRole)) + `,"Resource":"*"}]}`
	kafkaOnly, err := json.Marshal(Generate(c, w.Workload()))
	if err != nil {
		t.Fatal(err)
	}
	withoutV2 := strings.Replace(managed, `"kafka:DescribeClusterV2",`, "", 1)
	denyEC2 := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Sid":"NoNetwork","Effect":"Deny","Action":"ec2:Create*","Resource":"*"}]}`
	otherLogs := string(mustJSON(t, GenerateESM(c, ESMWorkload{Topics: w.Topics, Group: w.Group, FunctionName: "other"})))

	tests := []struct {
		name     string
		policies []string
		// missing counts the findings per part; warn is the number with
		// AllowedBy set.
		missing map[ESMPart]int
		warn    int
	}{
		{"generated", []string{string(mustJSON(t, GenerateESM(c, w)))}, nil, 0},
		{"managed policy and kafka-cluster", []string{managed, string(kafkaOnly)}, nil, 0},
		{"kafka-cluster statements only", []string{string(kafkaOnly)}, map[ESMPart]int{ESMControlPlane: 2, ESMNetworking: 8, ESMLogs: 3}, 0},
		{"managed policy only", []string{managed}, map[ESMPart]int{ESMKafkaDataPlane: 6}, 0},
		{"DescribeCluster without V2", []string{withoutV2, string(kafkaOnly)}, map[ESMPart]int{ESMControlPlane: 1}, 1},
		{"ec2:Create* denied", []string{denyEC2}, map[ESMPart]int{ESMNetworking: 3}, 0},
		{"another function's log group", []string{otherLogs}, map[ESMPart]int{ESMLogs: 3}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pols []*Policy
			for _, d := range tt.policies {
				pols = append(pols, parse(t, d))
			}
			fs := CheckESM(pols, c, w)
			got := map[ESMPart]int{}
			warn := 0
			last := -1
			for _, f := range fs {
				got[f.Part]++
				if !f.Missing() {
					warn++
					if f.Action != kafkaDescribeClusterV2 || f.AllowedBy != kafkaDescribeCluster {
						t.Errorf("warning %v allowed by %q", f, f.AllowedBy)
					}
				}
				i := slices.Index(ESMParts(), f.Part)
				if i < last {
					t.Errorf("findings not grouped by part in ESMParts' order: %v", fs)
				}
				last = i
				if tt.name == "ec2:Create* denied" && !f.ExplicitlyDenied() {
					t.Errorf("%v: not explicitly denied", f)
				}
				t.Logf("%s: %v", f.Part, f)
			}
			if len(got) == 0 {
				got = nil
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.missing) || warn != tt.warn {
				t.Errorf("findings per part %v (%d warnings), want %v (%d)", got, warn, tt.missing, tt.warn)
			}
		})
	}
	// The Kafka data plane findings are Check's.
	if got, want := len(CheckESM([]*Policy{parse(t, managed)}, c, w)), len(Check([]*Policy{parse(t, managed)}, c, w.Workload())); got != want {
		t.Errorf("CheckESM of the managed policy: %d findings, Check %d", got, want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
