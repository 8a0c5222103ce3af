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
// control"), evaluated with package iampolicy against the policies of the
// authenticated identity. Denied parts get Kafka's own error codes: denied
// topics are removed from the forwarded request and added back to kfake's
// response with TOPIC_AUTHORIZATION_FAILED; a request denied as a whole is
// answered locally (GROUP_, CLUSTER_, TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
// Requests without a precise mapping need DescribeCluster (read-only APIs) or
// AlterCluster (the rest) on the cluster; when denied, the connection is
// closed, since there is no generic error response.
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

// topicAllowed checks action on a topic named by name or, in request
// versions that name topics by ID (byID), by id. An ID is resolved with
// kfake's current state (topicByID). A topic ID kfake does not know is
// allowed: nothing can be read or written through it, and kfake answers
// UNKNOWN_TOPIC_ID, as Kafka does.
func (c *conn) topicAllowed(api int16, action iampolicy.Action, name string, id [16]byte, byID bool) bool {
	if byID {
		var ok bool
		if name, ok = c.topicByID(id); !ok {
			return true
		}
	}
	return c.allowed(api, action, c.topicARN(name))
}

// topicByID resolves a topic ID with kfake's state at the time of the
// request; ok is false for an ID kfake does not know. Nothing is cached: a
// topic deleted and created again has a new ID, and the old one must then
// be unknown. Safe in both loops.
func (c *conn) topicByID(id [16]byte) (name string, ok bool) {
	ti := c.l.b.c.kf.TopicIDInfo(id)
	if ti == nil {
		return "", false
	}
	return ti.Topic, true
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
		if len(kept) == 0 {
			if req.Acks == 0 {
				return nil, nil, nil, nil
			}
			resp := kmsg.NewPtrProduceResponse()
			add(resp)
			return nil, nil, resp, nil
		}
		req.Topics = kept
		return reencode(h, req), []func(kmsg.Response){add}, nil, nil

	case *kmsg.FetchRequest:
		kept, denied := split(req.Topics, func(t kmsg.FetchRequestTopic) bool {
			return c.topicAllowed(k, iampolicy.ReadData, t.Topic, t.TopicID, h.Version >= 13)
		})
		if len(denied) == 0 {
			return frame, nil, nil, nil
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
		return reencode(h, req), []func(kmsg.Response){add}, nil, nil

	case *kmsg.ListOffsetsRequest:
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
				if name, ok := c.topicByID(t.TopicID); ok && !c.allowed(k, iampolicy.DescribeTopic, c.topicARN(name)) {
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
		check := func(key string) (bool, int16) {
			if req.CoordinatorType == 1 {
				return c.allowed(k, iampolicy.DescribeTransactionalId, c.txnARN(key)), errTxnAuthz
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
		kept, denied := split(req.Groups, func(g string) bool { return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g)) })
		req.Groups = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeGroupsResponse, func(resp *kmsg.DescribeGroupsResponse) {
			for _, g := range denied {
				rg := kmsg.NewDescribeGroupsResponseGroup()
				rg.Group, rg.ErrorCode = g, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})

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
		kept, denied := split(req.Topics, func(t kmsg.CreateTopicsRequestTopic) bool {
			return c.allowed(k, iampolicy.CreateTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrCreateTopicsResponse, func(resp *kmsg.CreateTopicsResponse) {
			for _, t := range denied {
				rt := kmsg.NewCreateTopicsResponseTopic()
				rt.Topic, rt.ErrorCode = t.Topic, errTopicAuthz
				rt.NumPartitions, rt.ReplicationFactor = -1, -1
				resp.Topics = append(resp.Topics, rt)
			}
		})

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
		return c.txnOp(h, frame, req.TransactionalID, func() kmsg.Response {
			r := kmsg.NewPtrEndTxnResponse()
			r.ErrorCode = errTxnAuthz
			return r
		})
	case *kmsg.AddPartitionsToTxnRequest:
		if h.Version < 4 {
			return c.txnOp(h, frame, req.TransactionalID, func() kmsg.Response {
				r := kmsg.NewPtrAddPartitionsToTxnResponse()
				for _, t := range req.Topics {
					rt := kmsg.NewAddPartitionsToTxnResponseTopic()
					rt.Topic = t.Topic
					for _, p := range t.Partitions {
						rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
						rp.Partition, rp.ErrorCode = p, errTxnAuthz
						rt.Partitions = append(rt.Partitions, rp)
					}
					r.Topics = append(r.Topics, rt)
				}
				return r
			})
		}
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
		if c.allowed(k, iampolicy.DeleteGroup, c.groupARN(req.Group)) {
			return frame, nil, nil, nil
		}
		resp := kmsg.NewPtrOffsetDeleteResponse()
		resp.ErrorCode = errGroupAuthz
		return nil, nil, resp, nil

	case *kmsg.ConsumerGroupHeartbeatRequest:
		return c.groupOp(h, frame, req.Group, func() kmsg.Response {
			r := kmsg.NewPtrConsumerGroupHeartbeatResponse()
			r.ErrorCode = errGroupAuthz
			return r
		})

	case *kmsg.CreatePartitionsRequest:
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
		// Kafka: DESCRIBE on each topic; an empty list asks for every
		// topic, of which only the describable ones are listed.
		if len(req.Topics) == 0 {
			filter := func(r kmsg.Response) {
				resp := r.(*kmsg.DescribeTopicPartitionsResponse)
				resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.DescribeTopicPartitionsResponseTopic) bool {
					return t.Topic != nil && !c.allowed(k, iampolicy.DescribeTopic, c.topicARN(*t.Topic))
				})
			}
			return frame, []func(kmsg.Response){filter}, nil, nil
		}
		kept, denied := split(req.Topics, func(t kmsg.DescribeTopicPartitionsRequestTopic) bool {
			return c.allowed(k, iampolicy.DescribeTopic, c.topicARN(t.Topic))
		})
		req.Topics = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrDescribeTopicPartitionsResponse, func(resp *kmsg.DescribeTopicPartitionsResponse) {
			for _, t := range denied {
				rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
				rt.Topic, rt.ErrorCode = kmsg.StringPtr(t.Topic), errTopicAuthz
				resp.Topics = append(resp.Topics, rt)
			}
		})

	case *kmsg.ConsumerGroupDescribeRequest:
		kept, denied := split(req.Groups, func(g string) bool { return c.allowed(k, iampolicy.DescribeGroup, c.groupARN(g)) })
		req.Groups = kept
		return reduced(h, frame, req, len(kept), len(denied), kmsg.NewPtrConsumerGroupDescribeResponse, func(resp *kmsg.ConsumerGroupDescribeResponse) {
			for _, g := range denied {
				rg := kmsg.NewConsumerGroupDescribeResponseGroup()
				rg.Group, rg.ErrorCode = g, errGroupAuthz
				resp.Groups = append(resp.Groups, rg)
			}
		})

	case *kmsg.ApiVersionsRequest, *kmsg.GetTelemetrySubscriptionsRequest, *kmsg.PushTelemetryRequest:
		return frame, nil, nil, nil
	}

	// No precise mapping: DescribeCluster for read-only APIs, AlterCluster
	// for the rest; denied closes the connection.
	action := iampolicy.AlterCluster
	switch k {
	case 29, 35, 46, 48, 50, 61, 65, 66, 74:
		action = iampolicy.DescribeCluster
	}
	if c.allowed(k, action, c.clusterARN()) {
		return frame, nil, nil, nil
	}
	c.l.b.c.log.Info("request denied without a Kafka error response: closing connection",
		append(c.logAttrs(), "principal", c.sess.principal, "api", kmsg.NameForKey(k), "action", string(action),
			"fix", "allow "+string(action)+" on "+c.clusterARN()+" in the identity's policy")...)
	return nil, nil, nil, fmt.Errorf("%w: %s denied (needs %s)", errClose, kmsg.NameForKey(k), action)
}

