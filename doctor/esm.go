package doctor

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// WithESM diagnoses the connection as Lambda's event source mapping (an
// MSK trigger) uses it with the function's execution role: after the
// connection layers, the authz layer tries, with the requests the mapping
// sends, everything its consumer needs and nothing it does not (no write
// probes):
//
//   - authz describe_topic: Metadata for the topic (DescribeTopic;
//     cause authz_topic);
//   - authz describe_configs: DescribeConfigs of a broker
//     (DescribeClusterDynamicConfiguration; cause authz_cluster_config);
//   - authz group_describe: FindCoordinator and OffsetFetch of the topic's
//     partitions for the group (DescribeGroup; cause authz_group);
//   - authz read_data: a Fetch of partition 0 from the group's committed
//     offset (ReadData; cause authz_read);
//   - authz group_commit: an OffsetCommit of that offset as a member that
//     does not exist (AlterGroup, then ReadData: causes authz_group,
//     authz_read). The broker authorizes the commit before it looks at the
//     member, then rejects it (UNKNOWN_MEMBER_ID or ILLEGAL_GENERATION):
//     nothing is committed and the group, the mapping's own, is not
//     disturbed: the doctor never joins it.
//
// Each denial's fix names the statement of `msklink policy generate --esm`
// that grants it. WithESM needs WithTopic and WithGroup (the mapping's
// UUID, or its ConsumerGroupId); without a group the group checks are
// skipped. Default off.
func WithESM(on bool) Opt { return func(o *options) { o.esm = on } }

// esmPolicy is the command whose statements the ESM fixes name.
func (d *diag) esmPolicy() string {
	g := d.o.group
	if g == "" {
		g = "GROUP"
	}
	return fmt.Sprintf("msklink policy generate --esm --cluster-arn ARN --topic %s --group %s", d.o.topic, g)
}

// esmFix makes the fix of a denial (the verdict is cause) name the
// policy statement that grants it. Other verdicts (a broker that did not
// answer) keep their fix.
func (d *diag) esmFix(cause, actions, resource, sid string) {
	if d.cause == cause {
		d.fix = fmt.Sprintf("allow %s on %s to the function's execution role: the %q statement of `%s`", actions, resource, sid, d.esmPolicy())
	}
}

