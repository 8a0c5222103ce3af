package emulator

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// limitedCluster starts a cluster (topic "t" plus opts) with an identity
// "limited" allowed kafka-cluster:* except what deny denies (a Deny
// statement's Action and Resource JSON), and returns a client for it.
func limitedCluster(t *testing.T, denyAction, denyResource string, opts ...Opt) (*Cluster, *kgo.Client, *logBuf) {
	t.Helper()
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kafka-cluster:*","Resource":"*"},
		{"Sid":"Limit","Effect":"Deny","Action":` + denyAction + `,"Resource":` + denyResource + `}]}`
	c, lb := startCluster(t, append(opts, WithIdentity(Identity{Name: "limited", ARN: "arn:aws:iam::000000000000:user/limited",
		AccessKeyID: "AKIALIMITED000000000", SecretAccessKey: "secret-2", Policies: []json.RawMessage{json.RawMessage(policy)}}))...)
	cl, err := kgo.NewClient(append(iamOpts(c, provider(t, c, "AKIALIMITED000000000", "secret-2").OAuth()),
		kgo.DisableClientMetrics(), kgo.RequestRetries(1))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c, cl, lb
}

func reqCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Kafka authorizes OffsetCommit with READ on the group and READ on each
// topic: MSK's AlterGroup and ReadData.
func TestOffsetCommitNeedsReadData(t *testing.T) {
	t.Parallel()
	c, cl, lb := limitedCluster(t, `"kafka-cluster:ReadData"`, `"arn:aws:kafka:*:*:topic/local/*/denied"`, WithTopic("denied", 1))
	names := map[[16]byte]string{}
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = "g", -1
	for _, name := range []string{"t", "denied"} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = name, c.Kfake().TopicInfo(name).TopicID // v10+ names topics by ID
		names[rt.TopicID] = name
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		name := rt.Topic
		if name == "" {
			name = names[rt.TopicID]
		}
		for _, rp := range rt.Partitions {
			got[name] = rp.ErrorCode
		}
	}
	if got["denied"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("denied topic: %v, want TOPIC_AUTHORIZATION_FAILED (all: %v)", kerr.ErrorForCode(got["denied"]), got)
	}
	if _, ok := got["t"]; !ok || got["t"] == kerr.TopicAuthorizationFailed.Code {
		t.Errorf("allowed topic t: %v (all: %v)", kerr.ErrorForCode(got["t"]), got)
	}
	if !strings.Contains(lb.String(), `"action":"kafka-cluster:ReadData"`) {
		t.Error("no ReadData audit line")
	}
}

// With auto-creation on, Kafka answers TOPIC_AUTHORIZATION_FAILED for a
// missing topic the principal may not create, and still creates the others.
func TestMetadataAutoCreatePerTopic(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:CreateTopic"`, `"arn:aws:kafka:*:*:topic/local/*/nocreate"`, WithAutoCreateTopics())
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = true
	for _, name := range []string{"create-me", "nocreate"} {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	if got["nocreate"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("nocreate: %v, want TOPIC_AUTHORIZATION_FAILED (all: %v)", kerr.ErrorForCode(got["nocreate"]), got)
	}
	if c.Kfake().TopicInfo("create-me") == nil {
		t.Errorf("create-me was not created (errors: %v)", got)
	}
	if c.Kfake().TopicInfo("nocreate") != nil {
		t.Error("nocreate was created")
	}
}

// Kafka deletes the topics the principal may delete and answers
// TOPIC_AUTHORIZATION_FAILED for the others.
func TestDeleteTopicsPerTopic(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:DeleteTopic"`, `"arn:aws:kafka:*:*:topic/local/*/keep"`, WithTopic("keep", 1), WithTopic("gone", 1))
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 5000
	for _, name := range []string{"gone", "keep"} {
		req.TopicNames = append(req.TopicNames, name)
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	if got["keep"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("keep: %v, want TOPIC_AUTHORIZATION_FAILED (all: %v)", kerr.ErrorForCode(got["keep"]), got)
	}
	if code, ok := got["gone"]; !ok || code != 0 {
		t.Errorf("gone: %v, want deleted (all: %v)", kerr.ErrorForCode(code), got)
	}
	if c.Kfake().TopicInfo("keep") == nil {
		t.Error("keep was deleted")
	}
}

// A Metadata request whose topics are all denied lists only those topics,
// not every topic (an empty list is not a null one).
func TestMetadataAllRequestedDenied(t *testing.T) {
	t.Parallel()
	_, cl, _ := limitedCluster(t, `"kafka-cluster:DescribeTopic"`, `"arn:aws:kafka:*:*:topic/local/*/hidden"`, WithTopic("hidden", 1))
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("hidden")
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	if len(got) != 1 || got["hidden"] != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("got %v, want hidden:TOPIC_AUTHORIZATION_FAILED alone", got)
	}
}

