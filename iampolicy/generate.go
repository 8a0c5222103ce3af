package iampolicy

import (
	"fmt"
	"slices"
	"strings"
)

// Workload describes what a Kafka client does on one cluster.
// Names are used literally in resource ARNs, so a name ending in "*"
// (e.g. "orders-*") yields a prefix pattern in a generated policy.
type Workload struct {
	Produce          []string // topics the client writes to
	Consume          []string // topics the client reads from
	Groups           []string // consumer groups the client joins or commits offsets in
	Idempotent       bool     // the producer is idempotent (franz-go's default)
	TransactionalIDs []string // transactional IDs the producer uses
	// DescribeClusterConfig: the client reads the cluster's dynamic
	// configuration (DescribeConfigs on a broker), as Lambda's event
	// source mapping does (see ESMWorkload).
	DescribeClusterConfig bool
	// DescribeTopicConfig: the client reads the configuration of its
	// Produce and Consume topics (DescribeConfigs on a topic), as the
	// msklink Lambda function does for max.message.bytes.
	DescribeTopicConfig bool
}

// Requirement is one permission a workload needs.
type Requirement struct {
	Action   Action
	Resource string // the ARN the action must be allowed on
	Why      string // the workload item that needs it, e.g. `produce to topic "orders"`
}

// String describes the requirement for humans.
func (r Requirement) String() string {
	return fmt.Sprintf("%s on %s (%s)", r.Action, r.Resource, r.Why)
}

// Requirements returns every (action, resource) permission w needs on
// cluster, including the actions each one requires per the MSK developer
// guide, without duplicates, in a deterministic order (cluster, then
// topics, groups, transactional IDs; by name, then catalog order).
//
//   - always: Connect on the cluster;
//   - DescribeClusterConfig: DescribeClusterDynamicConfiguration on the
//     cluster;
//   - each Produce topic: WriteData and DescribeTopic;
//   - each Consume topic: ReadData and DescribeTopic (ReadData's required
//     AlterGroup is granted on the workload's Groups; a consumer that
//     assigns partitions itself uses no group and needs none);
//   - DescribeTopicConfig: DescribeTopicDynamicConfiguration on each
//     Produce and Consume topic;
//   - each group: AlterGroup and DescribeGroup;
//   - Idempotent: WriteDataIdempotently on the cluster (and WriteData on
//     the Produce topics);
//   - each transactional ID: AlterTransactionalId and
//     DescribeTransactionalId (and WriteData on the Produce topics).
func Requirements(cluster ClusterARN, w Workload) []Requirement {
	type key struct {
		a Action
		r string
	}
	seen := map[key]bool{}
	var out []Requirement
	add := func(a Action, res, why string) {
		k := key{a, res}
		if seen[k] {
			return
		}
		seen[k] = true
		out = append(out, Requirement{Action: a, Resource: res, Why: why})
	}
	add(Connect, cluster.String(), "connect to the cluster")
	if w.DescribeClusterConfig {
		add(DescribeClusterDynamicConfiguration, cluster.String(), "read the cluster's dynamic configuration")
	}
	if w.Idempotent {
		add(WriteDataIdempotently, cluster.String(), "produce idempotently")
	}
	for _, t := range w.Produce {
		why := fmt.Sprintf("produce to topic %q", t)
		add(WriteData, cluster.Topic(t), why)
		add(DescribeTopic, cluster.Topic(t), why)
		if w.DescribeTopicConfig {
			add(DescribeTopicDynamicConfiguration, cluster.Topic(t), why+" (its configuration)")
		}
	}
	for _, t := range w.Consume {
		why := fmt.Sprintf("consume from topic %q", t)
		add(ReadData, cluster.Topic(t), why)
		add(DescribeTopic, cluster.Topic(t), why)
		if w.DescribeTopicConfig {
			add(DescribeTopicDynamicConfiguration, cluster.Topic(t), why+" (its configuration)")
		}
	}
	for _, g := range w.Groups {
		why := fmt.Sprintf("use consumer group %q", g)
		add(AlterGroup, cluster.Group(g), why)
		add(DescribeGroup, cluster.Group(g), why)
	}
	for _, id := range w.TransactionalIDs {
		why := fmt.Sprintf("use transactional ID %q", id)
		add(AlterTransactionalId, cluster.TransactionalID(id), why)
		add(DescribeTransactionalId, cluster.TransactionalID(id), why)
	}
	order := map[Action]int{}
	for i, a := range allActions {
		order[a] = i
	}
	typeOrder := map[ResourceType]int{ResourceCluster: 0, ResourceTopic: 1, ResourceGroup: 2, ResourceTransactionalID: 3}
	slices.SortStableFunc(out, func(x, y Requirement) int {
		if c := typeOrder[x.Action.ResourceType()] - typeOrder[y.Action.ResourceType()]; c != 0 {
			return c
		}
		if c := strings.Compare(x.Resource, y.Resource); c != 0 {
			return c
		}
		return order[x.Action] - order[y.Action]
	})
	return out
}

