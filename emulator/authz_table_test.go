package emulator

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// authzCase is one request and the decisions the emulator must make for
// it: "Action resource", the action without its kafka-cluster: prefix and
// the resource as cluster, topic/NAME, group/NAME or transactional-id/NAME.
type authzCase struct {
	name string
	req  kmsg.Request
	want []string
	rule string // Kafka's rule (KafkaApis), and MSK's mapping where it is not the obvious one
}

// TestAuthzTable pins every API key kfake serves to the kafka-cluster
// actions and resources the IAM listener checks, as the audit log records
// them. The rules are Kafka's (core/src/main/scala/kafka/server/KafkaApis.scala,
// one authorize call per resource), mapped to IAM actions as the MSK
// developer guide's "Semantics of IAM authorization policy actions and
// resources" page maps ACLs: READ topic = ReadData, WRITE topic = WriteData,
// DESCRIBE topic = DescribeTopic, CREATE/ALTER/DELETE topic =
// CreateTopic/AlterTopic/DeleteTopic, DESCRIBE_CONFIGS/ALTER_CONFIGS topic
// = Describe/AlterTopicDynamicConfiguration, READ group = AlterGroup,
// DESCRIBE group = DescribeGroup, DELETE group = DeleteGroup, WRITE and
// DESCRIBE transactional ID = AlterTransactionalId and
// DescribeTransactionalId, IDEMPOTENT_WRITE cluster = WriteDataIdempotently,
// DESCRIBE/ALTER cluster = DescribeCluster/AlterCluster,
// DESCRIBE_CONFIGS/ALTER_CONFIGS cluster = Describe/AlterClusterDynamicConfiguration.
func TestAuthzTable(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t, WithTopic("gone", 1), WithTopic("gone-by-id", 1))
	tID := c.Kfake().TopicInfo("t").TopicID
	goneID := c.Kfake().TopicInfo("gone-by-id").TopicID

	cases := []authzCase{
		{"Produce", produceReq(9, "t"), []string{"WriteData topic/t"}, "WRITE topic"},
		{"Fetch", fetchReq(12, "t", [16]byte{}), []string{"ReadData topic/t"}, "READ topic"},
		{"Fetch by ID", fetchReq(15, "", tID), []string{"ReadData topic/t"}, "READ topic, v13+ by ID"},
		{"ListOffsets", func() kmsg.Request {
			r := kmsg.NewPtrListOffsetsRequest()
			r.Version = 7
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Timestamp = -1
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"DescribeTopic topic/t"}, "DESCRIBE topic"},
		{"Metadata", metadataReq(nil, "t"), []string{"DescribeTopic topic/t"}, "DESCRIBE topic"},
		{"Metadata by ID", metadataReq(&tID, ""), []string{"DescribeTopic topic/t"}, "DESCRIBE topic, v12+ by ID"},
		{"OffsetCommit", func() kmsg.Request {
			r := kmsg.NewPtrOffsetCommitRequest()
			r.Version, r.Group, r.Generation = 9, "g", -1
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"AlterGroup group/g", "ReadData topic/t"}, "READ group, READ topic"},
		{"OffsetFetch", func() kmsg.Request {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Version = 8
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = "g"
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			rg.Topics = append(rg.Topics, rt)
			r.Groups = append(r.Groups, rg)
			return r
		}(), []string{"DescribeGroup group/g", "DescribeTopic topic/t"}, "DESCRIBE group, DESCRIBE topic"},
		{"FindCoordinator group", findCoordinatorReq(0, "g"), []string{"DescribeGroup group/g"}, "DESCRIBE group"},
		{"FindCoordinator transaction", findCoordinatorReq(1, "x"), []string{"DescribeTransactionalId transactional-id/x"}, "DESCRIBE transactional ID"},
		{"FindCoordinator share", findCoordinatorReq(2, "g:t:0"), []string{"CLUSTER_ACTION cluster"}, "CLUSTER_ACTION: no IAM action"},
		{"JoinGroup", func() kmsg.Request {
			r := kmsg.NewPtrJoinGroupRequest()
			r.Version, r.Group, r.ProtocolType = 9, "g", "consumer"
			r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = 10000, 10000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			r.Protocols = append(r.Protocols, p)
			return r
		}(), []string{"AlterGroup group/g"}, "READ group"},
		{"Heartbeat", func() kmsg.Request {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version, r.Group, r.MemberID = 4, "g", "m"
			return r
		}(), []string{"AlterGroup group/g"}, "READ group"},
		{"LeaveGroup", func() kmsg.Request {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version, r.Group = 5, "g"
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = "m"
			r.Members = append(r.Members, m)
			return r
		}(), []string{"AlterGroup group/g"}, "READ group"},
		{"SyncGroup", func() kmsg.Request {
			r := kmsg.NewPtrSyncGroupRequest()
			r.Version, r.Group, r.MemberID = 5, "g", "m"
			return r
		}(), []string{"AlterGroup group/g"}, "READ group"},
		{"DescribeGroups", func() kmsg.Request {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Version, r.Groups = 5, []string{"g"}
			return r
		}(), []string{"DescribeGroup group/g"}, "DESCRIBE group"},
		{"ListGroups", func() kmsg.Request {
			r := kmsg.NewPtrListGroupsRequest()
			r.Version = 4
			return r
		}(), []string{"DescribeCluster cluster"}, "DESCRIBE cluster lists all, else DESCRIBE each group"},
		{"CreateTopics", func() kmsg.Request {
			r := kmsg.NewPtrCreateTopicsRequest()
			r.Version, r.TimeoutMillis = 7, 5000
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "new", 1, 1
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"CreateTopic topic/new", "DescribeTopicDynamicConfiguration topic/new"}, "CREATE topic; DESCRIBE_CONFIGS topic for the configs in the answer"},
		{"DeleteTopics", deleteTopicsReq("gone", [16]byte{}), []string{"DeleteTopic topic/gone"}, "DELETE topic"},
		{"DeleteTopics by ID", deleteTopicsReq("", goneID), []string{"DescribeTopic topic/gone-by-id", "DeleteTopic topic/gone-by-id"}, "DESCRIBE topic (else no name in the answer), DELETE topic"},
		{"DeleteRecords", func() kmsg.Request {
			r := kmsg.NewPtrDeleteRecordsRequest()
			r.Version, r.TimeoutMillis = 2, 5000
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"DeleteTopic topic/t"}, "DELETE topic (issue 23: was AlterCluster)"},
		{"InitProducerID idempotent", initProducerIDReq(nil), []string{"WriteDataIdempotently cluster"}, "IDEMPOTENT_WRITE cluster"},
		{"InitProducerID transactional", initProducerIDReq(kmsg.StringPtr("x")), []string{"AlterTransactionalId transactional-id/x"}, "WRITE transactional ID"},
		{"OffsetForLeaderEpoch", func() kmsg.Request {
			r := kmsg.NewPtrOffsetForLeaderEpochRequest()
			r.Version = 4
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.CurrentLeaderEpoch = -1
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"DescribeTopic topic/t"}, "DESCRIBE topic"},
		{"AddPartitionsToTxn", addPartitionsToTxnReq(3), []string{"AlterTransactionalId transactional-id/x", "WriteData topic/t"}, "WRITE transactional ID, WRITE topic (issue 23: topics were not checked)"},
		{"AddPartitionsToTxn batched", addPartitionsToTxnReq(4), []string{"CLUSTER_ACTION cluster"}, "v4+: CLUSTER_ACTION, no IAM action"},
		{"AddOffsetsToTxn", func() kmsg.Request {
			r := kmsg.NewPtrAddOffsetsToTxnRequest()
			r.Version, r.TransactionalID, r.Group = 3, "x", "g"
			return r
		}(), []string{"AlterTransactionalId transactional-id/x", "AlterGroup group/g"}, "WRITE transactional ID, READ group"},
		{"EndTxn", func() kmsg.Request {
			r := kmsg.NewPtrEndTxnRequest()
			r.Version, r.TransactionalID = 3, "x"
			return r
		}(), []string{"AlterTransactionalId transactional-id/x"}, "WRITE transactional ID"},
		{"WriteTxnMarkers", func() kmsg.Request {
			r := kmsg.NewPtrWriteTxnMarkersRequest()
			r.Version = 1
			return r
		}(), []string{"AlterCluster cluster"}, "ALTER cluster (or CLUSTER_ACTION)"},
		{"TxnOffsetCommit", func() kmsg.Request {
			r := kmsg.NewPtrTxnOffsetCommitRequest()
			r.Version, r.TransactionalID, r.Group = 3, "x", "g"
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"AlterTransactionalId transactional-id/x", "AlterGroup group/g", "ReadData topic/t"}, "WRITE transactional ID, READ group, READ topic"},
		{"DescribeACLs", func() kmsg.Request {
			r := kmsg.NewPtrDescribeACLsRequest()
			r.Version = 3
			r.ResourceType, r.ResourcePatternType, r.Operation, r.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
			return r
		}(), []string{"DescribeCluster cluster"}, "DESCRIBE cluster"},
		{"CreateACLs", func() kmsg.Request { r := kmsg.NewPtrCreateACLsRequest(); r.Version = 3; return r }(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"DeleteACLs", func() kmsg.Request { r := kmsg.NewPtrDeleteACLsRequest(); r.Version = 3; return r }(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"DescribeConfigs topic", describeConfigsReq(kmsg.ConfigResourceTypeTopic, "t"), []string{"DescribeTopicDynamicConfiguration topic/t"}, "DESCRIBE_CONFIGS topic"},
		{"DescribeConfigs broker", describeConfigsReq(kmsg.ConfigResourceTypeBroker, "0"), []string{"DescribeClusterDynamicConfiguration cluster"}, "DESCRIBE_CONFIGS cluster"},
		{"AlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrAlterConfigsRequest()
			r.Version = 2
			rr := kmsg.NewAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
			r.Resources = append(r.Resources, rr)
			return r
		}(), []string{"AlterTopicDynamicConfiguration topic/t"}, "ALTER_CONFIGS topic"},
		{"AlterReplicaLogDirs", func() kmsg.Request { r := kmsg.NewPtrAlterReplicaLogDirsRequest(); r.Version = 2; return r }(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"DescribeLogDirs", func() kmsg.Request {
			r := kmsg.NewPtrDescribeLogDirsRequest()
			r.Version = 4
			rt := kmsg.NewDescribeLogDirsRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"DescribeCluster cluster", "DescribeTopic topic/t"}, "DESCRIBE cluster; undescribable topics left out"},
		{"CreatePartitions", func() kmsg.Request {
			r := kmsg.NewPtrCreatePartitionsRequest()
			r.Version, r.TimeoutMillis, r.ValidateOnly = 3, 5000, true
			rt := kmsg.NewCreatePartitionsRequestTopic()
			rt.Topic, rt.Count = "t", 4
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"AlterTopic topic/t"}, "ALTER topic"},
		{"DeleteGroups", func() kmsg.Request {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version, r.Groups = 2, []string{"g"}
			return r
		}(), []string{"DeleteGroup group/g"}, "DELETE group"},
		{"ElectLeaders", func() kmsg.Request {
			r := kmsg.NewPtrElectLeadersRequest()
			r.Version, r.TimeoutMillis = 2, 5000
			rt := kmsg.NewElectLeadersRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"AlterCluster cluster"}, "ALTER cluster (all partitions: undescribable topics left out)"},
		{"IncrementalAlterConfigs", func() kmsg.Request {
			r := kmsg.NewPtrIncrementalAlterConfigsRequest()
			r.Version = 1
			rr := kmsg.NewIncrementalAlterConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
			r.Resources = append(r.Resources, rr)
			return r
		}(), []string{"AlterTopicDynamicConfiguration topic/t"}, "ALTER_CONFIGS topic"},
		{"AlterPartitionAssignments", func() kmsg.Request {
			r := kmsg.NewPtrAlterPartitionAssignmentsRequest()
			r.TimeoutMillis = 5000
			return r
		}(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"ListPartitionReassignments", func() kmsg.Request {
			r := kmsg.NewPtrListPartitionReassignmentsRequest()
			r.TimeoutMillis = 5000
			return r
		}(), []string{"DescribeCluster cluster"}, "DESCRIBE cluster"},
		{"OffsetDelete", func() kmsg.Request {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Group = "g"
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rt.Partitions = append(rt.Partitions, rp)
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"DeleteGroup group/g", "ReadData topic/t"}, "DELETE group, READ topic"},
		{"DescribeClientQuotas", func() kmsg.Request { r := kmsg.NewPtrDescribeClientQuotasRequest(); r.Version = 1; return r }(), []string{"DescribeClusterDynamicConfiguration cluster"}, "DESCRIBE_CONFIGS cluster"},
		{"AlterClientQuotas", func() kmsg.Request { r := kmsg.NewPtrAlterClientQuotasRequest(); r.Version = 1; return r }(), []string{"AlterClusterDynamicConfiguration cluster"}, "ALTER_CONFIGS cluster"},
		{"DescribeUserSCRAMCredentials", kmsg.NewPtrDescribeUserSCRAMCredentialsRequest(), []string{"DescribeCluster cluster"}, "DESCRIBE cluster"},
		{"AlterUserSCRAMCredentials", kmsg.NewPtrAlterUserSCRAMCredentialsRequest(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"UpdateFeatures", func() kmsg.Request {
			r := kmsg.NewPtrUpdateFeaturesRequest()
			r.Version, r.TimeoutMillis, r.ValidateOnly = 1, 5000, true
			return r
		}(), []string{"AlterCluster cluster"}, "ALTER cluster"},
		{"DescribeCluster", func() kmsg.Request { r := kmsg.NewPtrDescribeClusterRequest(); r.Version = 1; return r }(), []string{"DescribeCluster cluster"}, "MSK: DESCRIBE cluster"},
		{"DescribeProducers", func() kmsg.Request {
			r := kmsg.NewPtrDescribeProducersRequest()
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = "t", []int32{0}
			r.Topics = append(r.Topics, rt)
			return r
		}(), []string{"ReadData topic/t"}, "READ topic (issue 23: was DescribeCluster)"},
		{"DescribeTransactions", func() kmsg.Request {
			r := kmsg.NewPtrDescribeTransactionsRequest()
			r.TransactionalIDs = []string{"x"}
			return r
		}(), []string{"DescribeTransactionalId transactional-id/x"}, "DESCRIBE transactional ID; undescribable topics left out"},
		{"ListTransactions", func() kmsg.Request { r := kmsg.NewPtrListTransactionsRequest(); r.Version = 1; return r }(), nil, "no request check; each listed ID needs DESCRIBE"},
		{"ConsumerGroupHeartbeat", func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			r.Version, r.Group, r.MemberID, r.RebalanceTimeoutMillis = 1, "g848", "m848", 10000
			r.SubscribedTopicNames, r.Topics = []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
			return r
		}(), []string{"AlterGroup group/g848", "DescribeTopic topic/t"}, "READ group, DESCRIBE each subscribed and assigned topic"},
		{"ConsumerGroupDescribe", func() kmsg.Request {
			r := kmsg.NewPtrConsumerGroupDescribeRequest()
			r.Version, r.Groups = 1, []string{"g"}
			return r
		}(), []string{"DescribeGroup group/g"}, "DESCRIBE group, DESCRIBE each topic its members name"},
		{"GetTelemetrySubscriptions", kmsg.NewPtrGetTelemetrySubscriptionsRequest(), nil, "none"},
		{"ListConfigResources", func() kmsg.Request {
			r := kmsg.NewPtrListConfigResourcesRequest()
			r.Version, r.ResourceTypes = 1, []int8{16}
			return r
		}(), []string{"DescribeClusterDynamicConfiguration cluster"}, "DESCRIBE_CONFIGS cluster"},
		{"DescribeTopicPartitions", func() kmsg.Request {
			r := kmsg.NewPtrDescribeTopicPartitionsRequest()
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = "t"
			r.Topics = append(r.Topics, rt)
			r.ResponsePartitionLimit = 100
			return r
		}(), []string{"DescribeTopic topic/t"}, "DESCRIBE topic"},
	}

	// Every key kfake serves is in the table, except the SASL ones, which
	// are authentication, and the ones the IAM listener refuses
	// (TestUnservedAPIsClose).
	covered := map[int16]bool{17: true, 18: true, 36: true, 72: true} // 72: PushTelemetry, unchecked like 71
	for _, k := range unservedKeys {
		covered[k] = true
	}
	for _, tc := range cases {
		covered[tc.req.Key()] = true
	}
	r := dialRaw(t, c, IAM, 0)
	api := kmsg.NewPtrApiVersionsRequest()
	for _, k := range r.must(api).(*kmsg.ApiVersionsResponse).ApiKeys {
		if !covered[k.ApiKey] {
			t.Errorf("%s (key %d) is served but not in the table", kmsg.NameForKey(k.ApiKey), k.ApiKey)
		}
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Where kfake answers in full: the emulator also checks
			// the answers of OffsetFetch (a committed group's topics)
			// and CreateTopics (the new topic's configs).
			var broker int32
			switch tc.name {
			case "OffsetCommit", "OffsetFetch":
				broker = c.Kfake().CoordinatorFor("g")
			case "CreateTopics":
				broker = controller(t, c)
			}
			r := dialRaw(t, c, IAM, broker)
			if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
				t.Fatalf("auth: %+v", ar)
			}
			from := len(lb.String())
			r.must(tc.req)
			got := decisions(t, c, lb.String()[from:], kmsg.NameForKey(tc.req.Key()))
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s v%d: decisions %q, want %q (%s)", kmsg.NameForKey(tc.req.Key()), tc.req.GetVersion(), got, want, tc.rule)
			}
		})
	}
}

