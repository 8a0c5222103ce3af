package emulator

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/kafkawire"
)

func (c *conn) groupOp(h kafkawire.Header, frame []byte, group string, deny func() kmsg.Response) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	if c.allowed(h.Key, iampolicy.AlterGroup, c.groupARN(group)) {
		return frame, nil, nil, nil
	}
	return nil, nil, deny(), nil
}

// membersDescribable reports whether every topic a classic consumer
// group's members name, in their subscriptions (ConsumerMemberMetadata)
// and assignments (ConsumerMemberAssignment), is describable. Bytes that do
// not parse as the consumer protocol name no topic we can check.
func (c *conn) membersDescribable(api int16, members []kmsg.DescribeGroupsResponseGroupMember) bool {
	ts := &topicSet{c: c, api: api}
	for _, m := range members {
		var meta kmsg.ConsumerMemberMetadata
		if meta.ReadFrom(m.ProtocolMetadata) == nil {
			for _, t := range meta.Topics {
				if !ts.describable(t, [16]byte{}) {
					return false
				}
			}
			for _, o := range meta.OwnedPartitions {
				if !ts.describable(o.Topic, [16]byte{}) {
					return false
				}
			}
		}
		var as kmsg.ConsumerMemberAssignment
		if as.ReadFrom(m.MemberAssignment) == nil {
			for _, t := range as.Topics {
				if !ts.describable(t.Topic, [16]byte{}) {
					return false
				}
			}
		}
	}
	return true
}

// hiddenGroup is the DescribeGroups answer for a group whose members name
// a topic the principal may not describe.
func hiddenGroup(name string) kmsg.DescribeGroupsResponseGroup {
	g := kmsg.NewDescribeGroupsResponseGroup()
	g.Group, g.ErrorCode = name, errTopicAuthz
	return g
}

// consumerMembersDescribable reports whether every topic a KIP-848
// group's members name (subscription, assignment, target assignment) is
// describable.
func (c *conn) consumerMembersDescribable(api int16, members []kmsg.ConsumerGroupDescribeResponseGroupMember) bool {
	ts := &topicSet{c: c, api: api}
	for _, m := range members {
		for _, t := range m.SubscribedTopics {
			if !ts.describable(t, [16]byte{}) {
				return false
			}
		}
		for _, as := range []kmsg.Assignment{m.Assignment, m.TargetAssignment} {
			for _, tp := range as.TopicPartitions {
				if !ts.describable(tp.Topic, tp.TopicID) {
					return false
				}
			}
		}
	}
	return true
}
