package publish

import (
	"context"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

// pinCtx marks a pinned record (its Context). A type, not a context value,
// so the partitioner's check is one type assertion on the hot path.
type pinCtx struct{ context.Context }

// probeCtx marks Warm's metadata probe: the partitioner refuses it, so it
// is failed before it is ever buffered, and never written. partitioned is
// set when the partitioner saw it, that is once the topic's metadata was
// loaded: the probe's error then means success (franz-go has no sentinel
// for a refused partition, only a message).
type probeCtx struct {
	context.Context
	partitioned *atomic.Bool
}

// Pin makes r go to partition instead of the partitioner's choice, and
// returns r. A partition the topic does not have fails the record.
func Pin(r *kgo.Record, partition int32) *kgo.Record {
	r.Partition = partition
	parent := r.Context
	if parent == nil {
		parent = context.Background()
	}
	r.Context = pinCtx{parent}
	return r
}

func pinned(r *kgo.Record) bool {
	_, ok := r.Context.(pinCtx)
	return ok
}

func isProbe(r *kgo.Record) bool {
	_, ok := r.Context.(probeCtx)
	return ok
}

// probePartitioned reports whether r is a probe the partitioner refused.
func probePartitioned(r *kgo.Record) bool {
	pc, ok := r.Context.(probeCtx)
	return ok && pc.partitioned.Load()
}

// partitioner honours Pin and Warm's probe, and otherwise defers to inner.
type partitioner struct{ inner kgo.Partitioner }

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	tp := &topicPartitioner{inner: p.inner.ForTopic(topic)}
	tp.onNewBatch, _ = tp.inner.(kgo.TopicPartitionerOnNewBatch)
	return tp
}

type topicPartitioner struct {
	inner      kgo.TopicPartitioner
	onNewBatch kgo.TopicPartitionerOnNewBatch
}

// RequiresConsistency is true for pinned records: franz-go then partitions
// among all partitions, so index n is partition n.
func (t *topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return pinned(r) || isProbe(r) || t.inner.RequiresConsistency(r)
}

func (t *topicPartitioner) Partition(r *kgo.Record, n int) int {
	switch {
	case isProbe(r):
		r.Context.(probeCtx).partitioned.Store(true)
		return -1
	case pinned(r):
		return int(r.Partition)
	}
	return t.inner.Partition(r, n)
}

func (t *topicPartitioner) OnNewBatch() {
	if t.onNewBatch != nil {
		t.onNewBatch.OnNewBatch()
	}
}
