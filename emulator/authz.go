package emulator

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/kafkawire"
)

// Authorization on the IAM listener. Each request is mapped to the
// kafka-cluster actions MSK requires for it (MSK developer guide, "IAM access
// control" and "Semantics of IAM authorization policy actions and
// resources", https://docs.aws.amazon.com/msk/latest/developerguide/kafka-actions.html,
// which maps each action to the Kafka ACL it stands for), evaluated with package iampolicy against the policies of the
// authenticated identity. Denied parts get Kafka's own error codes: denied
// topics are removed from the forwarded request and added back to kfake's
// response with TOPIC_AUTHORIZATION_FAILED; a request denied as a whole is
// answered locally (GROUP_, CLUSTER_, TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
// The cluster-level APIs (clusterActions) need DescribeCluster or
// AlterCluster; when denied, the connection is closed, since there is no
// generic error response. An API kfake serves that is not mapped here is
// refused by closing the connection. Each case cites Kafka's rule
// (core/src/main/scala/kafka/server/KafkaApis.scala); TestAuthzTable pins
// every API key to its actions and resources.
//
// Each decision is one "authz" log line (principal, action, resource,
// decision, reason): denials at Info, allows at Debug, since every
// produce and fetch is a decision.

var (
	errTopicAuthz = kerr.TopicAuthorizationFailed.Code
	errGroupAuthz = kerr.GroupAuthorizationFailed.Code
	errClusterAz  = kerr.ClusterAuthorizationFailed.Code
	errTxnAuthz   = kerr.TransactionalIDAuthorizationFailed.Code
)

// allowed evaluates one action on one resource for the session and logs the
// decision.
func (c *conn) allowed(api int16, action iampolicy.Action, resource string) bool {
	cl := c.l.b.c
	var (
		principal string
		pols      []*iampolicy.Policy
	)
	// Not c.sess: response hooks call this from the write loop while the
	// read loop may be re-authenticating.
	if a := c.authn.Load(); a != nil {
		principal = a.principal
		if a.ident != nil {
			pols = a.ident.policies
		}
	}
	d := iampolicy.EvaluateAll(pols, string(action), resource)
	word, lvl := "allow", slog.LevelDebug
	if !d.Allowed() {
		word, lvl = "deny", slog.LevelInfo
	}
	// Every produce and fetch comes here: build the line only if it is
	// logged.
	if ctx := context.Background(); cl.log.Enabled(ctx, lvl) {
		cl.log.Log(ctx, lvl, "authz", "principal", principal, "action", string(action), "resource", resource,
			"decision", word, "reason", d.String(), "api", kmsg.NameForKey(api), "broker", c.l.b.id)
	}
	return d.Allowed()
}

func (c *conn) topicARN(t string) string { return c.l.b.c.arn.Topic(t) }
func (c *conn) groupARN(g string) string { return c.l.b.c.arn.Group(g) }
func (c *conn) txnARN(t string) string   { return c.l.b.c.arn.TransactionalID(t) }
func (c *conn) clusterARN() string       { return c.l.b.c.arn.String() }
func reencode(h kafkawire.Header, r kmsg.Request) []byte {
	return kafkawire.EncodeRequestFrame(h, r)[4:]
}

