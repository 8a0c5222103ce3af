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

// newPartitioner is the partitioner of records that are not pinned:
// franz-go's default (see Publish).
func newPartitioner() kgo.Partitioner { return kgo.UniformBytesPartitioner(64<<10, true, true, nil) }

// partitioner honours Pin and Warm's probe, and otherwise defers to inner.
type partitioner struct{ inner kgo.Partitioner }

func (p partitioner) ForTopic(topic string) kgo.TopicPartitioner {
	tp := &topicPartitioner{inner: p.inner.ForTopic(topic)}
	tp.onNewBatch, _ = tp.inner.(kgo.TopicPartitionerOnNewBatch)
	if backup, ok := tp.inner.(kgo.TopicBackupPartitioner); ok {
		// franz-go calls PartitionByBackup, not Partition, on a
		// partitioner that has it (the uniform bytes one does).
		return &backupTopicPartitioner{tp, backup}
	}
	return tp
}

// backupTopicPartitioner is a topicPartitioner over a
// kgo.TopicBackupPartitioner.
type backupTopicPartitioner struct {
	*topicPartitioner
	backup kgo.TopicBackupPartitioner
}

func (t *backupTopicPartitioner) PartitionByBackup(r *kgo.Record, n int, it kgo.TopicBackupIter) int {
	if p, ok := t.fixed(r); ok {
		return p
	}
	return t.backup.PartitionByBackup(r, n, it)
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
	if p, ok := t.fixed(r); ok {
		return p
	}
	return t.inner.Partition(r, n)
}

// fixed returns the partition of a pinned record, or -1 (refused) for
// Warm's probe.
func (t *topicPartitioner) fixed(r *kgo.Record) (int, bool) {
	switch {
	case isProbe(r):
		r.Context.(probeCtx).partitioned.Store(true)
		return -1, true
	case pinned(r):
		return int(r.Partition), true
	}
	return 0, false
}

func (t *topicPartitioner) OnNewBatch() {
	if t.onNewBatch != nil {
		t.onNewBatch.OnNewBatch()
	}
}
