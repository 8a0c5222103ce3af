package emulator

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/kafkawire"
)

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

// describable reports whether the principal may describe a topic named
// by name or, when name is empty, by id (an unknown id is left to kfake,
// see topicAllowed). Safe in both loops.
func (c *conn) describable(api int16, name string, id [16]byte) bool {
	return c.topicAllowed(api, iampolicy.DescribeTopic, name, id, name == "")
}

// topicSet checks DescribeTopic once per topic of one answer; a topic is
// named by name or, when name is empty, by ID.
type topicSet struct {
	c    *conn
	api  int16
	seen map[string]bool
}

func (s *topicSet) describable(name string, id [16]byte) bool {
	key := name
	if key == "" {
		key = fmt.Sprintf("id:%x", id)
	}
	ok, done := s.seen[key]
	if !done {
		if s.seen == nil {
			s.seen = map[string]bool{}
		}
		ok = s.c.describable(s.api, name, id)
		s.seen[key] = ok
	}
	return ok
}

// describeTopicPartitions authorizes DescribeTopicPartitions (KIP-966) as
// Kafka's DescribeTopicPartitionsRequestHandler does: DESCRIBE on each
// topic at or after the cursor; a named topic the principal may not
// describe gets TOPIC_AUTHORIZATION_FAILED, and from every topic (an empty
// list) such topics are left out. Kafka pages over the describable topics
// only, so its NextCursor never names another: kfake is asked for an
// explicit list of the describable topics, and its cursor names one of
// them.
func (c *conn) describeTopicPartitions(h kafkawire.Header, req *kmsg.DescribeTopicPartitionsRequest) ([]byte, []func(kmsg.Response), kmsg.Response, error) {
	var cursor string
	if req.Cursor != nil {
		cursor = req.Cursor.Topic
	}
	all := len(req.Topics) == 0
	var names []string
	if all {
		var err error
		if names, err = c.topicNames(); err != nil {
			return nil, nil, nil, err
		}
	} else {
		listed := false
		for _, t := range req.Topics {
			names = append(names, t.Topic)
			listed = listed || t.Topic == cursor
		}
		if req.Cursor != nil && !listed {
			// An invalid request (Kafka: the topic list must contain
			// the cursor's topic); kfake closes the connection.
			return nil, nil, nil, fmt.Errorf("%w: DescribeTopicPartitions cursor not in the topic list", errClose)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	var kept []kmsg.DescribeTopicPartitionsRequestTopic
	var denied []string
	cursorKept := false
	for _, n := range names {
		if n < cursor {
			continue
		}
		if c.allowed(h.Key, iampolicy.DescribeTopic, c.topicARN(n)) {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = n
			kept = append(kept, rt)
			cursorKept = cursorKept || n == cursor
		} else if !all {
			denied = append(denied, n)
		}
	}
	if req.Cursor != nil && !cursorKept {
		// The cursor's topic is denied or gone: page on from the next.
		req.Cursor = nil
	}
	add := func(resp *kmsg.DescribeTopicPartitionsResponse) {
		if all {
			// Deleted since the list was taken: not a topic any more.
			resp.Topics = slices.DeleteFunc(resp.Topics, func(t kmsg.DescribeTopicPartitionsResponseTopic) bool {
				return t.ErrorCode == kerr.UnknownTopicOrPartition.Code
			})
		}
		for _, n := range denied {
			rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
			rt.Topic, rt.ErrorCode = kmsg.StringPtr(n), errTopicAuthz
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if len(kept) == 0 {
		resp := kmsg.NewPtrDescribeTopicPartitionsResponse()
		add(resp)
		return nil, nil, resp, nil
	}
	req.Topics = kept
	return reencode(h, req), []func(kmsg.Response){func(r kmsg.Response) { add(r.(*kmsg.DescribeTopicPartitionsResponse)) }}, nil, nil
}

// topicNames lists kfake's topics with a Metadata request of its own, on a
// connection of its own (kfake has no call that lists them). Read loop.
func (c *conn) topicNames() ([]string, error) {
	be, err := c.l.b.backend.dial(c.raw.RemoteAddr(), 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("emulator: listing topics: %w", err)
	}
	defer be.Close()
	be.SetDeadline(time.Now().Add(10 * time.Second))
	req := kmsg.NewPtrMetadataRequest() // a null topic list: every topic
	req.Version = 12
	h := kafkawire.Header{Key: req.Key(), Version: req.Version, Corr: 1, Flexible: req.IsFlexible()}
	if _, err := be.Write(kafkawire.EncodeRequestFrame(h, req)); err != nil {
		return nil, fmt.Errorf("emulator: listing topics: %w", err)
	}
	body, err := kafkawire.ReadFrame(be, kafkawire.MaxFrame)
	if err != nil {
		return nil, fmt.Errorf("emulator: listing topics: %w", err)
	}
	resp, err := kafkawire.DecodeResponse(h, body)
	if err != nil {
		return nil, fmt.Errorf("emulator: listing topics: %w", err)
	}
	var names []string
	for _, t := range resp.(*kmsg.MetadataResponse).Topics {
		if t.Topic != nil {
			names = append(names, *t.Topic)
		}
	}
	return names, nil
}

// fetchSessionSet holds the IDs of the fetch sessions kfake created for
// one connection (see the Fetch case of authorize). Kafka keeps at most
// max.incremental.fetch.session.cache.slots (1000) sessions per broker, and
// a client one per connection; the set forgets the oldest beyond
// maxFetchSessions. Safe for concurrent use: the write loop adds, the
// read loop asks.
type fetchSessionSet struct {
	mu  sync.Mutex
	ids []int32 // oldest first
}

const maxFetchSessions = 16

func (s *fetchSessionSet) add(id int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.Contains(s.ids, id) {
		return
	}
	if len(s.ids) == maxFetchSessions {
		s.ids = slices.Delete(s.ids, 0, 1)
	}
	s.ids = append(s.ids, id)
}

func (s *fetchSessionSet) has(id int32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Contains(s.ids, id)
}
