package iampolicy

import "strings"

// Action is an IAM action name such as "kafka-cluster:WriteData".
type Action string

// ServicePrefix is the IAM service prefix of the MSK data-plane actions.
const ServicePrefix = "kafka-cluster"

// The kafka-cluster actions, as listed in the MSK developer guide
// ("Semantics of IAM authorization policy actions and resources").
const (
	Connect                             Action = "kafka-cluster:Connect"
	DescribeCluster                     Action = "kafka-cluster:DescribeCluster"
	AlterCluster                        Action = "kafka-cluster:AlterCluster"
	DescribeClusterDynamicConfiguration Action = "kafka-cluster:DescribeClusterDynamicConfiguration"
	AlterClusterDynamicConfiguration    Action = "kafka-cluster:AlterClusterDynamicConfiguration"
	WriteDataIdempotently               Action = "kafka-cluster:WriteDataIdempotently"
	CreateTopic                         Action = "kafka-cluster:CreateTopic"
	DescribeTopic                       Action = "kafka-cluster:DescribeTopic"
	AlterTopic                          Action = "kafka-cluster:AlterTopic"
	DeleteTopic                         Action = "kafka-cluster:DeleteTopic"
	DescribeTopicDynamicConfiguration   Action = "kafka-cluster:DescribeTopicDynamicConfiguration"
	AlterTopicDynamicConfiguration      Action = "kafka-cluster:AlterTopicDynamicConfiguration"
	ReadData                            Action = "kafka-cluster:ReadData"
	WriteData                           Action = "kafka-cluster:WriteData"
	DescribeGroup                       Action = "kafka-cluster:DescribeGroup"
	AlterGroup                          Action = "kafka-cluster:AlterGroup"
	DeleteGroup                         Action = "kafka-cluster:DeleteGroup"
	DescribeTransactionalId             Action = "kafka-cluster:DescribeTransactionalId"
	AlterTransactionalId                Action = "kafka-cluster:AlterTransactionalId"
)

// ResourceType is the kind of MSK resource an action applies to. Its value
// is the resource-type segment of the ARN ("cluster", "topic", ...).
type ResourceType string

// The MSK resource types.
const (
	ResourceCluster         ResourceType = "cluster"
	ResourceTopic           ResourceType = "topic"
	ResourceGroup           ResourceType = "group"
	ResourceTransactionalID ResourceType = "transactional-id"
)

type actionInfo struct {
	resource ResourceType
	requires []Action
	acl      string
}

// catalog is the guide's table: the resource each action applies to and
// the "Required actions" column.
var catalog = map[Action]actionInfo{
	Connect:                             {ResourceCluster, nil, ""},
	DescribeCluster:                     {ResourceCluster, []Action{Connect}, "DESCRIBE CLUSTER"},
	AlterCluster:                        {ResourceCluster, []Action{Connect, DescribeCluster}, "ALTER CLUSTER"},
	DescribeClusterDynamicConfiguration: {ResourceCluster, []Action{Connect}, "DESCRIBE_CONFIGS CLUSTER"},
	AlterClusterDynamicConfiguration:    {ResourceCluster, []Action{Connect, DescribeClusterDynamicConfiguration}, "ALTER_CONFIGS CLUSTER"},
	WriteDataIdempotently:               {ResourceCluster, []Action{Connect, WriteData}, "IDEMPOTENT_WRITE CLUSTER"},
	CreateTopic:                         {ResourceTopic, []Action{Connect}, "CREATE CLUSTER/TOPIC"},
	DescribeTopic:                       {ResourceTopic, []Action{Connect}, "DESCRIBE TOPIC"},
	AlterTopic:                          {ResourceTopic, []Action{Connect, DescribeTopic}, "ALTER TOPIC"},
	DeleteTopic:                         {ResourceTopic, []Action{Connect, DescribeTopic}, "DELETE TOPIC"},
	DescribeTopicDynamicConfiguration:   {ResourceTopic, []Action{Connect}, "DESCRIBE_CONFIGS TOPIC"},
	AlterTopicDynamicConfiguration:      {ResourceTopic, []Action{Connect, DescribeTopicDynamicConfiguration}, "ALTER_CONFIGS TOPIC"},
	ReadData:                            {ResourceTopic, []Action{Connect, DescribeTopic, AlterGroup}, "READ TOPIC"},
	WriteData:                           {ResourceTopic, []Action{Connect, DescribeTopic}, "WRITE TOPIC"},
	DescribeGroup:                       {ResourceGroup, []Action{Connect}, "DESCRIBE GROUP"},
	AlterGroup:                          {ResourceGroup, []Action{Connect, DescribeGroup}, "READ GROUP"},
	DeleteGroup:                         {ResourceGroup, []Action{Connect, DescribeGroup}, "DELETE GROUP"},
	DescribeTransactionalId:             {ResourceTransactionalID, []Action{Connect}, "DESCRIBE TRANSACTIONAL_ID"},
	AlterTransactionalId:                {ResourceTransactionalID, []Action{Connect, DescribeTransactionalId, WriteData}, "WRITE TRANSACTIONAL_ID"},
}

