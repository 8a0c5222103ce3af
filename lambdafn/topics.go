package lambdafn

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultMaxMessageBytes is Kafka's (and MSK's) default max.message.bytes,
// used when the topic's configuration cannot be read.
const defaultMaxMessageBytes = 1048588

// batchOverhead estimates what a one-record batch adds to the key, value
// and headers: the v2 batch header (61 bytes) and the record's varints.
const batchOverhead = 61 + 21

// topicInfo is what validation needs to know about a topic.
type topicInfo struct {
	maxBytes   int   // max.message.bytes, 0 when unknown
	partitions int32 // partition count, 0 when unknown
	notFound   bool
}

// topicCache fetches topic facts once per topic (DescribeConfigs and
// Metadata through the Publisher's client) and keeps them. Safe for
// concurrent use.
type topicCache struct {
	client *kgo.Client
	mu     sync.Mutex
	topics map[string]topicInfo
}

func newTopicCache(cl *kgo.Client) *topicCache {
	return &topicCache{client: cl, topics: map[string]topicInfo{}}
}

// lookupTimeout bounds a topic lookup: a fraction of the time left, so a
// slow broker leaves time for the publish itself.
func lookupTimeout(ctx context.Context) time.Duration {
	const max = 3 * time.Second
	dl, ok := ctx.Deadline()
	if !ok {
		return max
	}
	d := time.Until(dl) / 4
	if d > max {
		d = max
	}
	return d
}

// get returns what is known of topic. refresh forces a new lookup (a
// partition past the cached count may have been added since). A lookup
// that fails for a transient reason returns the zero topicInfo (checks are
// then skipped and the broker has the last word) and is retried next time.
func (c *topicCache) get(ctx context.Context, topic string, refresh bool) (topicInfo, error) {
	c.mu.Lock()
	ti, ok := c.topics[topic]
	c.mu.Unlock()
	if ok && !refresh {
		return ti, nil
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout(ctx))
	defer cancel()
	adm := kadm.NewClient(c.client)

	var wg sync.WaitGroup
	var (
		details kadm.TopicDetails
		metaErr error
		configs kadm.ResourceConfigs
		cfgErr  error
	)
	wg.Add(2)
	go func() { defer wg.Done(); details, metaErr = adm.ListTopics(lctx, topic) }()
	go func() { defer wg.Done(); configs, cfgErr = adm.DescribeTopicConfigs(lctx, topic) }()
	wg.Wait()

	final := true
	if metaErr == nil {
		if td, ok := details[topic]; ok {
			switch {
			case errors.Is(td.Err, kerr.UnknownTopicOrPartition):
				ti.notFound = true
			case td.Err == nil:
				ti.partitions = int32(len(td.Partitions))
			default:
				final = false
			}
		}
	} else {
		final = false
	}
	if cfgErr == nil && len(configs) == 1 {
		rc := configs[0]
		switch {
		case errors.Is(rc.Err, kerr.UnknownTopicOrPartition):
			ti.notFound = true
		case rc.Err == nil:
			for _, cfg := range rc.Configs {
				if cfg.Key == "max.message.bytes" && cfg.Value != nil {
					if n, err := strconv.Atoi(*cfg.Value); err == nil && n > 0 {
						ti.maxBytes = n
					}
				}
			}
		case errors.Is(rc.Err, kerr.TopicAuthorizationFailed), errors.Is(rc.Err, kerr.ClusterAuthorizationFailed):
			// No kafka-cluster:DescribeTopicDynamicConfiguration:
			// assume MSK's default, permanently.
			ti.maxBytes = defaultMaxMessageBytes
		default:
			final = false
		}
	} else if cfgErr != nil {
		final = false
	}
	if ti.notFound {
		ti.partitions, ti.maxBytes = 0, 0
		final = false // a topic created later must be found: do not cache
	}
	if final {
		c.mu.Lock()
		c.topics[topic] = ti
		c.mu.Unlock()
	}
	var err error
	if !final && !ti.notFound {
		err = errors.Join(metaErr, cfgErr)
		if err == nil {
			err = errors.New("topic lookup incomplete")
		}
	}
	return ti, err
}
