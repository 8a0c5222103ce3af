package emulator

import (
	"encoding/binary"
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Regression tests for issue 23 (items 2 and 4): raw frames, as an attacker
// sends them, on the IAM listener, with a policy that allows everything
// but one topic ("secret").

// attacker starts a cluster with topics t and secret and returns a raw
// connection to broker 0 authenticated as "limited", whose policy allows
// kafka-cluster:* except denyAction on topic secret.
func attacker(t *testing.T, denyAction string, opts ...Opt) (*Cluster, *rawConn, *logBuf) {
	t.Helper()
	c, _, lb := limitedCluster(t, denyAction, `"arn:aws:kafka:*:*:topic/local/*/secret"`, append([]Opt{WithTopic("secret", 2)}, opts...)...)
	return c, limitedConn(t, c, 0), lb
}

// limitedConn is a raw connection to broker authenticated as "limited".
func limitedConn(t *testing.T, c *Cluster, broker int32) *rawConn {
	t.Helper()
	r := dialRaw(t, c, IAM, broker)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, "AKIALIMITED000000000", "secret-2", time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	return r
}

// must sends req and returns its answer.
func (r *rawConn) must(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := r.do(req)
	if err != nil {
		r.t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// leaderConn is limitedConn to the leader of topic's partition 0.
func leaderConn(t *testing.T, c *Cluster, topic string) *rawConn {
	t.Helper()
	return limitedConn(t, c, c.Kfake().LeaderFor(topic, 0))
}

// oneRecordBatch is a valid v2 record batch holding one record with value.
func oneRecordBatch(value []byte) []byte {
	var rec []byte
	rec = append(rec, 0)             // attributes
	rec = kbin.AppendVarlong(rec, 0) // timestamp delta
	rec = kbin.AppendVarint(rec, 0)  // offset delta
	rec = kbin.AppendVarint(rec, -1) // null key
	rec = kbin.AppendVarint(rec, int32(len(value)))
	rec = append(rec, value...)
	rec = kbin.AppendVarint(rec, 0) // no headers
	records := append(kbin.AppendVarint(nil, int32(len(rec))), rec...)
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// Produce v13 names topics by ID only: the ID must be authorized as the
// topic it names. Before the fix, the empty name was checked, so the
// write to secret succeeded. (The listener advertises Produce up to v9; if
// it refuses v13 outright, the write must fail all the same.)
func TestProduceByTopicIDAuthorized(t *testing.T) {
	t.Parallel()
	c, _, lb := attacker(t, `"kafka-cluster:WriteData"`)
	// produce returns the partition's error code, or refused if the
	// listener refused Produce v13 itself (closed, or UNSUPPORTED_VERSION).
	produce := func(id [16]byte) (code int16, refused bool) {
		t.Helper()
		r := leaderConn(t, c, "secret")
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 13, -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = 0, oneRecordBatch([]byte("attack"))
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r.c.SetDeadline(time.Now().Add(10 * time.Second))
		kresp, err := r.do(req)
		if err != nil {
			return 0, true
		}
		resp := kresp.(*kmsg.ProduceResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("answer %+v, want one partition", resp.Topics)
		}
		code = resp.Topics[0].Partitions[0].ErrorCode
		if code == kerr.UnsupportedVersion.Code {
			return code, true
		}
		if resp.Topics[0].TopicID != id {
			t.Errorf("answer names topic ID %x, want %x", resp.Topics[0].TopicID, id)
		}
		return code, false
	}
	code, refused := produce(c.Kfake().TopicInfo("secret").TopicID)
	if p := c.Kfake().PartitionInfo("secret", 0); p == nil || p.HighWatermark != 0 {
		t.Errorf("secret[0] was written: %+v", p)
	}
	if refused {
		t.Log("Produce v13 refused by the listener: the authorization by ID is not reached")
		return
	}
	if code != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("produce v13 to secret by ID: %v, want TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
	}
	if code, refused := produce([16]byte{1, 2, 3}); !refused && code != kerr.UnknownTopicID.Code {
		t.Errorf("produce v13 to an unknown ID: %v, want UNKNOWN_TOPIC_ID", kerr.ErrorForCode(code))
	}
	if !strings.Contains(lb.String(), `"action":"kafka-cluster:WriteData","resource":"arn:aws:kafka:us-east-1:000000000000:topic/local/`) {
		t.Error("no WriteData decision on the topic's ARN in the log")
	}
}

// Fetch v13-v15 (within the advertised versions) names topics by ID: the
// ID is authorized as the topic it names.
func TestFetchByTopicIDAuthorized(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:ReadData"`)
	resp := leaderConn(t, c, "secret").must(fetchReq(15, "", c.Kfake().TopicInfo("secret").TopicID)).(*kmsg.FetchResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("fetch v15 of secret by ID: %+v, want TOPIC_AUTHORIZATION_FAILED", resp.Topics)
	}
}

// A topic deleted and created again has a new ID: the old one is unknown,
// and the new one is authorized as the topic.
func TestTopicIDResolvedAtRequestTime(t *testing.T) {
	t.Parallel()
	c, r, _ := attacker(t, `"kafka-cluster:DescribeTopic"`)
	old := c.Kfake().TopicInfo("secret").TopicID
	if err := c.Kfake().DeleteTopic("secret"); err != nil {
		t.Fatal(err)
	}
	if err := c.Kfake().CreateTopic("secret", 1, nil); err != nil {
		t.Fatal(err)
	}
	fresh := c.Kfake().TopicInfo("secret").TopicID
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	for _, id := range [][16]byte{old, fresh} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	got := map[[16]byte]int16{}
	for _, rt := range r.must(req).(*kmsg.MetadataResponse).Topics {
		got[rt.TopicID] = rt.ErrorCode
		if rt.Topic != nil {
			t.Errorf("topic %x answered with name %q", rt.TopicID, *rt.Topic)
		}
	}
	if got[old] != kerr.UnknownTopicID.Code || got[fresh] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("old ID: %v, new ID: %v; want UNKNOWN_TOPIC_ID, TOPIC_AUTHORIZATION_FAILED",
			kerr.ErrorForCode(got[old]), kerr.ErrorForCode(got[fresh]))
	}
}

// Metadata by topic ID (v12+): a topic the principal may not describe is
// answered TOPIC_AUTHORIZATION_FAILED with its ID and no name, as Kafka
// answers; kfake takes the ID over a name given with it, so a describable
// name must not carry a hidden topic's ID through.
func TestMetadataByTopicID(t *testing.T) {
	t.Parallel()
	c, r, _ := attacker(t, `"kafka-cluster:DescribeTopic"`)
	secret := c.Kfake().TopicInfo("secret").TopicID
	for _, name := range []*string{nil, kmsg.StringPtr("t")} {
		req := kmsg.NewPtrMetadataRequest()
		req.Version = 12
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic, rt.TopicID = name, secret
		req.Topics = append(req.Topics, rt)
		resp := r.must(req).(*kmsg.MetadataResponse)
		if len(resp.Topics) != 1 {
			t.Fatalf("name %v: %d topics answered, want 1", name, len(resp.Topics))
		}
		got := resp.Topics[0]
		if got.ErrorCode != kerr.TopicAuthorizationFailed.Code || got.Topic != nil || len(got.Partitions) != 0 {
			t.Errorf("name %v: %v, name %v, %d partitions; want TOPIC_AUTHORIZATION_FAILED, no name, no partitions",
				name, kerr.ErrorForCode(got.ErrorCode), got.Topic, len(got.Partitions))
		}
	}
}

// DeleteTopics v6 by ID: a topic the principal may not describe is
// refused without its name (Kafka: "the name should not be returned").
func TestDeleteTopicsByIDHidesName(t *testing.T) {
	t.Parallel()
	c, r, _ := attacker(t, `["kafka-cluster:DescribeTopic","kafka-cluster:DeleteTopic"]`)
	secret := c.Kfake().TopicInfo("secret").TopicID
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.Version, req.TimeoutMillis = 6, 5000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.TopicID = secret
	req.Topics = append(req.Topics, rt)
	// DeleteTopics goes to the controller.
	r = limitedConn(t, c, controller(t, c))
	resp := r.must(req).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 1 {
		t.Fatalf("%d topics answered, want 1", len(resp.Topics))
	}
	got := resp.Topics[0]
	if got.ErrorCode != kerr.TopicAuthorizationFailed.Code || got.Topic != nil || got.TopicID != secret {
		t.Errorf("%v, name %v; want TOPIC_AUTHORIZATION_FAILED, no name, the ID", kerr.ErrorForCode(got.ErrorCode), got.Topic)
	}
	if c.Kfake().TopicInfo("secret") == nil {
		t.Error("secret was deleted")
	}
}

// controller returns kfake's controller's node ID.
func controller(t *testing.T, c *Cluster) int32 {
	t.Helper()
	r := dialRaw(t, c, IAM, 0)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	return r.must(req).(*kmsg.MetadataResponse).ControllerID
}

// unservedKeys are the APIs kfake serves that the IAM listener does not
// offer (the share-group APIs, KIP-932): ShareFetch names topics by ID and
// its answers carry broker addresses.
var unservedKeys = []int16{76, 77, 78, 79, 90, 91, 92}

// An API the listener does not offer is refused the way Kafka refuses an
// API it does not serve: the connection is closed. Before the fix,
// ShareFetch went to kfake for anyone allowed AlterCluster.
func TestUnservedAPIsClose(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:ReadData"`)
	for _, k := range unservedKeys {
		r := limitedConn(t, c, 0)
		req := kmsg.RequestForKey(k)
		if err := r.send(req); err != nil {
			t.Fatal(err)
		}
		if !r.closed() {
			t.Errorf("%s: connection stays open", kmsg.NameForKey(k))
		}
	}
}

// adminConn is a raw connection to broker authenticated as the default
// identity, which may do anything.
func adminConn(t *testing.T, c *Cluster, broker int32) *rawConn {
	t.Helper()
	r := dialRaw(t, c, IAM, broker)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	return r
}

// partitionCodes maps "topic[partition]" to its error code.
type partitionCodes map[string]int16

func (p partitionCodes) set(topic string, partition int32, code int16) {
	p[topic+"["+itoa(partition)+"]"] = code
}

// DeleteRecords needs DeleteTopic on each topic (Kafka: DELETE topic), not
// AlterCluster: before the fix, a principal denied DeleteTopic on secret
// but allowed AlterCluster deleted its records.
func TestDeleteRecordsNeedsDeleteTopic(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:DeleteTopic"`)
	req := kmsg.NewPtrDeleteRecordsRequest()
	req.Version, req.TimeoutMillis = 2, 5000
	for _, topic := range []string{"t", "secret"} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	got := partitionCodes{}
	for _, rt := range leaderConn(t, c, "secret").must(req).(*kmsg.DeleteRecordsResponse).Topics {
		for _, rp := range rt.Partitions {
			got.set(rt.Topic, rp.Partition, rp.ErrorCode)
		}
	}
	if got["secret[0]"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("secret[0]: %v, want TOPIC_AUTHORIZATION_FAILED (all: %v)", kerr.ErrorForCode(got["secret[0]"]), got)
	}
	if code, ok := got["t[0]"]; !ok || code == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("t[0]: %v, want it answered (all: %v)", kerr.ErrorForCode(code), got)
	}
}

// DescribeProducers needs ReadData on each topic (Kafka: READ topic), not
// DescribeCluster.
func TestDescribeProducersNeedsReadData(t *testing.T) {
	t.Parallel()
	t.Run("denied topic", func(t *testing.T) {
		t.Parallel()
		_, r, _ := attacker(t, `"kafka-cluster:ReadData"`)
		req := kmsg.NewPtrDescribeProducersRequest()
		for _, topic := range []string{"t", "secret"} {
			rt := kmsg.NewDescribeProducersRequestTopic()
			rt.Topic, rt.Partitions = topic, []int32{0}
			req.Topics = append(req.Topics, rt)
		}
		got := partitionCodes{}
		for _, rt := range r.must(req).(*kmsg.DescribeProducersResponse).Topics {
			for _, rp := range rt.Partitions {
				got.set(rt.Topic, rp.Partition, rp.ErrorCode)
			}
		}
		if got["secret[0]"] != kerr.TopicAuthorizationFailed.Code {
			t.Errorf("secret[0]: %v, want TOPIC_AUTHORIZATION_FAILED (all: %v)", kerr.ErrorForCode(got["secret[0]"]), got)
		}
		if code, ok := got["t[0]"]; !ok || code == kerr.TopicAuthorizationFailed.Code {
			t.Errorf("t[0]: %v, want it answered (all: %v)", kerr.ErrorForCode(code), got)
		}
	})
	t.Run("no DescribeCluster", func(t *testing.T) {
		t.Parallel()
		c, _, _ := limitedCluster(t, `"kafka-cluster:DescribeCluster"`, `"*"`)
		req := kmsg.NewPtrDescribeProducersRequest()
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = "t", []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := leaderConn(t, c, "t").must(req).(*kmsg.DescribeProducersResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Errorf("got %+v, want t[0] described", resp.Topics)
		}
	})
}

// AddPartitionsToTxn v0-v3 needs WriteData on each topic it adds (Kafka:
// WRITE topic); if one fails, none is added. v4+ is the brokers' form
// (CLUSTER_ACTION), refused to every IAM identity.
func TestAddPartitionsToTxnChecksTopics(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:WriteData"`)
	coord := limitedConn(t, c, c.Kfake().CoordinatorFor("x"))
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, kmsg.StringPtr("x"), 60000
	ir := coord.must(init).(*kmsg.InitProducerIDResponse)
	if ir.ErrorCode != 0 {
		t.Fatalf("InitProducerID: %v", kerr.ErrorForCode(ir.ErrorCode))
	}
	req := addPartitionsToTxnReq(3)
	req.ProducerID, req.ProducerEpoch = ir.ProducerID, ir.ProducerEpoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "secret", []int32{0}
	req.Topics = append(req.Topics, rt)
	got := partitionCodes{}
	for _, rt := range coord.must(req).(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, rp := range rt.Partitions {
			got.set(rt.Topic, rp.Partition, rp.ErrorCode)
		}
	}
	if got["secret[0]"] != kerr.TopicAuthorizationFailed.Code || got["t[0]"] != kerr.OperationNotAttempted.Code {
		t.Errorf("v3: %v, want secret[0] TOPIC_AUTHORIZATION_FAILED and t[0] OPERATION_NOT_ATTEMPTED", got)
	}

	batched := addPartitionsToTxnReq(4)
	batched.Transactions[0].ProducerID, batched.Transactions[0].ProducerEpoch = ir.ProducerID, ir.ProducerEpoch
	batched.Transactions[0].Topics[0].Topic = "secret"
	if resp := coord.must(batched).(*kmsg.AddPartitionsToTxnResponse); resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("v4: %v, want CLUSTER_AUTHORIZATION_FAILED (%+v)", kerr.ErrorForCode(resp.ErrorCode), resp.Transactions)
	}
}

// OffsetDelete needs ReadData on each topic after DeleteGroup on the group
// (Kafka: DELETE group, READ topic).
func TestOffsetDeleteChecksTopics(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:ReadData"`)
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = "g"
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = "secret"
	rt.Partitions = append(rt.Partitions, kmsg.NewOffsetDeleteRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp := limitedConn(t, c, c.Kfake().CoordinatorFor("g")).must(req).(*kmsg.OffsetDeleteResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("got %v %+v, want secret[0] TOPIC_AUTHORIZATION_FAILED", kerr.ErrorForCode(resp.ErrorCode), resp.Topics)
	}
}

// Client quotas are dynamic cluster configuration (Kafka: DESCRIBE_CONFIGS
// and ALTER_CONFIGS on the cluster), not DescribeCluster/AlterCluster.
func TestClientQuotasNeedClusterConfiguration(t *testing.T) {
	t.Parallel()
	c, _, _ := limitedCluster(t, `"kafka-cluster:DescribeClusterDynamicConfiguration"`, `"*"`)
	r := limitedConn(t, c, 0)
	d := kmsg.NewPtrDescribeClientQuotasRequest()
	d.Version = 1
	if resp := r.must(d).(*kmsg.DescribeClientQuotasResponse); resp.ErrorCode != kerr.ClusterAuthorizationFailed.Code {
		t.Errorf("DescribeClientQuotas: %v, want CLUSTER_AUTHORIZATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// ListTransactions has no request-level check in Kafka: it lists the
// transactional IDs the principal may describe. It needed DescribeCluster.
func TestListTransactionsWithoutDescribeCluster(t *testing.T) {
	t.Parallel()
	c, _, _ := limitedCluster(t, `"kafka-cluster:DescribeCluster"`, `"*"`)
	req := kmsg.NewPtrListTransactionsRequest()
	req.Version = 1
	if resp := limitedConn(t, c, 0).must(req).(*kmsg.ListTransactionsResponse); resp.ErrorCode != 0 {
		t.Errorf("ListTransactions: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}

// DescribeTopicPartitions pages over the topics the principal may
// describe, as Kafka does: its NextCursor never names another. Before the
// fix, every-topic pagination stopped at secret with a cursor naming it.
func TestDescribeTopicPartitionsCursorHidesTopics(t *testing.T) {
	t.Parallel()
	_, r, _ := attacker(t, `"kafka-cluster:DescribeTopic"`, WithTopic("a", 1))
	var seen []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for page := 0; ; page++ {
		if page == 10 {
			t.Fatalf("still paging after %d pages: %v", page, seen)
		}
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = 1, cursor
		resp := r.must(req).(*kmsg.DescribeTopicPartitionsResponse)
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				seen = append(seen, *rt.Topic+"["+itoa(p.Partition)+"]")
			}
			if *rt.Topic == "secret" {
				t.Errorf("page %d lists secret", page)
			}
		}
		if resp.NextCursor == nil {
			break
		}
		if resp.NextCursor.Topic == "secret" {
			t.Fatalf("page %d: the next cursor names secret", page)
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	if want := []string{"a[0]", "t[0]", "t[1]", "t[2]"}; !slices.Equal(seen, want) {
		t.Errorf("pages listed %v, want %v", seen, want)
	}

	// Named topics, the cursor at secret: secret is refused, the listing
	// goes on after it.
	req := kmsg.NewPtrDescribeTopicPartitionsRequest()
	req.ResponsePartitionLimit = 10
	req.Cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "secret"}
	for _, name := range []string{"a", "secret", "t"} {
		req.Topics = append(req.Topics, kmsg.DescribeTopicPartitionsRequestTopic{Topic: name})
	}
	got := map[string]int16{}
	for _, rt := range r.must(req).(*kmsg.DescribeTopicPartitionsResponse).Topics {
		got[*rt.Topic] = rt.ErrorCode
		if *rt.Topic == "secret" && (len(rt.Partitions) > 0 || rt.TopicID != [16]byte{}) {
			t.Errorf("secret answered with its ID or partitions: %+v", rt)
		}
	}
	if len(got) != 2 || got["secret"] != kerr.TopicAuthorizationFailed.Code || got["t"] != 0 {
		t.Errorf("named with the cursor at secret: %v, want secret:TOPIC_AUTHORIZATION_FAILED t:0", got)
	}
}

// ConsumerGroupHeartbeat (KIP-848) refuses a subscription naming a topic
// the member may not describe (Kafka: TOPIC_AUTHORIZATION_FAILED), and an
// assignment of one (a regex subscription). Before the fix, both went to
// kfake, which assigned secret's partitions.
func TestConsumerGroupHeartbeatHidesTopics(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:DescribeTopic"`)
	secret := c.Kfake().TopicInfo("secret").TopicID
	heartbeat := func(group string, names []string, regex *string) {
		t.Helper()
		r := limitedConn(t, c, c.Kfake().CoordinatorFor(group))
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Version, req.Group, req.MemberID, req.RebalanceTimeoutMillis = 1, group, "member-"+group, 10000
		req.SubscribedTopicNames, req.SubscribedTopicRegex = names, regex
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{} // joining: owns nothing
		for i := 0; i < 20; i++ {
			resp := r.must(req).(*kmsg.ConsumerGroupHeartbeatResponse)
			if resp.Assignment != nil {
				for _, at := range resp.Assignment.Topics {
					if at.TopicID == secret {
						t.Errorf("%s: secret assigned (heartbeat %d)", group, i)
						return
					}
				}
			}
			if resp.ErrorCode == kerr.TopicAuthorizationFailed.Code {
				if resp.ErrorMessage != nil && strings.Contains(*resp.ErrorMessage, "secret") {
					t.Errorf("%s: the error message names secret: %q", group, *resp.ErrorMessage)
				}
				return
			}
			if resp.ErrorCode != 0 {
				t.Errorf("%s: %v", group, kerr.ErrorForCode(resp.ErrorCode))
				return
			}
			req.MemberEpoch = resp.MemberEpoch
			req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, nil // unchanged
			time.Sleep(50 * time.Millisecond)
		}
		t.Errorf("%s: no TOPIC_AUTHORIZATION_FAILED in 20 heartbeats", group)
	}
	heartbeat("by-name", []string{"t", "secret"}, nil)
	heartbeat("by-regex", nil, kmsg.StringPtr("secret|t"))
}

// A group's description names the topics its members subscribe to and are
// assigned: a group naming a topic the principal may not describe is
// answered TOPIC_AUTHORIZATION_FAILED without its members, as Kafka
// answers ConsumerGroupDescribe. Before the fix, the members were listed.
func TestGroupDescriptionsHideTopics(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:DescribeTopic"`)
	// A KIP-848 member of the admin, subscribed to secret.
	admin := adminConn(t, c, c.Kfake().CoordinatorFor("g848"))
	hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	hb.Version, hb.Group, hb.MemberID, hb.RebalanceTimeoutMillis = 1, "g848", "admin-member", 10000
	hb.SubscribedTopicNames, hb.Topics = []string{"secret"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if resp := admin.must(hb).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != 0 {
		t.Fatalf("admin heartbeat: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Version, cgd.Groups = 1, []string{"g848"}
	resp := limitedConn(t, c, c.Kfake().CoordinatorFor("g848")).must(cgd).(*kmsg.ConsumerGroupDescribeResponse)
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(resp.Groups[0].Members) != 0 {
		t.Errorf("ConsumerGroupDescribe: %+v, want TOPIC_AUTHORIZATION_FAILED without members", resp.Groups)
	}

	// A classic consumer group of the admin, consuming secret.
	cl, err := kgo.NewClient(append(iamOpts(c, provider(t, c, DefaultAccessKeyID, DefaultSecretAccessKey).OAuth()),
		kgo.DisableClientMetrics(), kgo.ConsumerGroup("classic"), kgo.ConsumeTopics("secret"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	ctx := reqCtx(t)
	go func() {
		for ctx.Err() == nil {
			cl.PollFetches(ctx)
		}
	}()
	if _, err := c.Kfake().WaitGroupStable(ctx, "classic", 1); err != nil {
		t.Fatal(err)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Version, dg.Groups = 5, []string{"classic"}
	dresp := limitedConn(t, c, c.Kfake().CoordinatorFor("classic")).must(dg).(*kmsg.DescribeGroupsResponse)
	if len(dresp.Groups) != 1 || dresp.Groups[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || len(dresp.Groups[0].Members) != 0 {
		t.Errorf("DescribeGroups: %+v, want TOPIC_AUTHORIZATION_FAILED without members", dresp.Groups)
	}
}

// DescribeTransactions leaves out the partitions of topics the principal
// may not describe (Kafka: "Include only partitions which the principal is
// authorized to describe"); DescribeLogDirs, ListConfigResources and
// ElectLeaders of every partition leave such topics out too. Before the
// fix, all four listed secret.
func TestTransactionsAndLogDirsHideTopics(t *testing.T) {
	t.Parallel()
	c, r, _ := attacker(t, `"kafka-cluster:DescribeTopic"`)
	admin := adminConn(t, c, c.Kfake().CoordinatorFor("x"))
	init := kmsg.NewPtrInitProducerIDRequest()
	init.Version, init.TransactionalID, init.TransactionTimeoutMillis = 4, kmsg.StringPtr("x"), 60000
	ir := admin.must(init).(*kmsg.InitProducerIDResponse)
	add := addPartitionsToTxnReq(3)
	add.ProducerID, add.ProducerEpoch = ir.ProducerID, ir.ProducerEpoch
	add.Topics = append(add.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: "secret", Partitions: []int32{0}})
	for _, rt := range admin.must(add).(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("admin AddPartitionsToTxn %s: %v", rt.Topic, kerr.ErrorForCode(p.ErrorCode))
			}
		}
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"x"}
	var topics []string
	for _, st := range limitedConn(t, c, c.Kfake().CoordinatorFor("x")).must(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates {
		for _, tt := range st.Topics {
			topics = append(topics, tt.Topic)
		}
	}
	if !slices.Equal(topics, []string{"t"}) {
		t.Errorf("DescribeTransactions lists topics %v, want [t]", topics)
	}

	ld := kmsg.NewPtrDescribeLogDirsRequest()
	ld.Version = 4
	topics = nil
	for _, d := range r.must(ld).(*kmsg.DescribeLogDirsResponse).Dirs {
		for _, tt := range d.Topics {
			topics = append(topics, tt.Topic)
		}
	}
	if slices.Contains(topics, "secret") || !slices.Contains(topics, "t") {
		t.Errorf("DescribeLogDirs lists topics %v, want t and not secret", topics)
	}

	lcr := kmsg.NewPtrListConfigResourcesRequest()
	lcr.Version, lcr.ResourceTypes = 1, []int8{int8(kmsg.ConfigResourceTypeTopic)}
	var names []string
	for _, cr := range r.must(lcr).(*kmsg.ListConfigResourcesResponse).ConfigResources {
		names = append(names, cr.Name)
	}
	if slices.Contains(names, "secret") {
		t.Errorf("ListConfigResources lists %v, with secret", names)
	}

	el := kmsg.NewPtrElectLeadersRequest() // null topics: every partition
	el.Version, el.TimeoutMillis = 2, 5000
	topics = nil
	for _, tt := range limitedConn(t, c, controller(t, c)).must(el).(*kmsg.ElectLeadersResponse).Topics {
		topics = append(topics, tt.Topic)
	}
	if slices.Contains(topics, "secret") || !slices.Contains(topics, "t") {
		t.Errorf("ElectLeaders of every partition lists topics %v, want t and not secret", topics)
	}
}

// kfake numbers fetch sessions (KIP-227) 1, 2, 3... per broker and
// authorizes only the partitions a request names, so another principal's
// incremental fetch could read a victim's session partitions by guessing
// its ID and epoch. A session belongs to the connection that created it;
// another gets FETCH_SESSION_ID_NOT_FOUND, and cannot close it either.
// Before the fix, the attacker read secret's records.
func TestFetchSessionBelongsToItsConnection(t *testing.T) {
	t.Parallel()
	c, _, _ := attacker(t, `"kafka-cluster:ReadData"`)
	leader := c.Kfake().LeaderFor("secret", 0)
	admin := adminConn(t, c, leader)
	p := produceReq(9, "secret")
	if resp := admin.must(p).(*kmsg.ProduceResponse); resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("admin produce: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
	// The victim's session: a full fetch of secret[0], epoch 0.
	f := fetchReq(12, "secret", [16]byte{})
	f.SessionID, f.SessionEpoch = 0, 0
	vresp := admin.must(f).(*kmsg.FetchResponse)
	if vresp.ErrorCode != 0 || vresp.SessionID <= 0 {
		t.Fatalf("victim's session: %v, ID %d", kerr.ErrorForCode(vresp.ErrorCode), vresp.SessionID)
	}
	// The attacker continues it from offset 0 again: an incremental
	// fetch naming no partition returns the session's.
	if p := c.Kfake().PartitionInfo("secret", 0); p.HighWatermark != 1 {
		t.Fatalf("secret[0] high watermark %d, want 1", p.HighWatermark)
	}
	r := limitedConn(t, c, leader)
	hijack := kmsg.NewPtrFetchRequest()
	hijack.Version, hijack.MaxBytes, hijack.SessionID, hijack.SessionEpoch = 12, 1<<20, vresp.SessionID, 1
	resp := r.must(hijack).(*kmsg.FetchResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if len(rp.RecordBatches) > 0 || rt.Topic == "secret" {
				t.Errorf("the attacker's fetch answers %s[%d] (%d bytes of records)", rt.Topic, rp.Partition, len(rp.RecordBatches))
			}
		}
	}
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Errorf("attacker's fetch in the victim's session: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(resp.ErrorCode))
	}
	// The session still works for its owner.
	next := kmsg.NewPtrFetchRequest()
	next.Version, next.MaxBytes, next.SessionID, next.SessionEpoch = 12, 1<<20, vresp.SessionID, 1
	if resp := admin.must(next).(*kmsg.FetchResponse); resp.ErrorCode != 0 {
		t.Errorf("owner's incremental fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
}