// decisions returns the distinct "Action resource" authz decisions for api
// in logs, sorted.
func decisions(t *testing.T, c *Cluster, logs, api string) []string {
	t.Helper()
	cluster := c.arn.String()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var l struct{ Msg, Action, Resource, API string }
		if line == "" || json.Unmarshal([]byte(line), &l) != nil || l.Msg != "authz" || l.API != api {
			continue
		}
		res := l.Resource
		if res == cluster {
			res = "cluster"
		} else if i, j := strings.LastIndexByte(res, ':'), strings.LastIndexByte(res, '/'); i >= 0 && j > i {
			// arn:...:topic/<cluster>/<uuid>/<name>
			res = res[i+1:strings.IndexByte(res[i+1:], '/')+i+1] + "/" + res[j+1:]
		}
		d := strings.TrimPrefix(l.Action, "kafka-cluster:") + " " + res
		if !slices.Contains(got, d) {
			got = append(got, d)
		}
	}
	slices.Sort(got)
	return got
}

func produceReq(version int16, topic string) *kmsg.ProduceRequest {
	r := kmsg.NewPtrProduceRequest()
	r.Version, r.Acks, r.TimeoutMillis = version, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = oneRecordBatch([]byte("v"))
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func fetchReq(version int16, topic string, id [16]byte) *kmsg.FetchRequest {
	r := kmsg.NewPtrFetchRequest()
	r.Version, r.MaxBytes, r.SessionEpoch = version, 1<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func metadataReq(id *[16]byte, topic string) *kmsg.MetadataRequest {
	r := kmsg.NewPtrMetadataRequest()
	r.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	if id != nil {
		rt.TopicID = *id
	} else {
		rt.Topic = kmsg.StringPtr(topic)
	}
	r.Topics = append(r.Topics, rt)
	return r
}

func findCoordinatorReq(typ int8, key string) *kmsg.FindCoordinatorRequest {
	r := kmsg.NewPtrFindCoordinatorRequest()
	r.Version, r.CoordinatorType, r.CoordinatorKeys = 4, typ, []string{key}
	return r
}

func deleteTopicsReq(topic string, id [16]byte) *kmsg.DeleteTopicsRequest {
	r := kmsg.NewPtrDeleteTopicsRequest()
	r.Version, r.TimeoutMillis = 6, 5000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	if topic != "" {
		rt.Topic = kmsg.StringPtr(topic)
	}
	rt.TopicID = id
	r.Topics = append(r.Topics, rt)
	return r
}

func initProducerIDReq(txn *string) *kmsg.InitProducerIDRequest {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version, r.TransactionalID, r.TransactionTimeoutMillis = 4, txn, 60000
	return r
}

func addPartitionsToTxnReq(version int16) *kmsg.AddPartitionsToTxnRequest {
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = version
	if version >= 4 {
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID = "x"
		tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		tt.Topic, tt.Partitions = "t", []int32{0}
		tx.Topics = append(tx.Topics, tt)
		r.Transactions = append(r.Transactions, tx)
		return r
	}
	r.TransactionalID = "x"
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0}
	r.Topics = append(r.Topics, rt)
	return r
}

func describeConfigsReq(typ kmsg.ConfigResourceType, name string) *kmsg.DescribeConfigsRequest {
	r := kmsg.NewPtrDescribeConfigsRequest()
	r.Version = 4
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = typ, name
	r.Resources = append(r.Resources, rr)
	return r
}
