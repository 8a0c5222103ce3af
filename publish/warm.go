package publish

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/kafkaconn"
)

// maxWarmPartitions bounds the partitions Warm looks at per topic.
const maxWarmPartitions = 4096

// Warm makes the next Publish to topics cost one round trip: it loads the
// topics' metadata into the producer (failing if a topic does not exist or
// cannot be described), loads the idempotent producer id, and opens and
// authenticates a produce connection to every partition leader. topics
// default to the Config's Topic.
//
// Nothing is written: the metadata probe is refused by the Publisher's
// partitioner before it is buffered.
func (p *Publisher) Warm(ctx context.Context, topics ...string) error {
	if len(topics) == 0 && p.topic != "" {
		topics = []string{p.topic}
	}
	// The producer id does not depend on the topics: load it while they
	// load, on its own connection. A refused connection (kafkaconn.Refused)
	// fails it at once, and the topics then stop waiting: franz-go would
	// retry their metadata until ctx ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pidc := make(chan error, 1)
	go func() {
		if !p.idempotent {
			pidc <- nil
			return
		}
		if _, _, err := p.client.ProducerID(ctx); err != nil {
			hint := ""
			if errors.Is(err, kerr.ClusterAuthorizationFailed) {
				hint = " (needs kafka-cluster:WriteDataIdempotently)"
			}
			if kafkaconn.Refused(err) {
				cancel()
			}
			pidc <- fmt.Errorf("publish: loading the idempotent producer id%s: %w", hint, err)
			return
		}
		pidc <- nil
	}()
	err := p.warmTopics(ctx, topics)
	if pidErr := <-pidc; pidErr != nil {
		err = errors.Join(err, pidErr)
	}
	return err
}

// warmTopics loads the topics' metadata into the producer and opens the
// produce connections to their leaders.
func (p *Publisher) warmTopics(ctx context.Context, topics []string) error {
	errc := make(chan error, len(topics))
	for _, t := range topics {
		probeRec := &kgo.Record{Topic: t, Context: probeCtx{ctx, new(atomic.Bool)}}
		p.client.Produce(ctx, probeRec, func(r *kgo.Record, err error) {
			if err != nil && probePartitioned(r) {
				err = nil // the probe did its job: metadata is loaded
			} else if err != nil {
				err = fmt.Errorf("publish: warming topic %q: %w", r.Topic, err)
			}
			errc <- err
		})
	}
	var errs []error
	for range topics {
		if err := <-errc; err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	leaders := map[int32]bool{}
	for _, t := range topics {
		for part := int32(0); part < maxWarmPartitions; part++ {
			leader, _, err := p.client.PartitionLeader(t, part)
			if err != nil {
				return fmt.Errorf("publish: topic %q partition %d: %w", t, part, err)
			}
			if leader < 0 {
				break
			}
			leaders[leader] = true
		}
	}
	ids := make([]int32, 0, len(leaders))
	for id := range leaders {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil
	}
	if err := p.client.EnsureProduceConnectionIsOpen(ctx, ids...); err != nil {
		return fmt.Errorf("publish: opening produce connections: %w", err)
	}
	return nil
}