// authorize returns the frame to forward (possibly reduced), functions that
// complete kfake's response, or a local response; out == nil and local ==
// nil means nothing is forwarded and nothing answered (acks=0 produce).
func (c *conn) authorize(h kafkawire.Header, frame []byte) (out []byte, post []func(kmsg.Response), local kmsg.Response, err error) {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return nil, nil, nil, err
	}
	k := h.Key
	switch req := kreq.(type) {
	case *kmsg.ProduceRequest:
		// Kafka: a transactional produce needs WRITE on the
		// transactional ID (AlterTransactionalId), else every partition
		// gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
		if req.TransactionID != nil && !c.allowed(k, iampolicy.AlterTransactionalId, c.txnARN(*req.TransactionID)) {
			if req.Acks == 0 {
				return nil, nil, nil, nil
			}
			resp := kmsg.NewPtrProduceResponse()
			for _, t := range req.Topics {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.BaseOffset = p.Partition, errTxnAuthz, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return nil, nil, resp, nil
		}
		// v13+ names topics by ID only (KIP-516): WriteData is checked
		// on the name the ID has now.
		kept, denied := split(req.Topics, func(t kmsg.ProduceRequestTopic) bool {
			return c.topicAllowed(k, iampolicy.WriteData, t.Topic, t.TopicID, h.Version >= 13)
		})
		if len(denied) == 0 {
			return frame, nil, nil, nil
		}
		add := func(r kmsg.Response) {
			resp := r.(*kmsg.ProduceResponse)
			for _, t := range denied {
				rt := kmsg.NewProduceResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewProduceResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.BaseOffset = p.Partition, errTopicAuthz, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		return reducedProduce(h, req, kept, add)

	case *kmsg.FetchRequest:
		// Kafka (handleFetchRequest): READ on each topic (ReadData),
		// v13+ by topic ID; a follower's fetch (a replica ID) needs
		// CLUSTER_ACTION instead, which no IAM action grants.
		follower := req.ReplicaID >= 0 || req.ReplicaState.ID >= 0
		if follower {
			c.internalDenied(k)
		}
		// kfake checks only the partitions a request names, and numbers
		// its fetch sessions (KIP-227) 1, 2, 3 per broker: an incremental
		// fetch in another principal's session would read that session's
		// partitions. Kafka authorizes every partition of the session on
		// each fetch (and its session IDs are random); here a session
		// belongs to the connection that created it.
		var post []func(kmsg.Response)
		rewritten := false
		if h.Version >= 7 && req.SessionID > 0 && !c.fetchSessions.has(req.SessionID) {
			if req.SessionEpoch > 0 {
				resp := kmsg.NewPtrFetchResponse()
				resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
				return nil, nil, resp, nil
			}
			// Epoch 0 or -1 would close that session: start afresh.
			req.SessionID, rewritten = 0, true
		}
		if h.Version >= 7 && req.SessionEpoch == 0 {
			post = append(post, func(r kmsg.Response) {
				if resp := r.(*kmsg.FetchResponse); resp.ErrorCode == 0 && resp.SessionID > 0 {
					c.fetchSessions.add(resp.SessionID)
				}
			})
		}
		kept, denied := split(req.Topics, func(t kmsg.FetchRequestTopic) bool {
			return !follower && c.topicAllowed(k, iampolicy.ReadData, t.Topic, t.TopicID, h.Version >= 13)
		})
		if len(denied) == 0 {
			if rewritten {
				return reencode(h, req), post, nil, nil
			}
			return frame, post, nil, nil
		}
		add := func(r kmsg.Response) {
			resp := r.(*kmsg.FetchResponse)
			for _, t := range denied {
				rt := kmsg.NewFetchResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.HighWatermark, rp.LastStableOffset = p.Partition, errTopicAuthz, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		req.Topics = kept
		if len(kept) == 0 {
			// Kafka answers at once when no partition is left to wait
			// for; kfake would hold an empty fetch for MaxWait. The
			// request still goes to kfake, which keeps the fetch
			// session's epoch in step with the client.
			req.MaxWaitMillis = 0
		}
		return reencode(h, req), append(post, add), nil, nil

	case *kmsg.ListOffsetsRequest:
		// Kafka: DESCRIBE on each topic (DescribeTopic).
		kept, denied := split(req.Topics, func(t kmsg.ListOffsetsRequestTopic) bool {
			return c.allowed(k, iampolicy.DescribeTopic, c.topicARN(t.Topic))
		})
		if len(denied) == 0 {
			return frame, nil, nil, nil
		}
		add := func(r kmsg.Response) {
			resp := r.(*kmsg.ListOffsetsResponse)
			for _, t := range denied {
				rt := kmsg.NewListOffsetsResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewListOffsetsResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset, rp.Timestamp = p.Partition, errTopicAuthz, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		req.Topics = kept
		return reencode(h, req), []func(kmsg.Response){add}, nil, nil

	case *kmsg.MetadataRequest:
		if req.Topics == nil {
			// All topics: keep those the principal may describe.
			filter := func(r kmsg.Response) {
				resp := r.(*kmsg.MetadataResponse)
				kept := resp.Topics[:0]
				for _, t := range resp.Topics {
					if t.Topic == nil || c.allowed(k, iampolicy.DescribeTopic, c.topicARN(*t.Topic)) {
						kept = append(kept, t)
					}
				}
				resp.Topics = kept
			}
			return frame, []func(kmsg.Response){filter}, nil, nil
		}
		// Kafka: DESCRIBE on each topic; with auto-creation, a missing
		// topic also needs CREATE (CreateTopic), else it alone gets
		// TOPIC_AUTHORIZATION_FAILED and the others are still created.
		// A topic named by ID (v12+; kfake takes the ID over a name given
		// with it) is checked by the name the ID has now; denied, it is
		// answered with its ID and no name, as Kafka answers. An unknown
		// ID goes to kfake, which answers UNKNOWN_TOPIC_ID.
		autoCreate := req.AllowAutoTopicCreation && c.l.b.c.cfg.AutoCreateTopics
		var denied []kmsg.MetadataResponseTopic
		kept := make([]kmsg.MetadataRequestTopic, 0, len(req.Topics)) // not nil: a null list asks for every topic
		for _, t := range req.Topics {
			if t.TopicID != ([16]byte{}) {
				if !c.describable(k, "", t.TopicID) {
					rt := kmsg.NewMetadataResponseTopic()
					rt.TopicID, rt.ErrorCode = t.TopicID, errTopicAuthz
					denied = append(denied, rt)
					continue
				}
				kept = append(kept, t)
				continue
			}
			if t.Topic == nil {
				kept = append(kept, t)
				continue
			}
			arn := c.topicARN(*t.Topic)
			if c.allowed(k, iampolicy.DescribeTopic, arn) &&
				(!autoCreate || c.l.b.c.kf.TopicInfo(*t.Topic) != nil || c.allowed(k, iampolicy.CreateTopic, arn)) {
				kept = append(kept, t)
				continue
			}
			rt := kmsg.NewMetadataResponseTopic()
			rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
			denied = append(denied, rt)
		}
		if len(denied) == 0 {
			return frame, nil, nil, nil
		}
		add := func(r kmsg.Response) {
			resp := r.(*kmsg.MetadataResponse)
			resp.Topics = append(resp.Topics, denied...)
		}
		req.Topics = kept
		return reencode(h, req), []func(kmsg.Response){add}, nil, nil

	case *kmsg.OffsetCommitRequest:
		// Kafka checks READ on the group (AlterGroup), then READ on each
		// topic (ReadData): denied topics get TOPIC_AUTHORIZATION_FAILED.
		answer := func(resp *kmsg.OffsetCommitResponse, topics []kmsg.OffsetCommitRequestTopic, code int16) {
			for _, t := range topics {
				rt := kmsg.NewOffsetCommitResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetCommitResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		if !c.allowed(k, iampolicy.AlterGroup, c.groupARN(req.Group)) {
			resp := kmsg.NewPtrOffsetCommitResponse()
			answer(resp, req.Topics, errGroupAuthz)
			return nil, nil, resp, nil
		}
		kept, denied := split(req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool {
			return c.topicAllowed(k, iampolicy.ReadData, t.Topic, t.TopicID, h.Version >= 10)
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrOffsetCommitResponse, func(resp *kmsg.OffsetCommitResponse) {
			answer(resp, denied, errTopicAuthz)
		})

	case *kmsg.OffsetFetchRequest:
		// Kafka: DESCRIBE on the group (DescribeGroup), then DESCRIBE on
		// each topic (DescribeTopic), checked on kfake's answer.
		if h.Version < 8 {
			if c.allowed(k, iampolicy.DescribeGroup, c.groupARN(req.Group)) {
				all := req.Topics == nil
				filter := func(r kmsg.Response) {
					resp := r.(*kmsg.OffsetFetchResponse)
					kept := resp.Topics[:0]
					for _, t := range resp.Topics {
						if !c.describable(k, t.Topic, [16]byte{}) {
							if all {
								continue
							}
							for i := range t.Partitions {
								p := &t.Partitions[i]
								p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, errTopicAuthz
							}
						}
						kept = append(kept, t)
					}
					resp.Topics = kept
				}
				return frame, []func(kmsg.Response){filter}, nil, nil
			}
			resp := kmsg.NewPtrOffsetFetchResponse()
			resp.ErrorCode = errGroupAuthz
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.Offset = p, errGroupAuthz, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return nil, nil, resp, nil
		}
		kept, denied := split(req.Groups, func(g kmsg.OffsetFetchRequestGroup) bool {
			return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g.Group))
		})
		all := map[string]bool{} // groups asking for every topic
		for _, g := range kept {
			all[g.Group] = g.Topics == nil
		}
		req.Groups = kept
		out, post, local, err := reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrOffsetFetchResponse, func(resp *kmsg.OffsetFetchResponse) {
			for _, g := range denied {
				rg := kmsg.NewOffsetFetchResponseGroup()
				rg.Group, rg.ErrorCode = g.Group, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})
		if out == nil {
			return out, post, local, err
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.OffsetFetchResponse)
			for gi := range resp.Groups {
				g := &resp.Groups[gi]
				topics := g.Topics[:0]
				for _, t := range g.Topics {
					if !c.describable(k, t.Topic, t.TopicID) {
						if all[g.Group] {
							continue
						}
						for i := range t.Partitions {
							p := &t.Partitions[i]
							p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, errTopicAuthz
						}
					}
					topics = append(topics, t)
				}
				g.Topics = topics
			}
		}
		return out, append([]func(kmsg.Response){filter}, post...), nil, nil

	case *kmsg.FindCoordinatorRequest:
		// Kafka: DESCRIBE on the group or the transactional ID; the
		// share coordinator (type 2) needs CLUSTER_ACTION, which no IAM
		// action grants.
		check := func(key string) (bool, int16) {
			switch req.CoordinatorType {
			case 1:
				return c.allowed(k, iampolicy.DescribeTransactionalId, c.txnARN(key)), errTxnAuthz
			case 2:
				return c.internalDenied(k), errClusterAz
			}
			return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(key)), errGroupAuthz
		}
		if h.Version < 4 {
			if ok, code := check(req.CoordinatorKey); !ok {
				resp := kmsg.NewPtrFindCoordinatorResponse()
				resp.ErrorCode, resp.NodeID = code, -1
				return nil, nil, resp, nil
			}
			return frame, nil, nil, nil
		}
		var denied []kmsg.FindCoordinatorResponseCoordinator
		kept := req.CoordinatorKeys[:0:0]
		for _, key := range req.CoordinatorKeys {
			if ok, code := check(key); ok {
				kept = append(kept, key)
			} else {
				rc := kmsg.NewFindCoordinatorResponseCoordinator()
				rc.Key, rc.NodeID, rc.ErrorCode = key, -1, code
				denied = append(denied, rc)
			}
		}
		req.CoordinatorKeys = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrFindCoordinatorResponse, func(resp *kmsg.FindCoordinatorResponse) {
			resp.Coordinators = append(resp.Coordinators, denied...)
		})

	// Kafka: READ on the group (AlterGroup) for the classic protocol's
	// JoinGroup, Heartbeat, LeaveGroup and SyncGroup.
	case *kmsg.JoinGroupRequest:
		return c.groupOp(h, frame, req.Group, func() kmsg.Response {
			r := kmsg.NewPtrJoinGroupResponse()
			r.ErrorCode, r.Generation = errGroupAuthz, -1
			return r
		})
	case *kmsg.HeartbeatRequest:
		return c.groupOp(h, frame, req.Group, func() kmsg.Response {
			r := kmsg.NewPtrHeartbeatResponse()
			r.ErrorCode = errGroupAuthz
			return r
		})
	case *kmsg.LeaveGroupRequest:
		return c.groupOp(h, frame, req.Group, func() kmsg.Response {
			r := kmsg.NewPtrLeaveGroupResponse()
			r.ErrorCode = errGroupAuthz
			return r
		})
	case *kmsg.SyncGroupRequest:
		return c.groupOp(h, frame, req.Group, func() kmsg.Response {
			r := kmsg.NewPtrSyncGroupResponse()
			r.ErrorCode = errGroupAuthz
			return r
		})

	case *kmsg.DescribeGroupsRequest:
		// Kafka: DESCRIBE on each group (DescribeGroup). A consumer
		// group's members carry their subscriptions and assignments,
		// which name topics: a group naming a topic the principal may not
		// describe is answered TOPIC_AUTHORIZATION_FAILED without its
		// members, as Kafka answers ConsumerGroupDescribe.
		kept, denied := split(req.Groups, func(g string) bool { return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g)) })
		req.Groups = kept
		out, post, local, err := reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeGroupsResponse, func(resp *kmsg.DescribeGroupsResponse) {
			for _, g := range denied {
				rg := kmsg.NewDescribeGroupsResponseGroup()
				rg.Group, rg.ErrorCode = g, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})
		if out == nil {
			return out, post, local, err
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.DescribeGroupsResponse)
			for i := range resp.Groups {
				g := &resp.Groups[i]
				if g.ProtocolType == "consumer" && !c.membersDescribable(k, g.Members) {
					*g = hiddenGroup(g.Group)
				}
			}
		}
		return out, append(post, filter), nil, nil

	case *kmsg.ListGroupsRequest:
		// Kafka lists every group to a principal allowed DESCRIBE on the
		// cluster (DescribeCluster), else the groups it may describe.
		if c.allowed(k, iampolicy.DescribeCluster, c.clusterARN()) {
			return frame, nil, nil, nil
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.ListGroupsResponse)
			kept := resp.Groups[:0]
			for _, g := range resp.Groups {
				if c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g.Group)) {
					kept = append(kept, g)
				}
			}
			resp.Groups = kept
		}
		return frame, []func(kmsg.Response){filter}, nil, nil

	case *kmsg.CreateTopicsRequest:
		// Kafka: CREATE on the cluster or on each topic; MSK's
		// CreateTopic is on the topic ARN.
		kept, denied := split(req.Topics, func(t kmsg.CreateTopicsRequestTopic) bool {
			return c.allowed(k, iampolicy.CreateTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		out, post, local, err := reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrCreateTopicsResponse, func(resp *kmsg.CreateTopicsResponse) {
			for _, t := range denied {
				rt := kmsg.NewCreateTopicsResponseTopic()
				rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
				rt.NumPartitions, rt.ReplicationFactor = -1, -1
				resp.Topics = append(resp.Topics, rt)
			}
		})
		if out == nil || h.Version < 5 {
			return out, post, local, err
		}
		// Kafka (v5+ answers carry the new topic's configs): without
		// DESCRIBE_CONFIGS on the topic (DescribeTopicDynamicConfiguration)
		// they are left out and TopicConfigErrorCode says why.
		configs := func(r kmsg.Response) {
			resp := r.(*kmsg.CreateTopicsResponse)
			for i := range resp.Topics {
				rt := &resp.Topics[i]
				if rt.ErrorCode == 0 && !c.allowed(k, iampolicy.DescribeTopicDynamicConfiguration, c.topicARN(rt.Topic)) {
					rt.Configs, rt.ConfigErrorCode = nil, errTopicAuthz
				}
			}
		}
		return out, append(post, configs), nil, nil

	case *kmsg.DeleteTopicsRequest:
		// Kafka (handleDeleteTopicsRequest) deletes the topics the
		// principal may delete (DELETE on each: DeleteTopic) and answers
		// TOPIC_AUTHORIZATION_FAILED for the others. v6+ names topics in
		// Topics, by name or by ID; a topic named by an ID the principal
		// may not describe is answered without its name. kfake takes the
		// name when both are given (and then refuses the request): both
		// are checked. An unknown ID goes to kfake (UNKNOWN_TOPIC_ID).
		var denied []kmsg.DeleteTopicsResponseTopic
		deny := func(name *string, id [16]byte) {
			rt := kmsg.NewDeleteTopicsResponseTopic()
			rt.Topic, rt.TopicID, rt.ErrorCode = name, id, errTopicAuthz
			denied = append(denied, rt)
		}
		deletable := func(name string) bool { return c.allowed(k, iampolicy.DeleteTopic, c.topicARN(name)) }
		var left int
		if h.Version >= 6 {
			var kept []kmsg.DeleteTopicsRequestTopic
			for _, t := range req.Topics {
				if t.Topic != nil && !deletable(*t.Topic) {
					deny(t.Topic, t.TopicID)
					continue
				}
				if t.TopicID != ([16]byte{}) {
					if name, ok := c.topicByID(t.TopicID); ok {
						if !c.allowed(k, iampolicy.DescribeTopic, c.topicARN(name)) {
							deny(nil, t.TopicID)
							continue
						}
						if !deletable(name) {
							deny(kmsg.StringPtr(name), t.TopicID)
							continue
						}
					}
				}
				kept = append(kept, t)
			}
			req.Topics, left = kept, len(kept)
		} else {
			var kept []string
			for _, n := range req.TopicNames {
				if deletable(n) {
					kept = append(kept, n)
				} else {
					deny(kmsg.StringPtr(n), [16]byte{})
				}
			}
			req.TopicNames, left = kept, len(kept)
		}
		return reduced(h, frame, req, left, len(denied), kmsg.NewPtrDeleteTopicsResponse, func(resp *kmsg.DeleteTopicsResponse) {
			resp.Topics = append(resp.Topics, denied...)
		})

	case *kmsg.InitProducerIDRequest:
		// Kafka: WRITE on the transactional ID (AlterTransactionalId);
		// without one, IDEMPOTENT_WRITE on the cluster
		// (WriteDataIdempotently). Kafka 3.0+ (KIP-679) also accepts
		// WRITE on any topic; MSK documents WriteDataIdempotently only,
		// which the emulator keeps.
		var ok bool
		var code int16
		if req.TransactionalID != nil {
			ok, code = c.allowed(k, iampolicy.AlterTransactionalId, c.txnARN(*req.TransactionalID)), errTxnAuthz
		} else {
			ok, code = c.allowed(k, iampolicy.WriteDataIdempotently, c.clusterARN()), errClusterAz
		}
		if ok {
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrInitProducerIDResponse()
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		return nil, nil, resp, nil

	case *kmsg.AddOffsetsToTxnRequest:
		// Kafka: WRITE on the transactional ID, then READ on the group.
		code := int16(0)
		switch {
		case !c.allowed(k, iampolicy.AlterTransactionalId, c.txnARN(req.TransactionalID)):
			code = errTxnAuthz
		case !c.allowed(k, iampolicy.AlterGroup, c.groupARN(req.Group)):
			code = errGroupAuthz
		default:
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrAddOffsetsToTxnResponse()
		resp.ErrorCode = code
		return nil, nil, resp, nil
	case *kmsg.EndTxnRequest:
		// Kafka: WRITE on the transactional ID.
		return c.txnOp(h, frame, req.TransactionalID, func() kmsg.Response {
			r := kmsg.NewPtrEndTxnResponse()
			r.ErrorCode = errTxnAuthz
			return r
		})
	case *kmsg.AddPartitionsToTxnRequest:
		// Kafka (handleAddPartitionsToTxnRequest): v0-v3, sent by
		// clients, need WRITE on the transactional ID
		// (AlterTransactionalId), then WRITE on each topic (WriteData);
		// if any partition fails, none is added: the others get
		// OPERATION_NOT_ATTEMPTED. v4+ is the brokers' batched form and
		// needs CLUSTER_ACTION, which no IAM action grants ("IAM access
		// control for Amazon MSK doesn't support internal cluster
		// actions").
		if h.Version >= 4 {
			c.internalDenied(k)
			resp := kmsg.NewPtrAddPartitionsToTxnResponse()
			resp.ErrorCode = errClusterAz
			return nil, nil, resp, nil
		}
		answer := func(code func(topic string, p int32) int16) kmsg.Response {
			r := kmsg.NewPtrAddPartitionsToTxnResponse()
			for _, t := range req.Topics {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, code(t.Topic, p)
					rt.Partitions = append(rt.Partitions, rp)
				}
				r.Topics = append(r.Topics, rt)
			}
			return r
		}
		if !c.allowed(k, iampolicy.AlterTransactionalId, c.txnARN(req.TransactionalID)) {
			return nil, nil, answer(func(string, int32) int16 { return errTxnAuthz }), nil
		}
		denied := map[string]bool{}
		for _, t := range req.Topics {
			if !c.allowed(k, iampolicy.WriteData, c.topicARN(t.Topic)) {
				denied[t.Topic] = true
			}
		}
		if len(denied) == 0 {
			return frame, nil, nil, nil
		}
		return nil, nil, answer(func(topic string, p int32) int16 {
			switch {
			case denied[topic]:
				return errTopicAuthz
			case c.l.b.c.kf.PartitionInfo(topic, p) == nil:
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		}), nil

	case *kmsg.TxnOffsetCommitRequest:
		// Kafka: WRITE on the transactional ID, READ on the group (each
		// failing the whole request), then READ on each topic.
		answer := func(resp *kmsg.TxnOffsetCommitResponse, topics []kmsg.TxnOffsetCommitRequestTopic, code int16) {
			for _, t := range topics {
				rt := kmsg.NewTxnOffsetCommitResponseTopic()
				rt.Topic, rt.TopicID = t.Topic, t.TopicID
				for _, p := range t.Partitions {
					rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		}
		code := int16(0)
		switch {
		case !c.allowed(k, iampolicy.AlterTransactionalId, c.txnARN(req.TransactionalID)):
			code = errTxnAuthz
		case !c.allowed(k, iampolicy.AlterGroup, c.groupARN(req.Group)):
			code = errGroupAuthz
		}
		if code != 0 {
			resp := kmsg.NewPtrTxnOffsetCommitResponse()
			answer(resp, req.Topics, code)
			return nil, nil, resp, nil
		}
		kept, denied := split(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool {
			return c.topicAllowed(k, iampolicy.ReadData, t.Topic, t.TopicID, h.Version >= 6)
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrTxnOffsetCommitResponse, func(resp *kmsg.TxnOffsetCommitResponse) {
			answer(resp, denied, errTopicAuthz)
		})

	case *kmsg.DescribeClusterRequest:
		// MSK's DescribeCluster ("describe various aspects of the
		// cluster"). Kafka itself checks DESCRIBE on the cluster only for
		// IncludeClusterAuthorizedOperations.
		if c.allowed(k, iampolicy.DescribeCluster, c.clusterARN()) {
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrDescribeClusterResponse()
		resp.ErrorCode = errClusterAz
		return nil, nil, resp, nil

	case *kmsg.OffsetForLeaderEpochRequest:
		// Kafka: DESCRIBE on each topic; the allowed ones are answered.
		kept, denied := split(req.Topics, func(t kmsg.OffsetForLeaderEpochRequestTopic) bool {
			return c.allowed(k, iampolicy.DescribeTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrOffsetForLeaderEpochResponse, func(resp *kmsg.OffsetForLeaderEpochResponse) {
			for _, t := range denied {
				rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
					rp.Partition, rp.ErrorCode, rp.LeaderEpoch, rp.EndOffset = p.Partition, errTopicAuthz, -1, -1
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.DeleteGroupsRequest:
		// Kafka: DELETE on each group (DeleteGroup).
		kept, denied := split(req.Groups, func(g string) bool { return c.allowed(k, iampolicy.DeleteGroup, c.groupARN(g)) })
		req.Groups = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDeleteGroupsResponse, func(resp *kmsg.DeleteGroupsResponse) {
			for _, g := range denied {
				rg := kmsg.NewDeleteGroupsResponseGroup()
				rg.Group, rg.ErrorCode = g, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})

	case *kmsg.OffsetDeleteRequest:
		// Kafka (handleOffsetDeleteRequest): DELETE on the group
		// (DeleteGroup), then READ on each topic (ReadData).
		if !c.allowed(k, iampolicy.DeleteGroup, c.groupARN(req.Group)) {
			resp := kmsg.NewPtrOffsetDeleteResponse()
			resp.ErrorCode = errGroupAuthz
			return nil, nil, resp, nil
		}
		kept, denied := split(req.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool {
			return c.allowed(k, iampolicy.ReadData, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrOffsetDeleteResponse, func(resp *kmsg.OffsetDeleteResponse) {
			for _, t := range denied {
				rt := kmsg.NewOffsetDeleteResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetDeleteResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p.Partition, errTopicAuthz
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.ConsumerGroupHeartbeatRequest:
		// Kafka (KIP-848): READ on the group (AlterGroup); a
		// subscription naming a topic the member may not describe
		// (DescribeTopic) is refused with TOPIC_AUTHORIZATION_FAILED
		// before the coordinator sees it. Kafka resolves a regex
		// subscription to describable topics only; kfake cannot be told
		// the principal, so an assignment (by topic ID) of a topic the
		// member may not describe is refused the same way rather than
		// passed on.
		hb := func(code int16) kmsg.Response {
			r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
			r.ErrorCode = code
			return r
		}
		if !c.allowed(k, iampolicy.AlterGroup, c.groupARN(req.Group)) {
			return nil, nil, hb(errGroupAuthz), nil
		}
		for _, t := range req.SubscribedTopicNames {
			if !c.allowed(k, iampolicy.DescribeTopic, c.topicARN(t)) {
				return nil, nil, hb(errTopicAuthz), nil
			}
		}
		assigned := func(r kmsg.Response) {
			resp := r.(*kmsg.ConsumerGroupHeartbeatResponse)
			if resp.Assignment == nil {
				return
			}
			for _, t := range resp.Assignment.Topics {
				if !c.describable(k, "", t.TopicID) {
					*resp = *hb(errTopicAuthz).(*kmsg.ConsumerGroupHeartbeatResponse)
					return
				}
			}
		}
		return frame, []func(kmsg.Response){assigned}, nil, nil

	case *kmsg.CreatePartitionsRequest:
		// Kafka: ALTER on each topic (AlterTopic).
		kept, denied := split(req.Topics, func(t kmsg.CreatePartitionsRequestTopic) bool {
			return c.allowed(k, iampolicy.AlterTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrCreatePartitionsResponse, func(resp *kmsg.CreatePartitionsResponse) {
			for _, t := range denied {
				rt := kmsg.NewCreatePartitionsResponseTopic()
				rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.DescribeConfigsRequest:
		// Kafka: DESCRIBE_CONFIGS on each resource: a topic
		// (DescribeTopicDynamicConfiguration), else the cluster
		// (DescribeClusterDynamicConfiguration).
		type denial struct {
			rt   kmsg.ConfigResourceType
			name string
			code int16
		}
		var denied []denial
		kept := req.Resources[:0:0]
		for _, r := range req.Resources {
			ok, code := c.configAllowed(k, r.ResourceType, r.ResourceName, false)
			if ok {
				kept = append(kept, r)
			} else {
				denied = append(denied, denial{r.ResourceType, r.ResourceName, code})
			}
		}
		req.Resources = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeConfigsResponse, func(resp *kmsg.DescribeConfigsResponse) {
			for _, d := range denied {
				rr := kmsg.NewDescribeConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = d.rt, d.name, d.code
				resp.Resources = append(resp.Resources, rr)
			}
		})

	case *kmsg.IncrementalAlterConfigsRequest:
		// Kafka: ALTER_CONFIGS on each resource; the allowed ones are
		// altered.
		kept, denied, codes := splitAlterConfigs(c, k, req.Resources, func(r kmsg.IncrementalAlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
			return r.ResourceType, r.ResourceName
		})
		req.Resources = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrIncrementalAlterConfigsResponse, func(resp *kmsg.IncrementalAlterConfigsResponse) {
			for i, r := range denied {
				rr := kmsg.NewIncrementalAlterConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, codes[i]
				resp.Resources = append(resp.Resources, rr)
			}
		})

	case *kmsg.AlterConfigsRequest:
		// The legacy AlterConfigs, authorized as IncrementalAlterConfigs.
		kept, denied, codes := splitAlterConfigs(c, k, req.Resources, func(r kmsg.AlterConfigsRequestResource) (kmsg.ConfigResourceType, string) {
			return r.ResourceType, r.ResourceName
		})
		req.Resources = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrAlterConfigsResponse, func(resp *kmsg.AlterConfigsResponse) {
			for i, r := range denied {
				rr := kmsg.NewAlterConfigsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ErrorCode = r.ResourceType, r.ResourceName, codes[i]
				resp.Resources = append(resp.Resources, rr)
			}
		})

	case *kmsg.DescribeTopicPartitionsRequest:
		return c.describeTopicPartitions(h, req)

	case *kmsg.ConsumerGroupDescribeRequest:
		// Kafka: DESCRIBE on each group (DescribeGroup); a group whose
		// members' subscriptions or assignments name a topic the
		// principal may not describe is answered
		// TOPIC_AUTHORIZATION_FAILED without its members.
		kept, denied := split(req.Groups, func(g string) bool { return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g)) })
		req.Groups = kept
		out, post, local, err := reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrConsumerGroupDescribeResponse, func(resp *kmsg.ConsumerGroupDescribeResponse) {
			for _, g := range denied {
				rg := kmsg.NewConsumerGroupDescribeResponseGroup()
				rg.Group, rg.ErrorCode = g, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})
		if out == nil {
			return out, post, local, err
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.ConsumerGroupDescribeResponse)
			for i := range resp.Groups {
				g := &resp.Groups[i]
				if !c.consumerMembersDescribable(k, g.Members) {
					rg := kmsg.NewConsumerGroupDescribeResponseGroup()
					rg.Group, rg.ErrorCode = g.Group, errTopicAuthz
					*g = rg
				}
			}
		}
		return out, append(post, filter), nil, nil

	case *kmsg.DeleteRecordsRequest:
		// Kafka (handleDeleteRecordsRequest): DELETE on each topic, which
		// MSK maps to DeleteTopic.
		kept, denied := split(req.Topics, func(t kmsg.DeleteRecordsRequestTopic) bool {
			return c.allowed(k, iampolicy.DeleteTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDeleteRecordsResponse, func(resp *kmsg.DeleteRecordsResponse) {
			for _, t := range denied {
				rt := kmsg.NewDeleteRecordsResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewDeleteRecordsResponseTopicPartition()
					rp.Partition, rp.LowWatermark, rp.ErrorCode = p.Partition, -1, errTopicAuthz
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.DescribeProducersRequest:
		// Kafka (handleDescribeProducersRequest): READ on each topic
		// (ReadData).
		kept, denied := split(req.Topics, func(t kmsg.DescribeProducersRequestTopic) bool {
			return c.allowed(k, iampolicy.ReadData, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeProducersResponse, func(resp *kmsg.DescribeProducersResponse) {
			for _, t := range denied {
				rt := kmsg.NewDescribeProducersResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewDescribeProducersResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, errTopicAuthz
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.DescribeTransactionsRequest:
		// Kafka (handleDescribeTransactionsRequest): DESCRIBE on each
		// transactional ID (DescribeTransactionalId); the partitions of
		// topics the principal may not describe are left out.
		kept, denied := split(req.TransactionalIDs, func(id string) bool {
			return c.allowed(k, iampolicy.DescribeTransactionalId, c.txnARN(id))
		})
		req.TransactionalIDs = kept
		out, post, local, err := reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeTransactionsResponse, func(resp *kmsg.DescribeTransactionsResponse) {
			for _, id := range denied {
				st := kmsg.NewDescribeTransactionsResponseTransactionState()
				st.TransactionalID, st.ErrorCode = id, errTxnAuthz
				resp.TransactionStates = append(resp.TransactionStates, st)
			}
		})
		if out == nil {
			return out, post, local, err
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.DescribeTransactionsResponse)
			for i := range resp.TransactionStates {
				st := &resp.TransactionStates[i]
				st.Topics = slices.DeleteFunc(st.Topics, func(t kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
					return !c.describable(k, t.Topic, [16]byte{})
				})
			}
		}
		return out, append(post, filter), nil, nil

	case *kmsg.ListTransactionsRequest:
		// Kafka (handleListTransactionsRequest): no cluster check; only
		// the transactional IDs the principal may describe are listed.
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.ListTransactionsResponse)
			resp.TransactionStates = slices.DeleteFunc(resp.TransactionStates, func(st kmsg.ListTransactionsResponseTransactionState) bool {
				return !c.allowed(k, iampolicy.DescribeTransactionalId, c.txnARN(st.TransactionalID))
			})
		}
		return frame, []func(kmsg.Response){filter}, nil, nil

	case *kmsg.DescribeClientQuotasRequest:
		// Kafka: DESCRIBE_CONFIGS on the cluster
		// (DescribeClusterDynamicConfiguration).
		if c.allowed(k, iampolicy.DescribeClusterDynamicConfiguration, c.clusterARN()) {
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrDescribeClientQuotasResponse()
		resp.ErrorCode = errClusterAz
		return nil, nil, resp, nil

	case *kmsg.AlterClientQuotasRequest:
		// Kafka: ALTER_CONFIGS on the cluster
		// (AlterClusterDynamicConfiguration); denied, every entry gets
		// CLUSTER_AUTHORIZATION_FAILED.
		if c.allowed(k, iampolicy.AlterClusterDynamicConfiguration, c.clusterARN()) {
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrAlterClientQuotasResponse()
		for _, e := range req.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			re.ErrorCode = errClusterAz
			for _, en := range e.Entity {
				ren := kmsg.NewAlterClientQuotasResponseEntryEntity()
				ren.Type, ren.Name = en.Type, en.Name
				re.Entity = append(re.Entity, ren)
			}
			resp.Entries = append(resp.Entries, re)
		}
		return nil, nil, resp, nil

	case *kmsg.ListConfigResourcesRequest:
		// Kafka: DESCRIBE_CONFIGS on the cluster
		// (DescribeClusterDynamicConfiguration). v1 also lists topics;
		// unlike Kafka, topics the principal may not describe are left
		// out (nothing about such a topic reaches a client).
		if !c.allowed(k, iampolicy.DescribeClusterDynamicConfiguration, c.clusterARN()) {
			resp := kmsg.NewPtrListConfigResourcesResponse()
			resp.ErrorCode = errClusterAz
			return nil, nil, resp, nil
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.ListConfigResourcesResponse)
			resp.ConfigResources = slices.DeleteFunc(resp.ConfigResources, func(cr kmsg.ListConfigResourcesResponseConfigResource) bool {
				return cr.Type == int8(kmsg.ConfigResourceTypeTopic) && !c.describable(k, cr.Name, [16]byte{})
			})
		}
		return frame, []func(kmsg.Response){filter}, nil, nil

	case *kmsg.DescribeLogDirsRequest:
		// Kafka: DESCRIBE on the cluster (DescribeCluster); denied,
		// CLUSTER_AUTHORIZATION_FAILED. Unlike Kafka, the topics the
		// principal may not describe are left out of the answer.
		if !c.allowed(k, iampolicy.DescribeCluster, c.clusterARN()) {
			resp := kmsg.NewPtrDescribeLogDirsResponse()
			resp.ErrorCode = errClusterAz
			return nil, nil, resp, nil
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.DescribeLogDirsResponse)
			for i := range resp.Dirs {
				d := &resp.Dirs[i]
				d.Topics = slices.DeleteFunc(d.Topics, func(t kmsg.DescribeLogDirsResponseDirTopic) bool {
					return !c.describable(k, t.Topic, [16]byte{})
				})
			}
		}
		return frame, []func(kmsg.Response){filter}, nil, nil

	case *kmsg.ElectLeadersRequest:
		// Kafka: ALTER on the cluster (AlterCluster). A null topic list
		// elects every partition and the answer lists them all; unlike
		// Kafka, topics the principal may not describe are left out.
		if req.Topics != nil {
			break
		}
		if !c.allowed(k, iampolicy.AlterCluster, c.clusterARN()) {
			return c.clusterDenied(k, iampolicy.AlterCluster)
		}
		filter := func(r kmsg.Response) {
			resp := r.(*kmsg.ElectLeadersResponse)
			resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.ElectLeadersResponseTopic) bool {
				return !c.describable(k, t.Topic, [16]byte{})
			})
		}
		return frame, []func(kmsg.Response){filter}, nil, nil

	case *kmsg.ApiVersionsRequest, *kmsg.GetTelemetrySubscriptionsRequest, *kmsg.PushTelemetryRequest:
		// Kafka: no authorization.
		return frame, nil, nil, nil
	}

	// The cluster-level APIs: DESCRIBE or ALTER on the cluster (Kafka's
	// KafkaApis, one authorizeClusterOperation each), which MSK maps to
	// DescribeCluster and AlterCluster. Denied, the connection is closed:
	// these answers have no single error field to carry the denial.
	// Anything else (the share-group APIs, which the emulator does not
	// offer, and keys kfake does not serve) is refused the way Kafka
	// refuses an API it does not serve: the connection is closed.
	action, ok := clusterActions[k]
	if !ok {
		c.l.b.c.log.Info("request for an API the emulator does not serve: closing connection",
			append(c.logAttrs(), "principal", c.sess.principal, "api", kmsg.NameForKey(k))...)
		return nil, nil, nil, fmt.Errorf("%w: %s is not served", errClose, kmsg.NameForKey(k))
	}
	if c.allowed(k, action, c.clusterARN()) {
		return frame, nil, nil, nil
	}
	return c.clusterDenied(k, action)
}

// clusterDenied closes the connection of a cluster-level request denied
// action, saying in the log what to allow.
func (c *conn) clusterDenied(k int16, action iampolicy.Action) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	c.l.b.c.log.Info("request denied without a Kafka error response: closing connection",
		append(c.logAttrs(), "principal", c.sess.principal, "api", kmsg.NameForKey(k), "action", string(action),
			"fix", "allow "+string(action)+" on "+c.clusterARN()+" in the identity's policy")...)
	return nil, nil, nil, fmt.Errorf("%w: %s denied (needs %s)", errClose, kmsg.NameForKey(k), action)
}

// clusterActions maps the cluster-level APIs to their IAM action (Kafka's
// ACL in the comment).
var clusterActions = map[int16]iampolicy.Action{
	27: iampolicy.AlterCluster,    // WriteTxnMarkers: ALTER CLUSTER (or CLUSTER_ACTION); MSK: IAM on Kafka 3.8+
	29: iampolicy.DescribeCluster, // DescribeAcls: DESCRIBE CLUSTER
	30: iampolicy.AlterCluster,    // CreateAcls: ALTER CLUSTER
	31: iampolicy.AlterCluster,    // DeleteAcls: ALTER CLUSTER
	34: iampolicy.AlterCluster,    // AlterReplicaLogDirs: ALTER CLUSTER
	43: iampolicy.AlterCluster,    // ElectLeaders: ALTER CLUSTER
	45: iampolicy.AlterCluster,    // AlterPartitionReassignments: ALTER CLUSTER
	46: iampolicy.DescribeCluster, // ListPartitionReassignments: DESCRIBE CLUSTER
	50: iampolicy.DescribeCluster, // DescribeUserScramCredentials: DESCRIBE CLUSTER
	51: iampolicy.AlterCluster,    // AlterUserScramCredentials: ALTER CLUSTER
	57: iampolicy.AlterCluster,    // UpdateFeatures: ALTER CLUSTER
}

func (c *conn) txnOp(h kafkawire.Header, frame []byte, txn string, deny func() kmsg.Response) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	if c.allowed(h.Key, iampolicy.AlterTransactionalId, c.txnARN(txn)) {
		return frame, nil, nil, nil
	}
	return nil, nil, deny(), nil
}

// reduced answers a request from which the caller removed the denied items
// (nkept left, ndenied removed): with none removed, frame goes to kfake as
// is; with none left, the answer is local, newResp() completed by add;
// else the reduced request goes to kfake and add completes its response.
func reduced[R kmsg.Response](h kafkawire.Header, frame []byte, req kmsg.Request, nkept, ndenied int, newResp func() R, add func(R)) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	if ndenied == 0 {
		return frame, nil, nil, nil
	}
	if nkept == 0 {
		resp := newResp()
		add(resp)
		return nil, nil, resp, nil
	}
	return reencode(h, req), []func(kmsg.Response){func(r kmsg.Response) { add(r.(R)) }}, nil, nil
}

// reducedProduce is reduced for a produce request cut down to the kept
// topics, add completing the answer with the removed ones; with none kept
// and acks=0 nothing is forwarded and nothing answered.
func reducedProduce(h kafkawire.Header, req *kmsg.ProduceRequest, kept []kmsg.ProduceRequestTopic, add func(kmsg.Response)) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	req.Topics = kept
	if len(kept) == 0 {
		if req.Acks == 0 {
			return nil, nil, nil, nil
		}
		resp := kmsg.NewPtrProduceResponse()
		add(resp)
		return nil, nil, resp, nil
	}
	return reencode(h, req), []func(kmsg.Response){add}, nil, nil
}

// split divides items into those allowed and those denied, each in order.
func split[T any](items []T, allowed func(T) bool) (kept, denied []T) {
	for _, it := range items {
		if allowed(it) {
			kept = append(kept, it)
		} else {
			denied = append(denied, it)
		}
	}
	return kept, denied
}

// internalDenied logs the denial of a request that needs Kafka's
// CLUSTER_ACTION on the cluster (a broker's request: a follower's fetch,
// the batched AddPartitionsToTxn, the share coordinator), which no IAM
// action is documented to grant (MSK developer guide, "Semantics of IAM
// authorization policy actions and resources": IAM access control does not
// support Kafka's internal cluster actions), and returns false.
func (c *conn) internalDenied(api int16) bool {
	var principal string
	if a := c.authn.Load(); a != nil {
		principal = a.principal
	}
	c.l.b.c.log.Info("authz", "principal", principal, "action", "CLUSTER_ACTION", "resource", c.clusterARN(),
		"decision", "deny", "reason", "a broker's request: no kafka-cluster action grants Kafka's CLUSTER_ACTION",
		"api", kmsg.NameForKey(api), "broker", c.l.b.id)
	return false
}
