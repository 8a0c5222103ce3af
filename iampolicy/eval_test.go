package iampolicy

import (
	"strings"
	"testing"
)

const (
	testCluster = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2"
	testTopic   = "arn:aws:kafka:us-east-1:123456789012:topic/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2/orders"
)

func TestWildcardMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"?", "", false},
		{"?", "a", true},
		{"?", "é", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*c*", "abcd", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"**", "x", true},
		{"abc", "ABC", false},
		{"a*", "a", true},
		{"*a", "bab", false},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+"~"+tt.s, func(t *testing.T) {
			if got := wildcardMatch(tt.pattern, tt.s); got != tt.want {
				t.Errorf("wildcardMatch(%q, %q) = %v", tt.pattern, tt.s, got)
			}
		})
	}
}

func TestMatchActionAndResource(t *testing.T) {
	actions := []struct {
		pattern, action string
		want            bool
	}{
		{"kafka-cluster:WriteData", "kafka-cluster:WriteData", true},
		{"kafka-cluster:writedata", "kafka-cluster:WriteData", true},
		{"KAFKA-CLUSTER:*", "kafka-cluster:ReadData", true},
		{"kafka-cluster:*Topic*", "kafka-cluster:AlterTopicDynamicConfiguration", true},
		{"kafka-cluster:*Topic", "kafka-cluster:DescribeTopicDynamicConfiguration", false},
		{"kafka-cluster:Describe????", "kafka-cluster:DescribeTopic", false},
		{"kafka-cluster:Describe?????", "kafka-cluster:DescribeTopic", true},
		{"kafka:*", "kafka-cluster:Connect", false},
		{"*", "kafka-cluster:Connect", true},
	}
	for _, tt := range actions {
		t.Run("action "+tt.pattern, func(t *testing.T) {
			if got := MatchAction(tt.pattern, tt.action); got != tt.want {
				t.Errorf("MatchAction(%q, %q) = %v", tt.pattern, tt.action, got)
			}
		})
	}
	resources := []struct {
		pattern, resource string
		want              bool
	}{
		{"*", testTopic, true},
		{testTopic, testTopic, true},
		{strings.ToUpper(testTopic), testTopic, false}, // case-sensitive
		{"arn:aws:kafka:us-east-1:123456789012:topic/demo/*/orders", testTopic, true},
		{"arn:aws:kafka:us-east-1:123456789012:topic/demo/*", testTopic, true},
		{"arn:aws:kafka:us-east-1:123456789012:topic/demo/*/order?", testTopic, true},
		{"arn:aws:kafka:us-east-1:123456789012:topic/demo/*/Orders", testTopic, false},
		{"arn:aws:kafka:*:*:topic/*", testTopic, true},
		{"arn:aws:kafka:us-west-2:*:topic/*", testTopic, false},
		{"arn:aws:kafka:*:123456789012:*", testTopic, true},
		{"arn:aws:kafka:us-east-1:123456789012:group/*", testTopic, false},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/demo/*", testCluster, true},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/demo/*", testTopic, false},
		// A wildcard does not span the colons between ARN segments.
		{"arn:aws:kafka:*:1*:*", "arn:aws:kafka:us-east-1:999999999999:x:1y", false},
		{"arn:aws:kafka:us-*:*:topic/*", testTopic, true},
		// Patterns that are not 6-segment ARNs (Parse rejects them in
		// policies) are matched as whole strings.
		{"arn:aws:kafka:*", testTopic, true},
	}
	for _, tt := range resources {
		t.Run("resource "+tt.pattern, func(t *testing.T) {
			if got := MatchResource(tt.pattern, tt.resource); got != tt.want {
				t.Errorf("MatchResource(%q, %q) = %v", tt.pattern, tt.resource, got)
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	p := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Connect", "Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "arn:aws:kafka:us-east-1:123456789012:cluster/demo/*"},
		{"Sid": "Topics", "Effect": "Allow", "Action": ["kafka-cluster:*Topic", "kafka-cluster:WriteData", "kafka-cluster:ReadData"], "Resource": "arn:aws:kafka:us-east-1:123456789012:topic/demo/*"},
		{"Sid": "NoSecret", "Effect": "Deny", "Action": "kafka-cluster:*", "Resource": "arn:aws:kafka:us-east-1:123456789012:topic/demo/*/secret-*"},
		{"Sid": "NoDelete", "Effect": "Deny", "Action": "kafka-cluster:DeleteTopic", "Resource": "*"},
		{"Sid": "OnlyOwnGroups", "Effect": "Allow", "Action": "kafka-cluster:*Group", "NotResource": "arn:aws:kafka:us-east-1:123456789012:group/demo/*/admin-*"},
		{"Sid": "AllButAlter", "Effect": "Allow", "NotAction": ["kafka-cluster:Alter*", "kafka-cluster:Delete*"], "Resource": "arn:aws:kafka:us-east-1:123456789012:transactional-id/*"}
	]}`)
	c, err := ParseClusterARN(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		action   Action
		resource string
		want     Outcome
		sid      string
		stmt     int
	}{
		{"allow connect", Connect, c.String(), Allowed, "Connect", 1},
		{"action case-insensitive", Action("KAFKA-CLUSTER:connect"), c.String(), Allowed, "Connect", 1},
		{"connect other cluster", Connect, "arn:aws:kafka:us-east-1:123456789012:cluster/other/x", ImplicitDeny, "", 0},
		{"wildcard action", DescribeTopic, c.Topic("orders"), Allowed, "Topics", 2},
		{"write", WriteData, c.Topic("orders"), Allowed, "Topics", 2},
		{"not covered", AlterTopicDynamicConfiguration, c.Topic("orders"), ImplicitDeny, "", 0},
		{"deny wins over allow", WriteData, c.Topic("secret-keys"), ExplicitDeny, "NoSecret", 3},
		{"deny anywhere wins", DeleteTopic, c.Topic("orders"), ExplicitDeny, "NoDelete", 4},
		{"deny with nothing allowing", DeleteTopic, c.Group("g"), ExplicitDeny, "NoDelete", 4},
		{"notresource allows others", AlterGroup, c.Group("app"), Allowed, "OnlyOwnGroups", 5},
		{"notresource excludes", AlterGroup, c.Group("admin-x"), ImplicitDeny, "", 0},
		{"notaction allows others", DescribeTransactionalId, c.TransactionalID("tx"), Allowed, "AllButAlter", 6},
		{"notaction excludes", AlterTransactionalId, c.TransactionalID("tx"), ImplicitDeny, "", 0},
		{"notaction allows other services", Action("s3:GetObject"), c.TransactionalID("tx"), Allowed, "AllButAlter", 6},
		{"other service", Action("s3:GetObject"), c.Topic("orders"), ImplicitDeny, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := p.Evaluate(string(tt.action), tt.resource)
			if d.Outcome != tt.want || d.Sid != tt.sid || d.Statement != tt.stmt {
				t.Errorf("got %v (sid %q, statement %d), want %v (sid %q, statement %d)", d.Outcome, d.Sid, d.Statement, tt.want, tt.sid, tt.stmt)
			}
			if d.Allowed() != (tt.want == Allowed) {
				t.Errorf("Allowed() = %v", d.Allowed())
			}
			if d.Action != string(tt.action) || d.Resource != tt.resource {
				t.Errorf("decision lost the request: %+v", d)
			}
			s := d.String()
			if !strings.Contains(s, tt.want.String()) || (tt.sid != "" && !strings.Contains(s, `"`+tt.sid+`"`)) {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

func TestEvaluateAll(t *testing.T) {
	allow := mustParse(t, `{"Statement": {"Sid": "All", "Effect": "Allow", "Action": "kafka-cluster:*", "Resource": "*"}}`)
	deny := mustParse(t, `{"Id": "guard", "Statement": [
		{"Sid": "X", "Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "*"},
		{"Sid": "NoWrite", "Effect": "Deny", "Action": "kafka-cluster:WriteData", "Resource": "*"}]}`)
	set := []*Policy{allow, nil, deny}

	d := EvaluateAll(set, string(WriteData), testTopic)
	if d.Outcome != ExplicitDeny || d.Policy != 2 || d.PolicyID != "guard" || d.Statement != 2 || d.Sid != "NoWrite" {
		t.Errorf("deny in a later policy: %+v", d)
	}
	if want := `policy 3 ("guard") statement 2 ("NoWrite")`; d.StatementRef() != want {
		t.Errorf("StatementRef = %q, want %q", d.StatementRef(), want)
	}
	d = EvaluateAll(set, string(Connect), testCluster)
	if d.Outcome != Allowed || d.Policy != 0 || d.Sid != "All" {
		t.Errorf("first allow: %+v", d)
	}
	if want := `policy 1 statement 1 ("All")`; d.StatementRef() != want {
		t.Errorf("StatementRef = %q, want %q", d.StatementRef(), want)
	}
	d = EvaluateAll(nil, string(Connect), testCluster)
	if d.Outcome != ImplicitDeny || d.StatementRef() != "" {
		t.Errorf("no policies: %+v", d)
	}
	if !strings.Contains(d.String(), "implicitly denied") {
		t.Errorf("String() = %q", d.String())
	}
	// A single policy does not name itself.
	d = allow.Evaluate(string(Connect), testCluster)
	if want := `statement 1 ("All")`; d.StatementRef() != want {
		t.Errorf("StatementRef = %q, want %q", d.StatementRef(), want)
	}
}

// TestConcurrentEvaluate runs under -race: evaluation and marshaling only
// read the policy.
func TestConcurrentEvaluate(t *testing.T) {
	c := testClusterARN(t)
	w := Workload{Produce: []string{"a"}, Consume: []string{"b"}, Groups: []string{"g"}, Idempotent: true}
	p := Generate(c, w)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 200 {
				if f := Check([]*Policy{p}, c, w); len(f) != 0 {
					t.Errorf("findings: %v", f)
					return
				}
				if _, err := p.MarshalJSON(); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
}
