package esm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PartitionStart is where the mapping starts delivering a partition the
// group assigned it (WithOnAssign).
type PartitionStart struct {
	Topic     string
	Partition int32
	// Offset is the first offset to deliver.
	Offset int64
	// From says why: FromCommitted, FromStartingPosition or
	// FromNewPartition.
	From string
	// Position is the starting position resolved to Offset (From
	// FromStartingPosition: the mapping's; FromNewPartition:
	// TrimHorizon), "" for FromCommitted.
	Position StartingPosition
}

// Where a partition starts (PartitionStart.From).
const (
	// FromCommitted: the group's committed offset.
	FromCommitted = "committed"
	// FromStartingPosition: the mapping starts for the first time (its
	// group has no commit on the topic): its starting position, resolved
	// to an offset and committed for every partition of the topic.
	FromStartingPosition = "starting position"
	// FromNewPartition: a partition without a commit in a group that has
	// commits on the topic: one added to the topic after the mapping first
	// started. It starts at its oldest record, since every record in it
	// came after the mapping's starting position.
	FromNewPartition = "new partition"
)

func (s PartitionStart) String() string {
	switch s.From {
	case FromCommitted:
		return fmt.Sprintf("%s-%d at committed offset %d", s.Topic, s.Partition, s.Offset)
	case FromNewPartition:
		return fmt.Sprintf("%s-%d at offset %d (a new partition: its oldest record)", s.Topic, s.Partition, s.Offset)
	}
	return fmt.Sprintf("%s-%d at offset %d (%s)", s.Topic, s.Partition, s.Offset, s.Position)
}

// commitMetadataPrefix starts the metadata of every commit: the group's
// starting position follows, so a later Run knows it.
const commitMetadataPrefix = "msklink esm: starting position "

// pinStart decides where each assigned partition starts (franz-go's
// AdjustFetchOffsetsFn, after the group's commits are read), so that the
// starting position is part of the mapping, as on Lambda, where it is
// fixed when the mapping is created and a group with commits resumes from
// them ("Lambda ignores the StartingPosition for your event source mapping.
// Instead, Lambda begins processing records according to the committed
// offset of the consumer group": kafka-consumer-group-id.html):
//
//   - The group has no commit on the topic (the mapping's first start):
//     every partition of the topic is resolved to the starting position
//     (its oldest offset, or its end now for LATEST) and committed at
//     once. Without it the position would live only in this process: a
//     mapping stopped before a partition's first delivered record would
//     start that partition again at the starting position of the next Run,
//     which with LATEST (the default) skips the records written meanwhile.
//   - The group has commits: a partition with one resumes there; one
//     without (added to the topic later; Lambda does not document this
//     case) starts at its oldest record, which came after the mapping
//     started, and that offset is committed too. A starting position
//     given that differs from the group's is logged: it has no effect.
//
// Commits carry the position in their metadata (commitMetadata), which
// is how a later Run knows the group's.
func (r *runner) pinStart(ctx context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	e := r.e
	assigned := offsets[e.topic]
	if len(assigned) == 0 {
		return offsets, nil
	}
	committed, groupPos, err := r.groupCommits(ctx)
	if err != nil {
		return nil, err
	}
	for _, o := range assigned {
		if o.EpochOffset().Offset >= 0 {
			committed = true // franz-go read a commit the fetch above missed
		}
	}
	var (
		pin    = map[int32]int64{}
		starts []PartitionStart
	)
	if !committed {
		// The first start: every partition of the topic, assigned or not.
		at, err := r.listOffsets(ctx, e.c.start)
		if err != nil {
			return nil, err
		}
		pin = at
		groupPos = e.c.start
	} else if e.c.startSet && groupPos != e.c.start && !r.warned {
		r.warned = true
		was := "a group msklink did not start: its starting position is not recorded"
		if groupPos != "" {
			was = "the group started at " + string(groupPos)
		}
		e.log.Warn(fmt.Sprintf("esm: the starting position %s has no effect: group %s has committed offsets (%s); it resumes from them, as Lambda does (StartingPosition can be set only when a mapping is created); use a new group id to start elsewhere", e.c.start, e.groupID, was))
	}
	r.mu.Lock()
	r.position = groupPos
	r.mu.Unlock()
	var oldest map[int32]int64
	for p, o := range assigned {
		if off := o.EpochOffset().Offset; off >= 0 {
			starts = append(starts, PartitionStart{Topic: e.topic, Partition: p, Offset: off, From: FromCommitted})
			continue
		}
		if !committed {
			at, ok := pin[p]
			if !ok {
				return nil, fmt.Errorf("esm: resolving the %s starting position: the broker's answer does not list %s", e.c.start, tp{e.topic, p})
			}
			starts = append(starts, PartitionStart{Topic: e.topic, Partition: p, Offset: at, From: FromStartingPosition, Position: e.c.start})
			continue
		}
		if oldest == nil {
			if oldest, err = r.listOffsets(ctx, TrimHorizon); err != nil {
				return nil, err
			}
		}
		at, ok := oldest[p]
		if !ok {
			return nil, fmt.Errorf("esm: reading the oldest offset of new partition %s: the broker's answer does not list it", tp{e.topic, p})
		}
		pin[p] = at
		starts = append(starts, PartitionStart{Topic: e.topic, Partition: p, Offset: at, From: FromNewPartition, Position: TrimHorizon})
	}
	if err := r.commitPins(ctx, pin); err != nil {
		// The group session restarts and assigns the partitions again.
		return nil, err
	}
	for _, s := range starts {
		if s.From != FromCommitted {
			offsets[s.Topic][s.Partition] = kgo.NewOffset().At(s.Offset)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i].Partition < starts[j].Partition })
	what := make([]string, len(starts))
	for i, s := range starts {
		what[i] = s.String()
	}
	e.log.Info("esm: partitions assigned", slog.String("starts", strings.Join(what, "; ")))
	if e.c.onAssign != nil {
		e.c.onAssign(starts)
	}
	return offsets, nil
}