func (c *conn) groupOp(h kafkawire.Header, frame []byte, group string, deny func() kmsg.Response) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	if c.allowed(h.Key, iampolicy.AlterGroup, c.groupARN(group)) {
		return frame, nil, nil, nil
	}
	return nil, nil, deny(), nil
}

func (c *conn) txnOp(h kafkawire.Header, frame []byte, txn string, deny func() kmsg.Response) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	if c.allowed(h.Key, iampolicy.AlterTransactionalId, c.txnARN(txn)) {
		return frame, nil, nil, nil
	}
	return nil, nil, deny(), nil
}

// describable reports whether the principal may describe a topic named
// by name or, when name is empty, by id (an unknown id is left to kfake).
// It may run in the write loop: it resolves ids with kfake, not the read
// loop's cache.
func (c *conn) describable(api int16, name string, id [16]byte) bool {
	if name == "" {
		ti := c.l.b.c.kf.TopicIDInfo(id)
		if ti == nil {
			return true
		}
		name = ti.Topic
	}
	return c.allowed(api, iampolicy.DescribeTopic, c.topicARN(name))
}

// configAllowed checks Describe/Alter*DynamicConfiguration for a config
// resource; the code is the Kafka error for a denial (0 when allowed).
func (c *conn) configAllowed(api int16, rt kmsg.ConfigResourceType, name string, alter bool) (bool, int16) {
	if rt == kmsg.ConfigResourceTypeTopic {
		a := iampolicy.DescribeTopicDynamicConfiguration
		if alter {
			a = iampolicy.AlterTopicDynamicConfiguration
		}
		if c.allowed(api, a, c.topicARN(name)) {
			return true, 0
		}
		return false, errTopicAuthz
	}
	a := iampolicy.DescribeClusterDynamicConfiguration
	if alter {
		a = iampolicy.AlterClusterDynamicConfiguration
	}
	if c.allowed(api, a, c.clusterARN()) {
		return true, 0
	}
	return false, errClusterAz
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

// splitAlterConfigs splits config resources by whether the principal may
// alter them; codes holds each denied resource's error code, in order.
func splitAlterConfigs[T any](c *conn, api int16, resources []T, id func(T) (kmsg.ConfigResourceType, string)) (kept, denied []T, codes []int16) {
	kept, denied = split(resources, func(r T) bool {
		rt, name := id(r)
		ok, code := c.configAllowed(api, rt, name, true)
		if !ok {
			codes = append(codes, code)
		}
		return ok
	})
	return kept, denied, codes
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