// Generate returns a least-privilege policy granting exactly the
// [Requirements] of w on cluster. Resources that need the same set of
// actions share a statement; statements are ordered cluster, topics,
// groups, transactional IDs, and named after what they grant ("Cluster",
// "ReadTopics", "WriteTopics", "ReadWriteTopics", "ConsumerGroups",
// "TransactionalIds"), so the output of [Policy.MarshalJSON] is
// deterministic.
func Generate(cluster ClusterARN, w Workload) *Policy {
	reqs := Requirements(cluster, w)
	// Actions per resource.
	var resources []string
	actions := map[string][]string{}
	rtype := map[string]ResourceType{}
	for _, r := range reqs {
		if _, ok := actions[r.Resource]; !ok {
			resources = append(resources, r.Resource)
			rtype[r.Resource] = r.Action.ResourceType()
		}
		actions[r.Resource] = append(actions[r.Resource], string(r.Action))
	}
	// Group resources of one type with identical action sets.
	type group struct {
		rt        ResourceType
		actions   []string
		resources []string
	}
	var groups []*group
	index := map[string]*group{}
	for _, res := range resources {
		acts := sortedUnique(actions[res])
		k := string(rtype[res]) + "|" + strings.Join(acts, ",")
		g, ok := index[k]
		if !ok {
			g = &group{rt: rtype[res], actions: acts}
			index[k] = g
			groups = append(groups, g)
		}
		g.resources = append(g.resources, res)
	}
	typeOrder := map[ResourceType]int{ResourceCluster: 0, ResourceTopic: 1, ResourceGroup: 2, ResourceTransactionalID: 3}
	slices.SortStableFunc(groups, func(a, b *group) int {
		if c := typeOrder[a.rt] - typeOrder[b.rt]; c != 0 {
			return c
		}
		return strings.Compare(strings.Join(a.actions, ","), strings.Join(b.actions, ","))
	})
	count := map[string]int{}
	p := &Policy{Version: Version2012}
	for _, g := range groups {
		sid := statementName(g.rt, g.actions)
		count[sid]++
		if count[sid] > 1 {
			sid += fmt.Sprint(count[sid])
		}
		p.Statements = append(p.Statements, Statement{
			Sid:      sid,
			Effect:   Allow,
			Action:   g.actions,
			Resource: sortedUnique(g.resources),
		})
	}
	return p
}

// Finding is a permission a workload needs that the policies do not grant.
type Finding struct {
	Requirement
	// Decision is the evaluation result: Outcome is ImplicitDeny (nothing
	// allows it) or ExplicitDeny (Decision names the Deny statement).
	Decision Decision
}

// ExplicitlyDenied reports whether a Deny statement blocks the permission,
// as opposed to no statement allowing it.
func (f Finding) ExplicitlyDenied() bool { return f.Decision.Outcome == ExplicitDeny }

// String describes the finding for humans, naming the Deny statement
// when there is one.
func (f Finding) String() string {
	if f.ExplicitlyDenied() {
		return fmt.Sprintf("%s on %s, needed to %s, is explicitly denied by %s", f.Action, f.Resource, f.Why, f.Decision.StatementRef())
	}
	return fmt.Sprintf("%s on %s, needed to %s, is not allowed by any statement", f.Action, f.Resource, f.Why)
}

// Check evaluates every [Requirements] of w on cluster against the
// policies attached to an identity (see [EvaluateAll]) and returns one
// Finding per requirement that is not allowed, in the order of
// Requirements. An empty result means the policies suffice.
func Check(policies []*Policy, cluster ClusterARN, w Workload) []Finding {
	var out []Finding
	for _, r := range Requirements(cluster, w) {
		d := EvaluateAll(policies, string(r.Action), r.Resource)
		if !d.Allowed() {
			out = append(out, Finding{Requirement: r, Decision: d})
		}
	}
	return out
}

// statementName is the Sid of a generated statement.
func statementName(rt ResourceType, actions []string) string {
	switch rt {
	case ResourceCluster:
		return "Cluster"
	case ResourceTopic:
		r := slices.Contains(actions, string(ReadData))
		w := slices.Contains(actions, string(WriteData))
		switch {
		case r && w:
			return "ReadWriteTopics"
		case r:
			return "ReadTopics"
		case w:
			return "WriteTopics"
		}
		return "Topics"
	case ResourceGroup:
		return "ConsumerGroups"
	case ResourceTransactionalID:
		return "TransactionalIds"
	}
	return "Statement"
}