// checkESM runs the event source mapping's authorization checks.
func (d *diag) checkESM(ctx context.Context, md *kmsg.MetadataResponse) bool {
	topic, group := d.o.topic, d.o.group
	topicARN := "arn:aws:kafka:REGION:ACCOUNT:topic/CLUSTER/UUID/" + topic
	groupARN := "arn:aws:kafka:REGION:ACCOUNT:group/CLUSTER/UUID/" + group
	mt, lw, ok := d.describeTopic(md)
	if !ok {
		d.esmFix(CauseAuthzTopic, "kafka-cluster:DescribeTopic and ReadData", topicARN, "ReadTopics")
		return false
	}
	var anyc *wconn
	var anyID int32
	for id, w := range d.conns {
		anyc, anyID = w, id
		break
	}

	if !d.probe(ctx, "authz describe_configs", Fail, CauseAuthzClusterConfig, func(ctx context.Context) (string, string, error) {
		req := kmsg.NewPtrDescribeConfigsRequest()
		v, _ := anyc.version(32, 4)
		req.SetVersion(v)
		res := kmsg.NewDescribeConfigsRequestResource()
		res.ResourceType = kmsg.ConfigResourceTypeBroker
		res.ResourceName = strconv.Itoa(int(anyID))
		req.Resources = append(req.Resources, res)
		r, err := anyc.request(ctx, req)
		if err != nil {
			return "", "", err
		}
		rs := r.(*kmsg.DescribeConfigsResponse)
		code := int16(-1)
		if len(rs.Resources) > 0 {
			code = rs.Resources[0].ErrorCode
		}
		if code == kerr.ClusterAuthorizationFailed.Code {
			return fmt.Sprintf("DescribeConfigs of broker %d: CLUSTER_AUTHORIZATION_FAILED: kafka-cluster:DescribeClusterDynamicConfiguration denied", anyID),
				"kafka-cluster:DescribeClusterDynamicConfiguration is denied on the cluster (the event source mapping reads the brokers' configuration)", nil
		}
		if code != 0 {
			return "", "", fmt.Errorf("DescribeConfigs of broker %d: %w", anyID, kerr.ErrorForCode(code))
		}
		n := 0
		if len(rs.Resources) > 0 {
			n = len(rs.Resources[0].Configs)
		}
		return fmt.Sprintf("DescribeConfigs of broker %d allowed (%d settings)", anyID, n), "", nil
	}) {
		d.esmFix(CauseAuthzClusterConfig, "kafka-cluster:DescribeClusterDynamicConfiguration", "the cluster ARN", "Cluster")
		return false
	}

	if group == "" {
		d.add("authz", "authz group", Skip, 0, "no group given (--group: the mapping's UUID, or its ConsumerGroupId)")
		if !d.probe(ctx, "authz read_data", Fail, CauseAuthzRead, d.fetchProbe(lw, 0)) {
			d.esmFix(CauseAuthzRead, "kafka-cluster:ReadData", topicARN, "ReadTopics")
			return false
		}
		return true
	}

	var coord *wconn
	committed := int64(-1)
	if !d.probe(ctx, "authz group_describe", Fail, CauseAuthzGroup, func(ctx context.Context) (string, string, error) {
		var node int32
		var detail, denied string
		var err error
		if coord, node, detail, denied, err = d.findCoordinator(ctx, anyc); coord == nil {
			return detail, denied, err
		}
		req2 := kmsg.NewPtrOffsetFetchRequest()
		v2, _ := coord.version(9, 7)
		req2.SetVersion(v2)
		req2.Group = group
		ot := kmsg.NewOffsetFetchRequestTopic()
		ot.Topic = topic
		for _, p := range mt.Partitions {
			ot.Partitions = append(ot.Partitions, p.Partition)
		}
		req2.Topics = append(req2.Topics, ot)
		r2, err := coord.request(ctx, req2)
		if err != nil {
			return "", "", err
		}
		rs2 := r2.(*kmsg.OffsetFetchResponse)
		if rs2.ErrorCode == kerr.GroupAuthorizationFailed.Code {
			return fmt.Sprintf("OffsetFetch for group %q: GROUP_AUTHORIZATION_FAILED: kafka-cluster:DescribeGroup denied", group), fmt.Sprintf("kafka-cluster:DescribeGroup is denied on group %q", group), nil
		}
		switch rs2.ErrorCode {
		case 0:
		case kerr.GroupIDNotFound.Code:
			// A mapping's group exists once the mapping has started.
			return fmt.Sprintf("FindCoordinator: broker %d; OffsetFetch allowed; group %q does not exist yet (the mapping creates it when it starts, at its StartingPosition)", node, group), "", nil
		default:
			return "", "", fmt.Errorf("OffsetFetch: %w", kerr.ErrorForCode(rs2.ErrorCode))
		}
		offsets := ""
		for _, t := range rs2.Topics {
			for _, p := range t.Partitions {
				if p.Partition == 0 {
					committed = p.Offset
				}
				if p.Offset >= 0 {
					offsets += fmt.Sprintf(" %d=%d", p.Partition, p.Offset)
				}
			}
		}
		if offsets == "" {
			offsets = " none yet (the mapping starts at its StartingPosition)"
		}
		return fmt.Sprintf("FindCoordinator: broker %d; OffsetFetch allowed; committed offsets of %s:%s", node, topic, offsets), "", nil
	}) {
		d.esmFix(CauseAuthzGroup, "kafka-cluster:DescribeGroup and AlterGroup", groupARN, "ConsumerGroups")
		return false
	}

	from := max(committed, 0)
	if !d.probe(ctx, "authz read_data", Fail, CauseAuthzRead, d.fetchProbe(lw, from)) {
		d.esmFix(CauseAuthzRead, "kafka-cluster:ReadData", topicARN, "ReadTopics")
		return false
	}

	topicDenied := false
	ok = d.probe(ctx, "authz group_commit", Fail, CauseAuthzGroup, func(ctx context.Context) (string, string, error) {
		req := kmsg.NewPtrOffsetCommitRequest()
		v, _ := coord.version(8, 8)
		req.SetVersion(v)
		req.Group = group
		req.Generation = 1
		req.MemberID = "msklink-doctor-probe"
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, from, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		r, err := coord.request(ctx, req)
		if err != nil {
			return "", "", err
		}
		code := int16(-1)
		if rs := r.(*kmsg.OffsetCommitResponse); len(rs.Topics) > 0 && len(rs.Topics[0].Partitions) > 0 {
			code = rs.Topics[0].Partitions[0].ErrorCode
		}
		switch code {
		case kerr.GroupAuthorizationFailed.Code:
			return fmt.Sprintf("OffsetCommit for group %q: GROUP_AUTHORIZATION_FAILED: kafka-cluster:AlterGroup denied (the mapping joins the group and commits with it)", group),
				fmt.Sprintf("kafka-cluster:AlterGroup is denied on group %q", group), nil
		case kerr.TopicAuthorizationFailed.Code:
			topicDenied = true
			return fmt.Sprintf("OffsetCommit of %s/0: TOPIC_AUTHORIZATION_FAILED: kafka-cluster:ReadData denied (a commit needs it on the topic)", topic),
				fmt.Sprintf("kafka-cluster:ReadData is denied on topic %q", topic), nil
		}
		return fmt.Sprintf("allowed: a commit from a member that does not exist was answered %v (nothing committed)", codeName(code)), "", nil
	})
	if !ok && topicDenied {
		d.cause = CauseAuthzRead // the probe's cause is the group's
	}
	d.esmFix(CauseAuthzGroup, "kafka-cluster:AlterGroup and DescribeGroup", groupARN, "ConsumerGroups")
	d.esmFix(CauseAuthzRead, "kafka-cluster:ReadData", topicARN, "ReadTopics")
	return ok
}