// A fetch whose partitions are all denied is answered at once, as Kafka
// does, not after MaxWait.
func TestFetchAllDeniedAnswersAtOnce(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:ReadData"`, `"*"`)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10000, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "t", c.Kfake().TopicInfo("t").TopicID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = 0, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second { // far below MaxWait, even on a loaded machine
		t.Errorf("answered after %v, want at once", took)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Errorf("got %+v, want TOPIC_AUTHORIZATION_FAILED for t[0]", resp.Topics)
	}
}

// Config changes are authorized per resource, as in Kafka: the legacy
// AlterConfigs too (it needed AlterCluster, and a denial closed the
// connection), and IncrementalAlterConfigs alters the allowed resources.
func TestAlterConfigsPerResource(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:AlterTopicDynamicConfiguration"`, `"arn:aws:kafka:*:*:topic/local/*/locked"`, WithTopic("locked", 1))
	check := func(api string, got map[string]int16) {
		t.Helper()
		if got["locked"] != kerr.TopicAuthorizationFailed.Code || got["t"] != 0 {
			t.Errorf("%s: %v, want locked:TOPIC_AUTHORIZATION_FAILED t:0", api, got)
		}
	}
	legacy := kmsg.NewPtrAlterConfigsRequest()
	incr := kmsg.NewPtrIncrementalAlterConfigsRequest()
	for _, name := range []string{"t", "locked"} {
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, name
		cfg := kmsg.NewAlterConfigsRequestResourceConfig()
		cfg.Name, cfg.Value = "retention.ms", kmsg.StringPtr("1000000")
		r.Configs = append(r.Configs, cfg)
		legacy.Resources = append(legacy.Resources, r)

		ir := kmsg.NewIncrementalAlterConfigsRequestResource()
		ir.ResourceType, ir.ResourceName = kmsg.ConfigResourceTypeTopic, name
		icfg := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		icfg.Name, icfg.Value = "retention.ms", kmsg.StringPtr("2000000")
		ir.Configs = append(ir.Configs, icfg)
		incr.Resources = append(incr.Resources, ir)
	}
	lresp, err := legacy.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, r := range lresp.Resources {
		got[r.ResourceName] = r.ErrorCode
	}
	check("AlterConfigs", got)
	iresp, err := incr.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]int16{}
	for _, r := range iresp.Resources {
		got[r.ResourceName] = r.ErrorCode
	}
	check("IncrementalAlterConfigs", got)
	if v := c.Kfake().TopicInfo("t").Configs["retention.ms"]; v == nil || *v != "2000000" {
		t.Error("IncrementalAlterConfigs did not alter t (retention.ms is not 2000000)")
	}
}

// DescribeTopicPartitions needs DescribeTopic per topic and
// ConsumerGroupDescribe DescribeGroup per group, not DescribeCluster.
func TestDescribeTopicPartitionsAndConsumerGroupDescribe(t *testing.T) {
	t.Parallel()
	_, cl, _ := limitedCluster(t, `["kafka-cluster:DescribeTopic","kafka-cluster:DescribeGroup"]`,
		`["arn:aws:kafka:*:*:topic/local/*/hidden","arn:aws:kafka:*:*:group/local/*/hidden"]`, WithTopic("hidden", 1))
	dtp := kmsg.NewPtrDescribeTopicPartitionsRequest()
	for _, name := range []string{"t", "hidden"} {
		rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
		rt.Topic = name
		dtp.Topics = append(dtp.Topics, rt)
	}
	resp, err := dtp.RequestWith(reqCtx(t), cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int16{}
	for _, rt := range resp.Topics {
		got[*rt.Topic] = rt.ErrorCode
	}
	if got["hidden"] != kerr.TopicAuthorizationFailed.Code || got["t"] != 0 {
		t.Errorf("DescribeTopicPartitions: %v, want hidden:TOPIC_AUTHORIZATION_FAILED t:0", got)
	}
	all := kmsg.NewPtrDescribeTopicPartitionsRequest()
	if resp, err = all.RequestWith(reqCtx(t), cl); err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if *rt.Topic == "hidden" {
			t.Error("DescribeTopicPartitions of every topic lists hidden")
		}
	}

	cgd := kmsg.NewPtrConsumerGroupDescribeRequest()
	cgd.Groups = []string{"hidden"}
	// To a broker directly: kgo would ask FindCoordinator first, which
	// DescribeGroup denies already.
	r, err := cl.Broker(0).RetriableRequest(reqCtx(t), cgd)
	if err != nil {
		t.Fatal(err)
	}
	gresp := r.(*kmsg.ConsumerGroupDescribeResponse)
	if len(gresp.Groups) != 1 || gresp.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("ConsumerGroupDescribe: %+v, want GROUP_AUTHORIZATION_FAILED", gresp.Groups)
	}
}

// A transactional produce needs AlterTransactionalId on its ID.
func TestProduceTransactionalIDDenied(t *testing.T) {
	t.Parallel()
	_, cl, _ := limitedCluster(t, `"kafka-cluster:AlterTransactionalId"`, `"*"`)
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr("txn"), -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	r, err := cl.Broker(0).RetriableRequest(reqCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	resp := r.(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
		resp.Topics[0].Partitions[0].ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Errorf("got %+v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED for t[0]", resp.Topics)
	}
}

// OffsetFetch needs DescribeTopic on each topic, as Kafka's DESCRIBE
// TOPIC: a topic asked for gets TOPIC_AUTHORIZATION_FAILED, and one the
// principal may not describe is left out of "every topic".
func TestOffsetFetchNeedsDescribeTopic(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:DescribeTopic"`, `"arn:aws:kafka:*:*:topic/local/*/hidden"`, WithTopic("hidden", 1))
	names := map[[16]byte]string{}
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "g", -1
	for _, name := range []string{"t", "hidden"} {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = name, c.Kfake().TopicInfo(name).TopicID
		names[rt.TopicID] = name
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 7
		rt.Partitions = append(rt.Partitions, rp)
		commit.Topics = append(commit.Topics, rt)
	}
	if _, err := commit.RequestWith(reqCtx(t), cl); err != nil {
		t.Fatal(err)
	}
	// By hand, at the group's coordinator: kgo itself would fail hidden
	// for lack of metadata before asking.
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	fcr, err := fc.RequestWith(reqCtx(t), cl)
	if err != nil || fcr.ErrorCode != 0 {
		t.Fatalf("FindCoordinator: %v %v", err, fcr)
	}
	r := dialRaw(t, c, IAM, fcr.NodeID)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, "AKIALIMITED000000000", "secret-2", time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	fetch := func(version int16, topics []string) map[string]int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = version
		rg := kmsg.NewOffsetFetchRequestGroup()
		req.Group, rg.Group = "g", "g"
		for _, name := range topics {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = name, []int32{0}
			req.Topics = append(req.Topics, rt)
			gt := kmsg.NewOffsetFetchRequestGroupTopic()
			gt.Topic, gt.TopicID, gt.Partitions = name, c.Kfake().TopicInfo(name).TopicID, []int32{0}
			rg.Topics = append(rg.Topics, gt)
		}
		req.Groups = append(req.Groups, rg)
		kresp, err := r.do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp := kresp.(*kmsg.OffsetFetchResponse)
		got := map[string]int16{}
		for _, g := range resp.Groups {
			for _, rt := range g.Topics {
				name := rt.Topic
				if name == "" {
					name = names[rt.TopicID]
				}
				for _, p := range rt.Partitions {
					got[name] = p.ErrorCode
				}
			}
		}
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				got[rt.Topic] = p.ErrorCode
			}
		}
		return got
	}
	for _, v := range []int16{7, 8, 10} {
		if got := fetch(v, []string{"t", "hidden"}); got["hidden"] != kerr.TopicAuthorizationFailed.Code || got["t"] != 0 {
			t.Errorf("v%d t and hidden: %v, want hidden:TOPIC_AUTHORIZATION_FAILED t:0", v, got)
		}
		if got := fetch(v, nil); len(got) == 0 || got["t"] != 0 {
			t.Errorf("v%d every topic: %v, want t", v, got)
		} else if _, ok := got["hidden"]; ok {
			t.Errorf("v%d every topic: %v lists hidden", v, got)
		}
	}
}

