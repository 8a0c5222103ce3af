package iampolicy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func testClusterARN(t testing.TB) ClusterARN {
	t.Helper()
	c, err := ParseClusterARN(testCluster)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var workloads = []struct {
	name string
	w    Workload
}{
	{"empty", Workload{}},
	{"producer", Workload{Produce: []string{"orders"}}},
	{"idempotent producer", Workload{Produce: []string{"orders", "audit"}, Idempotent: true}},
	{"msklink Lambda function", Workload{Produce: []string{"orders", "audit"}, Idempotent: true, DescribeTopicConfig: true}},
	{"consumer", Workload{Consume: []string{"orders"}, Groups: []string{"billing"}}},
	{"consumer without group", Workload{Consume: []string{"orders"}}},
	{"transactional", Workload{Produce: []string{"out"}, Consume: []string{"in"}, Groups: []string{"g"}, Idempotent: true, TransactionalIDs: []string{"tx-1", "tx-2"}}},
	{"same topic both ways", Workload{Produce: []string{"t", "t"}, Consume: []string{"t"}, Groups: []string{"g1", "g2"}}},
	{"prefix patterns", Workload{Produce: []string{"orders-*"}, Groups: []string{"app-*"}}},
	{"event source mapping", ESMWorkload{Topics: []string{"orders"}, Group: "esm-uuid", OnFailureTopic: "orders-dlt"}.Workload()},
}

func TestRequirements(t *testing.T) {
	c := testClusterARN(t)
	reqs := Requirements(c, Workload{Produce: []string{"out"}, Consume: []string{"in"}, Groups: []string{"g"}, Idempotent: true, TransactionalIDs: []string{"tx"}})
	var got []string
	for _, r := range reqs {
		got = append(got, r.Action.Name()+" "+strings.TrimPrefix(r.Resource, "arn:aws:kafka:us-east-1:123456789012:"))
		if r.Why == "" {
			t.Errorf("%v has no reason", r)
		}
	}
	const u = "/demo/7c5d1d2e-aaaa-bbbb-cccc-0123456789ab-2"
	want := []string{
		"Connect cluster" + u,
		"WriteDataIdempotently cluster" + u,
		"DescribeTopic topic" + u + "/in",
		"ReadData topic" + u + "/in",
		"DescribeTopic topic" + u + "/out",
		"WriteData topic" + u + "/out",
		"DescribeGroup group" + u + "/g",
		"AlterGroup group" + u + "/g",
		"DescribeTransactionalId transactional-id" + u + "/tx",
		"AlterTransactionalId transactional-id" + u + "/tx",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Every requirement's required actions of the same resource type are
	// also required on the same resource (the dependency closure).
	for _, w := range workloads {
		reqs := Requirements(c, w.w)
		have := map[string]bool{}
		for _, r := range reqs {
			have[string(r.Action)+" "+r.Resource] = true
		}
		for _, r := range reqs {
			for _, dep := range r.Action.Requires() {
				if dep.ResourceType() == r.Action.ResourceType() && !have[string(dep)+" "+r.Resource] {
					t.Errorf("%s: %s needs %s on the same resource", w.name, r, dep)
				}
				if dep == Connect && !have[string(Connect)+" "+c.String()] {
					t.Errorf("%s: no Connect", w.name)
				}
			}
		}
	}
}

// TestGenerateCheckRoundTrip: the generated policy passes Check for its
// workload; removing any one action from any statement makes Check report
// exactly that action on exactly that statement's resources, as implicitly
// missing; denying one requirement makes Check report exactly that one, as
// explicitly denied by the new statement.
func TestGenerateCheckRoundTrip(t *testing.T) {
	c := testClusterARN(t)
	for _, tt := range workloads {
		t.Run(tt.name, func(t *testing.T) {
			p := Generate(c, tt.w)
			if err := p.Validate(); err != nil {
				t.Fatalf("generated policy is invalid: %v", err)
			}
			// Through JSON, as a user would deploy it.
			b, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(b)
			if err != nil {
				t.Fatalf("generated JSON does not parse: %v\n%s", err, b)
			}
			if f := Check([]*Policy{parsed}, c, tt.w); len(f) != 0 {
				t.Fatalf("generated policy fails Check: %v", f)
			}
			// Least privilege: every allowed (action, resource) pair is a requirement.
			reqs := Requirements(c, tt.w)
			need := map[string]bool{}
			for _, r := range reqs {
				need[string(r.Action)+" "+r.Resource] = true
			}
			for _, st := range p.Statements {
				for _, a := range st.Action {
					for _, r := range st.Resource {
						if !need[a+" "+r] {
							t.Errorf("statement %q grants %s on %s, which the workload does not need", st.Sid, a, r)
						}
					}
				}
			}

			for si, st := range p.Statements {
				for ai, a := range st.Action {
					q := clonePolicy(p)
					q.Statements[si].Action = slices.Delete(slices.Clone(st.Action), ai, ai+1)
					if len(q.Statements[si].Action) == 0 {
						q.Statements = slices.Delete(q.Statements, si, si+1)
					}
					got := Check([]*Policy{q}, c, tt.w)
					var gotKeys []string
					for _, f := range got {
						if f.ExplicitlyDenied() || f.Decision.Outcome != ImplicitDeny {
							t.Errorf("finding %v is not an implicit deny", f)
						}
						gotKeys = append(gotKeys, string(f.Action)+" "+f.Resource)
					}
					var want []string
					for _, r := range st.Resource {
						want = append(want, a+" "+r)
					}
					slices.Sort(gotKeys)
					slices.Sort(want)
					if !slices.Equal(gotKeys, want) {
						t.Errorf("removing %s from %q: findings %v, want %v", a, st.Sid, gotKeys, want)
					}
				}
			}

			for _, r := range reqs {
				deny := &Policy{ID: "guard", Statements: []Statement{{Sid: "Guard", Effect: Deny, Action: []string{string(r.Action)}, Resource: []string{r.Resource}}}}
				got := Check([]*Policy{p, deny}, c, tt.w)
				if len(got) != 1 {
					t.Errorf("denying %v: %d findings %v", r, len(got), got)
					continue
				}
				f := got[0]
				if f.Requirement != r || !f.ExplicitlyDenied() || f.Decision.Sid != "Guard" || f.Decision.Policy != 1 {
					t.Errorf("denying %v: finding %+v", r, f)
				}
				if s := f.String(); !strings.Contains(s, "explicitly denied") || !strings.Contains(s, `"Guard"`) {
					t.Errorf("finding String() = %q", s)
				}
			}
		})
	}
}

func clonePolicy(p *Policy) *Policy {
	q := *p
	q.Statements = slices.Clone(p.Statements)
	return &q
}

func TestCheckReportsMissing(t *testing.T) {
	c := testClusterARN(t)
	p := mustParse(t, `{"Statement": [
		{"Sid": "Connect", "Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "*"},
		{"Sid": "Write", "Effect": "Allow", "Action": "kafka-cluster:WriteData", "Resource": "*"}]}`)
	got := Check([]*Policy{p}, c, Workload{Produce: []string{"orders"}})
	if len(got) != 1 || got[0].Action != DescribeTopic || got[0].Resource != c.Topic("orders") || got[0].ExplicitlyDenied() {
		t.Fatalf("got %v", got)
	}
	if s := got[0].String(); !strings.Contains(s, "not allowed by any statement") || !strings.Contains(s, `produce to topic "orders"`) {
		t.Errorf("String() = %q", s)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	c := testClusterARN(t)
	w := Workload{Produce: []string{"b", "a"}, Consume: []string{"c", "a"}, Groups: []string{"z", "y"}, Idempotent: true, TransactionalIDs: []string{"t2", "t1"}}
	first, err := json.Marshal(Generate(c, w))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		b, _ := json.Marshal(Generate(c, w))
		if string(b) != string(first) {
			t.Fatalf("output differs:\n%s\n%s", first, b)
		}
	}
	var sids []string
	for _, st := range Generate(c, w).Statements {
		sids = append(sids, st.Sid)
	}
	// a: read+write, b: write, c: read => three topic statements.
	want := []string{"Cluster", "ReadTopics", "ReadWriteTopics", "WriteTopics", "ConsumerGroups", "TransactionalIds"}
	if !slices.Equal(sids, want) {
		t.Errorf("Sids %v, want %v", sids, want)
	}
}

func ExampleGenerate() {
	cluster, err := ParseClusterARN("arn:aws:kafka:eu-west-1:123456789012:cluster/events/4f3c2b1a-3")
	if err != nil {
		panic(err)
	}
	w := Workload{
		Produce:    []string{"orders"},
		Consume:    []string{"payments"},
		Groups:     []string{"order-service"},
		Idempotent: true,
	}
	policy := Generate(cluster, w)
	out, err := json.MarshalIndent(policy, "", "  ")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(out))

	// The policy grants everything the workload needs, and nothing more.
	fmt.Println("findings:", len(Check([]*Policy{policy}, cluster, w)))
	fmt.Println(policy.Evaluate(string(ReadData), cluster.Topic("orders")))
	// Output:
	// {
	//   "Version": "2012-10-17",
	//   "Statement": [
	//     {
	//       "Sid": "Cluster",
	//       "Effect": "Allow",
	//       "Action": [
	//         "kafka-cluster:Connect",
	//         "kafka-cluster:WriteDataIdempotently"
	//       ],
	//       "Resource": [
	//         "arn:aws:kafka:eu-west-1:123456789012:cluster/events/4f3c2b1a-3"
	//       ]
	//     },
	//     {
	//       "Sid": "ReadTopics",
	//       "Effect": "Allow",
	//       "Action": [
	//         "kafka-cluster:DescribeTopic",
	//         "kafka-cluster:ReadData"
	//       ],
	//       "Resource": [
	//         "arn:aws:kafka:eu-west-1:123456789012:topic/events/4f3c2b1a-3/payments"
	//       ]
	//     },
	//     {
	//       "Sid": "WriteTopics",
	//       "Effect": "Allow",
	//       "Action": [
	//         "kafka-cluster:DescribeTopic",
	//         "kafka-cluster:WriteData"
	//       ],
	//       "Resource": [
	//         "arn:aws:kafka:eu-west-1:123456789012:topic/events/4f3c2b1a-3/orders"
	//       ]
	//     },
	//     {
	//       "Sid": "ConsumerGroups",
	//       "Effect": "Allow",
	//       "Action": [
	//         "kafka-cluster:AlterGroup",
	//         "kafka-cluster:DescribeGroup"
	//       ],
	//       "Resource": [
	//         "arn:aws:kafka:eu-west-1:123456789012:group/events/4f3c2b1a-3/order-service"
	//       ]
	//     }
	//   ]
	// }
	// findings: 0
	// kafka-cluster:ReadData on arn:aws:kafka:eu-west-1:123456789012:topic/events/4f3c2b1a-3/orders: implicitly denied (no statement allows it)
}

// TestDescribeTopicConfig: the topics' configuration (DescribeConfigs on a
// topic) needs DescribeTopicDynamicConfiguration on each produced and
// consumed topic, and nothing else more.
func TestDescribeTopicConfig(t *testing.T) {
	c := testClusterARN(t)
	w := Workload{Produce: []string{"orders"}, Consume: []string{"events"}, Groups: []string{"g"}}
	base := Requirements(c, w)
	w.DescribeTopicConfig = true
	with := Requirements(c, w)
	var extra []string
	for _, r := range with {
		if !slices.Contains(base, r) {
			extra = append(extra, string(r.Action)+" "+r.Resource)
		}
	}
	want := []string{
		string(DescribeTopicDynamicConfiguration) + " " + c.Topic("events"),
		string(DescribeTopicDynamicConfiguration) + " " + c.Topic("orders"),
	}
	slices.Sort(extra)
	if !slices.Equal(extra, want) || len(with) != len(base)+2 {
		t.Errorf("DescribeTopicConfig adds %v, want %v", extra, want)
	}
}