// groupCommits reads whether the group has a commit on the topic, and the
// starting position its commits record ("" if none does).
func (r *runner) groupCommits(ctx context.Context) (committed bool, pos StartingPosition, err error) {
	e := r.e
	resp, err := kadm.NewClient(r.cl).FetchOffsets(ctx, e.groupID)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return false, "", fmt.Errorf("esm: reading the committed offsets of group %q: %w", e.groupID, err)
	}
	resp.Each(func(o kadm.OffsetResponse) {
		if o.Topic != e.topic || o.Err != nil || o.At < 0 {
			return
		}
		committed = true
		if p, ok := strings.CutPrefix(o.Metadata, commitMetadataPrefix); ok && pos == "" {
			if sp, err := ParseStartingPosition(p); err == nil {
				pos = sp
			}
		}
	})
	return committed, pos, nil
}

// listOffsets resolves pos for every partition of the topic: its oldest
// offset (TrimHorizon) or its end now (Latest).
func (r *runner) listOffsets(ctx context.Context, pos StartingPosition) (map[int32]int64, error) {
	e := r.e
	adm := kadm.NewClient(r.cl)
	list := adm.ListEndOffsets
	if pos == TrimHorizon {
		list = adm.ListStartOffsets
	}
	listed, err := list(ctx, e.topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		return nil, fmt.Errorf("esm: resolving the %s starting position of %s: %w", pos, e.topic, err)
	}
	out := map[int32]int64{}
	listed.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out, nil
}

// commitPins commits the offsets pinned for the topic's partitions, as
// this member of the group, with the group's starting position in their
// metadata. It sends the OffsetCommit itself: franz-go's commit functions,
// called before the assignment is set up (AdjustFetchOffsetsFn), log a
// warning that the session ended ("were we kicked from the group?").
func (r *runner) commitPins(ctx context.Context, pin map[int32]int64) error {
	if len(pin) == 0 {
		return nil
	}
	e := r.e
	// OffsetCommit v10 names the topic by its id.
	details, err := kadm.NewClient(r.cl).ListTopics(ctx, e.topic)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		return fmt.Errorf("esm: reading the id of topic %s: %w", e.topic, err)
	}
	member, generation := r.cl.GroupMetadata()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.MemberID, req.Generation = e.groupID, member, generation
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic, t.TopicID = e.topic, details[e.topic].ID
	md := r.metadata()
	for p, o := range pin {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, o, -1
		if md != "" {
			rp.Metadata = &md
		}
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, r.cl)
	if err == nil {
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if perr := kerr.ErrorForCode(p.ErrorCode); perr != nil && err == nil {
					err = perr
				}
			}
		}
	}
	if err != nil {
		return fmt.Errorf("esm: committing the starting offsets %v of %s for group %q: %w", pin, e.topic, e.groupID, err)
	}
	e.log.Debug("esm: starting offsets committed", slog.Any("offsets", pin))
	return nil
}

// metadata is the metadata of the group's commits: its starting position,
// or "" when not known.
func (r *runner) metadata() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.position == "" {
		return ""
	}
	return commitMetadataPrefix + string(r.position)
}

// commitMetadata returns ctx with a pre-commit function that writes the
// group's starting position in the metadata of each partition committed,
// when it is known.
func (r *runner) commitMetadata(ctx context.Context) context.Context {
	md := r.metadata()
	if md == "" {
		return ctx
	}
	return kgo.PreCommitFnContext(ctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				req.Topics[i].Partitions[j].Metadata = &md
			}
		}
		return nil
	})
}