// The per-topic and per-group checks Kafka makes on OffsetForLeaderEpoch
// (DESCRIBE topic), AddOffsetsToTxn (READ group) and TxnOffsetCommit
// (READ group, READ topic), sent to a broker by hand.
func TestTopicAndGroupChecksByHand(t *testing.T) {
	t.Parallel()
	send := func(t *testing.T, cl *kgo.Client, req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := cl.Broker(0).RetriableRequest(reqCtx(t), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	t.Run("OffsetForLeaderEpoch", func(t *testing.T) {
		t.Parallel()
		_, cl, _ := limitedCluster(t, `"kafka-cluster:DescribeTopic"`, `"arn:aws:kafka:*:*:topic/local/*/hidden"`, WithTopic("hidden", 1))
		req := kmsg.NewPtrOffsetForLeaderEpochRequest()
		for _, name := range []string{"t", "hidden"} {
			rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
			rt.Topic = name
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.Partition, rp.LeaderEpoch, rp.CurrentLeaderEpoch = 0, 0, -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		got := map[string]int16{}
		for _, rt := range send(t, cl, req).(*kmsg.OffsetForLeaderEpochResponse).Topics {
			got[rt.Topic] = rt.Partitions[0].ErrorCode
		}
		if code, ok := got["t"]; got["hidden"] != kerr.TopicAuthorizationFailed.Code || !ok || code == kerr.TopicAuthorizationFailed.Code {
			t.Errorf("%v, want hidden:TOPIC_AUTHORIZATION_FAILED and t answered", got)
		}
	})
	t.Run("AddOffsetsToTxn", func(t *testing.T) {
		t.Parallel()
		_, cl, _ := limitedCluster(t, `"kafka-cluster:AlterGroup"`, `"*"`)
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "txn", 1, 0, "g"
		if code := send(t, cl, req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
			t.Errorf("%v, want GROUP_AUTHORIZATION_FAILED", kerr.ErrorForCode(code))
		}
	})
	t.Run("TxnOffsetCommit", func(t *testing.T) {
		t.Parallel()
		c, cl, _ := limitedCluster(t, `"kafka-cluster:ReadData"`, `"arn:aws:kafka:*:*:topic/local/*/hidden"`, WithTopic("hidden", 1))
		names := map[[16]byte]string{}
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "txn", "g", 1, 0
		for _, name := range []string{"t", "hidden"} {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic, rt.TopicID = name, c.Kfake().TopicInfo(name).TopicID // v6+ by ID
			names[rt.TopicID] = name
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = 0, 1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
		}
		got := map[string]int16{}
		for _, rt := range send(t, cl, req).(*kmsg.TxnOffsetCommitResponse).Topics {
			name := rt.Topic
			if name == "" {
				name = names[rt.TopicID]
			}
			got[name] = rt.Partitions[0].ErrorCode
		}
		if code, ok := got["t"]; got["hidden"] != kerr.TopicAuthorizationFailed.Code || !ok || code == kerr.TopicAuthorizationFailed.Code {
			t.Errorf("%v, want hidden:TOPIC_AUTHORIZATION_FAILED and t answered", got)
		}
	})
}

// A request without a precise mapping, denied, closes the connection; the
// log line says which action to allow.
func TestUnmappedDenialSaysWhatToAllow(t *testing.T) {
	t.Parallel()
	c, _, lb := limitedCluster(t, `"kafka-cluster:DescribeCluster"`, `"*"`)
	r := dialRaw(t, c, IAM, 0)
	if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, "AKIALIMITED000000000", "secret-2", time.Now())); ar.ErrorCode != 0 {
		t.Fatalf("auth: %+v", ar)
	}
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType, req.Operation, req.PermissionType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny, kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if err := r.send(req); err != nil {
		t.Fatal(err)
	}
	if !r.closed() {
		t.Fatal("connection stays open")
	}
	if logs := lb.String(); !strings.Contains(logs, `"fix":"allow kafka-cluster:DescribeCluster on arn:aws:kafka:us-east-1:000000000000:cluster/local/`) {
		t.Errorf("no fix in the log:\n%s", logs)
	}
}

// ListGroups lists every group to a principal allowed DescribeCluster, as
// Kafka's DESCRIBE CLUSTER does, even without DescribeGroup.
func TestListGroupsWithDescribeCluster(t *testing.T) {
	t.Parallel()
	c, cl, _ := limitedCluster(t, `"kafka-cluster:DescribeGroup"`, `"*"`)
	// A group to list, committed by the unrestricted admin.
	admin, err := kgo.NewClient(append(iamOpts(c, provider(t, c, DefaultAccessKeyID, DefaultSecretAccessKey).OAuth()), kgo.DisableClientMetrics())...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.Group, commit.Generation = "listed", -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = "t", c.Kfake().TopicInfo("t").TopicID
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Offset = 1
	rt.Partitions = append(rt.Partitions, rp)
	commit.Topics = append(commit.Topics, rt)
	if _, err := commit.RequestWith(reqCtx(t), admin); err != nil {
		t.Fatal(err)
	}
	list := kmsg.NewPtrListGroupsRequest()
	shards := cl.RequestSharded(reqCtx(t), list)
	var groups []string
	for _, sh := range shards {
		if sh.Err != nil {
			t.Fatal(sh.Err)
		}
		for _, g := range sh.Resp.(*kmsg.ListGroupsResponse).Groups {
			groups = append(groups, g.Group)
		}
	}
	if !slices.Contains(groups, "listed") {
		t.Errorf("groups %v, want listed", groups)
	}
}