// allActions is the catalog in the guide's order.
var allActions = []Action{
	Connect, DescribeCluster, AlterCluster,
	DescribeClusterDynamicConfiguration, AlterClusterDynamicConfiguration,
	WriteDataIdempotently,
	CreateTopic, DescribeTopic, AlterTopic, DeleteTopic,
	DescribeTopicDynamicConfiguration, AlterTopicDynamicConfiguration,
	ReadData, WriteData,
	DescribeGroup, AlterGroup, DeleteGroup,
	DescribeTransactionalId, AlterTransactionalId,
}

// Actions returns every kafka-cluster action in the order of the MSK
// developer guide. The caller may modify the returned slice.
func Actions() []Action {
	return append([]Action(nil), allActions...)
}

// LookupAction returns the catalog action whose name equals s, compared
// case-insensitively as IAM does; s may omit the "kafka-cluster:" prefix.
func LookupAction(s string) (Action, bool) {
	if !strings.Contains(s, ":") {
		s = ServicePrefix + ":" + s
	}
	for _, a := range allActions {
		if strings.EqualFold(string(a), s) {
			return a, true
		}
	}
	return "", false
}

// Known reports whether a is one of the catalog actions (exact spelling).
func (a Action) Known() bool {
	_, ok := catalog[a]
	return ok
}

// Name returns the action without its service prefix, e.g. "WriteData".
func (a Action) Name() string {
	if _, n, ok := strings.Cut(string(a), ":"); ok {
		return n
	}
	return string(a)
}

// ResourceType returns the type of resource a applies to, or "" when a is
// not a catalog action.
func (a Action) ResourceType() ResourceType {
	return catalog[a].resource
}

// Requires returns the actions the MSK developer guide lists as required
// alongside a (its "Required actions" column), or nil for Connect and for
// unknown actions. A required action may apply to a different resource
// type than a: ReadData (topic) requires AlterGroup (group), and
// WriteDataIdempotently (cluster) requires WriteData (topic).
func (a Action) Requires() []Action {
	return append([]Action(nil), catalog[a].requires...)
}

// KafkaACL returns the Apache Kafka ACL operation and resource the action
// stands for (e.g. "WRITE TOPIC"), or "" for Connect and unknown actions.
func (a Action) KafkaACL() string {
	return catalog[a].acl
}

// UnknownActions returns the Action and NotAction entries of p that name
// the kafka-cluster service but match none of the catalog actions, such as
// the typo "kafka-cluster:WriteDate" or "kafka-cluster:Wirte*". IAM accepts
// such entries, but they never grant (or deny) anything on MSK, which
// makes them a likely cause of a missing permission. The result is sorted
// and has no duplicates.
func (p *Policy) UnknownActions() []string {
	var out []string
	for _, st := range p.Statements {
		for _, l := range [][]string{st.Action, st.NotAction} {
			for _, pat := range l {
				svc, _, ok := strings.Cut(pat, ":")
				if !ok || !strings.EqualFold(svc, ServicePrefix) {
					continue
				}
				known := false
				for _, a := range allActions {
					if MatchAction(pat, string(a)) {
						known = true
						break
					}
				}
				if !known {
					out = append(out, pat)
				}
			}
		}
	}
	return sortedUnique(out)
}
