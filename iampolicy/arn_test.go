package iampolicy

import (
	"errors"
	"strings"
	"testing"
)

func TestParseClusterARN(t *testing.T) {
	c, err := ParseClusterARN(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	want := ClusterARN{Partition: "aws", Region: "us-east-1", Account: "123456789012", Name: "demo", UUID: "7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2"}
	if c != want {
		t.Fatalf("got %+v", c)
	}
	if c.String() != testCluster {
		t.Errorf("String() = %q", c.String())
	}
	if c.Topic("orders") != testTopic {
		t.Errorf("Topic = %q", c.Topic("orders"))
	}
	const prefix = "arn:aws:kafka:us-east-1:123456789012:"
	if g := c.Group("app"); g != prefix+"group/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2/app" {
		t.Errorf("Group = %q", g)
	}
	if x := c.TransactionalID("tx-1"); x != prefix+"transactional-id/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2/tx-1" {
		t.Errorf("TransactionalID = %q", x)
	}
	if r := c.Resource(ResourceCluster, "ignored"); r != testCluster {
		t.Errorf("Resource(cluster) = %q", r)
	}
	// Zero Partition means aws; other partitions are kept.
	if s := (ClusterARN{Region: "r", Account: "a", Name: "n", UUID: "u"}).String(); s != "arn:aws:kafka:r:a:cluster/n/u" {
		t.Errorf("zero partition: %q", s)
	}
	cn, err := ParseClusterARN("arn:aws-cn:kafka:cn-north-1:123456789012:cluster/c/u-1")
	if err != nil || cn.Partition != "aws-cn" || !strings.HasPrefix(cn.Topic("t"), "arn:aws-cn:kafka:cn-north-1:") {
		t.Errorf("aws-cn: %+v %v", cn, err)
	}
}

func TestParseClusterARNErrors(t *testing.T) {
	tests := []struct {
		in, field string
	}{
		{"", "ARN"},
		{"arn:aws:kafka:us-east-1:123456789012", "ARN"},
		{"urn:aws:kafka:us-east-1:123456789012:cluster/a/b", "prefix"},
		{"arn::kafka:us-east-1:123456789012:cluster/a/b", "partition"},
		{"arn:gcp:kafka:us-east-1:123456789012:cluster/a/b", "partition"},
		{"arn:aws:kafka-cluster:us-east-1:123456789012:cluster/a/b", "service"},
		{"arn:aws:kafka::123456789012:cluster/a/b", "region"},
		{"arn:aws:kafka:US_EAST:123456789012:cluster/a/b", "region"},
		{"arn:aws:kafka:us-east-1:1234:cluster/a/b", "account"},
		{"arn:aws:kafka:us-east-1:12345678901x:cluster/a/b", "account"},
		{"arn:aws:kafka:us-east-1:123456789012:topic/a/b/c", "resource"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster", "resource"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/a", "resource"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster//b", "cluster name"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/*/b", "cluster name"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/a/", "cluster uuid"},
		{"arn:aws:kafka:us-east-1:123456789012:cluster/a/b/c", "cluster uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseClusterARN(tt.in)
			var ae *ARNError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *ARNError", err)
			}
			if ae.Field != tt.field {
				t.Errorf("Field = %q, want %q (%v)", ae.Field, tt.field, err)
			}
			if !errors.Is(err, ErrInvalidARN) {
				t.Errorf("%v does not wrap ErrInvalidARN", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("message %q does not name %q", err, tt.field)
			}
		})
	}
}

func TestCatalog(t *testing.T) {
	all := Actions()
	if len(all) != 19 {
		t.Fatalf("%d actions", len(all))
	}
	for _, a := range all {
		if !a.Known() || a.ResourceType() == "" {
			t.Errorf("%s: not in catalog", a)
		}
		if !strings.HasPrefix(string(a), ServicePrefix+":") {
			t.Errorf("%s: bad prefix", a)
		}
		if a != Connect && !containsAction(a.Requires(), Connect) {
			t.Errorf("%s does not require Connect", a)
		}
		for _, r := range a.Requires() {
			if !r.Known() || r == a {
				t.Errorf("%s requires %s", a, r)
			}
		}
		if got, ok := LookupAction(strings.ToLower(a.Name())); !ok || got != a {
			t.Errorf("LookupAction(%q) = %q, %v", strings.ToLower(a.Name()), got, ok)
		}
	}
	deps := []struct {
		a    Action
		rt   ResourceType
		want []Action
	}{
		{Connect, ResourceCluster, nil},
		{WriteData, ResourceTopic, []Action{Connect, DescribeTopic}},
		{ReadData, ResourceTopic, []Action{Connect, DescribeTopic, AlterGroup}},
		{WriteDataIdempotently, ResourceCluster, []Action{Connect, WriteData}},
		{AlterTransactionalId, ResourceTransactionalID, []Action{Connect, DescribeTransactionalId, WriteData}},
		{AlterGroup, ResourceGroup, []Action{Connect, DescribeGroup}},
		{AlterCluster, ResourceCluster, []Action{Connect, DescribeCluster}},
	}
	for _, d := range deps {
		t.Run(d.a.Name(), func(t *testing.T) {
			if d.a.ResourceType() != d.rt {
				t.Errorf("ResourceType = %q, want %q", d.a.ResourceType(), d.rt)
			}
			got := d.a.Requires()
			if len(got) != len(d.want) {
				t.Fatalf("Requires = %v, want %v", got, d.want)
			}
			for _, w := range d.want {
				if !containsAction(got, w) {
					t.Errorf("Requires = %v, missing %v", got, w)
				}
			}
		})
	}
	if _, ok := LookupAction("kafka-cluster:Nope"); ok {
		t.Error("LookupAction found an unknown action")
	}
	if Action("kafka-cluster:Nope").Known() || Action("x").Requires() != nil {
		t.Error("unknown action treated as known")
	}
}

func containsAction(l []Action, a Action) bool {
	for _, x := range l {
		if x == a {
			return true
		}
	}
	return false
}
