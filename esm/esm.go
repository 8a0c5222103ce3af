package esm

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ESM is a local event source mapping: one consumer group on one topic,
// invoking one function. Build it with New, run it with Run.
//
// Stats and GroupID are safe to call concurrently with Run.
type ESM struct {
	kc        kafkaconn.Config
	c         config
	topic     string
	groupID   string
	bootstrap string
	enc       *eventEncoder
	log       *slog.Logger

	running atomic.Bool
	stats   counters
}

// New validates cfg (the connection, and the source topic in cfg.Topic)
// and the options, and returns an ESM ready to Run. It does not connect.
func New(cfg kafkaconn.Config, opts ...Opt) (*ESM, error) {
	c := defaultConfig()
	for _, o := range opts {
		o(&c)
	}
	if cfg.Topic == "" {
		return nil, &OptionError{Option: "topic", Value: "(none)", Valid: "set the source topic in the kafkaconn.Config's Topic"}
	}
	if err := c.validate(cfg.Topic); err != nil {
		return nil, err
	}
	if _, err := cfg.Validate(); err != nil {
		return nil, err
	}
	if c.groupID == "" {
		c.groupID = newUUID()
	}
	log := c.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	source := SourceSelfManaged
	if c.eventSourceARN != "" {
		source = SourceMSK
	}
	bootstrap := strings.Join(cfg.Brokers, ",")
	e := &ESM{
		kc: cfg, c: c, topic: cfg.Topic, groupID: c.groupID, bootstrap: bootstrap,
		enc: newEventEncoder(source, c.eventSourceARN, bootstrap),
		log: log.With(slog.String("group", c.groupID), slog.String("topic", cfg.Topic)),
	}
	e.stats.hwm, e.stats.next = map[tp]int64{}, map[tp]int64{}
	return e, nil
}

// GroupID is the consumer group id: the mapping's UUID.
func (e *ESM) GroupID() string { return e.groupID }

// Topic is the source topic.
func (e *ESM) Topic() string { return e.topic }

// Stats are the counters of a running (or finished) ESM.
type Stats struct {
	// Batches is the number of batches gathered.
	Batches int64
	// Invocations counts calls of the function, retries and bisected
	// halves included; FailedInvocations those the function failed
	// (error, or a partial batch response with failures).
	Invocations, FailedInvocations int64
	// Delivered counts records the function accepted.
	Delivered int64
	// Redelivered counts records sent again after a failure.
	Redelivered int64
	// GivenUp counts records given up (retries exhausted, too old, too
	// large); OnFailure those of them written to the on-failure topic.
	GivenUp, OnFailure int64
	// Filtered counts records that matched none of the filters
	// (WithFilters): not delivered, committed.
	Filtered int64
	// Lag is how many records the group is behind the partitions' high
	// watermarks (as of the last fetch), over the partitions it consumes.
	Lag int64
}

type counters struct {
	batches, invocations, failed, delivered, redelivered, givenUp, onFailure, filtered atomic.Int64

	mu   sync.Mutex
	hwm  map[tp]int64 // per partition: the high watermark of the last fetch
	next map[tp]int64 // per partition: the next offset to settle
}

// Stats returns the counters so far.
func (e *ESM) Stats() Stats {
	s := &e.stats
	out := Stats{
		Batches: s.batches.Load(), Invocations: s.invocations.Load(), FailedInvocations: s.failed.Load(),
		Delivered: s.delivered.Load(), Redelivered: s.redelivered.Load(), GivenUp: s.givenUp.Load(), OnFailure: s.onFailure.Load(),
		Filtered: s.filtered.Load(),
	}
	s.mu.Lock()
	for t, hw := range s.hwm {
		out.Lag += max(hw-s.next[t], 0)
	}
	s.mu.Unlock()
	return out
}

// Run consumes the topic in the mapping's consumer group and invokes the
// function until ctx is done (then it returns nil) or a problem that
// retrying cannot fix (an authorization failure, a missing topic): then
// it returns the error. Offsets are committed after each invocation, for
// what the function accepted and the records given up; everything else is
// delivered again by the next Run with the same group id. Run may be
// called once.
func (e *ESM) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("esm: Run was already called; build a new ESM with New")
	}
	kc := e.kc
	// The on-failure destination's documented execution-role policy grants
	// kafka-cluster:WriteData, not WriteDataIdempotently
	// (kafka-on-failure-destination.html): produce without idempotence.
	kc.DisableIdempotence = true
	reset := kgo.NewOffset().AtEnd()
	if e.c.start == TrimHorizon {
		reset = kgo.NewOffset().AtStart()
	}
	r := &runner{e: e, committed: map[tp]int64{}, ready: make(chan struct{})}
	var copts []kafkaconn.Opt
	if e.c.logger != nil {
		copts = append(copts, kafkaconn.WithLogger(e.c.logger))
	}
	gopts := []kgo.Opt{
		kgo.ConsumerGroup(e.groupID),
		kgo.ConsumeTopics(e.topic),
		kgo.ConsumeResetOffset(reset),
		kgo.DisableAutoCommit(),
		// A rebalance waits for the batch in hand to be settled and
		// committed (AllowRebalance after each batch).
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(r.lost),
		kgo.OnPartitionsLost(r.lost),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) { r.rebalanceWaiting.Store(true) }),
		// An on-failure message holds a record's whole event (up to
		// 6 MB, more for a record given up as too large): let the
		// destination's max.message.bytes decide, not franz-go's
		// default 1,000,012-byte cap (see giveUp).
		kgo.ProducerBatchMaxBytes(onFailureMaxBytes),
	}
	// Where each assigned partition starts: the group's commit, or the
	// mapping's starting position, committed (see pinStart).
	gopts = append(gopts, kgo.AdjustFetchOffsetsFn(r.pinStart))
	copts = append(copts, kafkaconn.WithClientOpts(gopts...))
	cl, err := kafkaconn.NewClient(ctx, kc, copts...)
	if err != nil {
		return err
	}
	defer cl.Close()
	// Close leaves the group, which waits for the pollers to allow the
	// rebalance: allow it first (deferred calls run last in, first out).
	defer cl.AllowRebalance()
	r.cl = cl
	close(r.ready)
	if err := r.checkTopics(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	e.log.Info("esm: polling", slog.String("starting_position", string(e.c.start)), slog.Int("batch_size", e.c.batchSize),
		slog.Duration("batching_window", e.c.window))
	for {
		b, err := r.gather(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if len(b.all) > b.filtered {
			e.stats.batches.Add(1)
		}
		if err := r.process(ctx, b); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		// Records polled but carried to the next batch (the payload
		// limit) are still in hand: a rebalance allowed now could take
		// their partition while they are delivered and committed here,
		// and the new owner would deliver them again. Allow it once none
		// is carried; a waiting rebalance stops polling (gather) so that
		// the carry drains.
		if r.carried() == 0 {
			r.rebalanceWaiting.Store(false)
			cl.AllowRebalance()
		}
	}
}

// onFailureMaxBytes bounds an on-failure message on the client's side:
// twice Lambda's payload limit, room for a whole event and its metadata.
const onFailureMaxBytes = 2 * MaxPayloadBytes

// runner is the state of one Run.
type runner struct {
	e     *ESM
	cl    *kgo.Client
	ready chan struct{} // closed once cl is set (group callbacks may run before)

	mu    sync.Mutex
	carry []*record // polled, not yet in a batch (over the size or payload limit)

	rebalanceWaiting atomic.Bool // a rebalance waits for AllowRebalance

	committed map[tp]int64 // next offset committed, per partition (Run's goroutine only)
	failures  int          // consecutive failed invocations, for the backoff

	// position is the group's starting position, written with each
	// commit (commitMetadata); "" when not known (a group msklink did not
	// start). Under mu: pinStart sets it in the group's goroutine.
	position StartingPosition
	warned   bool // the starting position's no-effect warning was logged (pinStart only)
}

// lost drops the carried records of partitions the group took away: they
// are another member's to deliver, from the last commit.
func (r *runner) lost(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	drop := map[tp]bool{}
	for t, ps := range gone {
		for _, p := range ps {
			drop[tp{t, p}] = true
		}
	}
	r.mu.Lock()
	kept := r.carry[:0]
	for _, rec := range r.carry {
		if !drop[rec.tp] {
			kept = append(kept, rec)
		}
	}
	r.carry = kept
	r.mu.Unlock()
	r.e.stats.mu.Lock()
	for t := range drop {
		delete(r.e.stats.hwm, t)
		delete(r.e.stats.next, t)
	}
	r.e.stats.mu.Unlock()
}

// checkTopics fails early, with the fix, when the source or on-failure
// topic is missing or not allowed (Lambda requires the destination in the
// same cluster).
func (r *runner) checkTopics(ctx context.Context) error {
	topics := []string{r.e.topic}
	if r.e.c.onFailureTopic != "" {
		topics = append(topics, r.e.c.onFailureTopic)
	}
	mctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	details, err := kadm.NewClient(r.cl).ListTopics(mctx, topics...)
	if err != nil {
		return fmt.Errorf("esm: reading the topics' metadata: %w", err)
	}
	for i, t := range topics {
		what := "source topic"
		if i > 0 {
			what = "on-failure topic"
		}
		d, ok := details[t]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			return fmt.Errorf("esm: the %s %q does not exist in the cluster: create it (msklink local --topic %s)", what, t, t)
		case errors.Is(d.Err, kerr.TopicAuthorizationFailed):
			return fmt.Errorf("esm: the %s %q: %w: allow kafka-cluster:DescribeTopic on it (and ReadData for the source, WriteData for the on-failure topic)", what, t, d.Err)
		case d.Err != nil:
			return fmt.Errorf("esm: the %s %q: %w", what, t, d.Err)
		}
	}
	return nil
}

// batch is what one gather collected.
type batch struct {
	all      []*record // every record, in poll order (for commits)
	send     []*record // those to invoke the function with
	filtered int       // records of all filtered out
}

// gather collects the next batch as Lambda does: it waits for a first
// record, then for more until the batch size, the batching window after
// that first record, or the 6 MB payload limit (of the encoded event) is
// reached. Records too old or alone too large are gathered to be given up.
// Records filtered out (see newRecord) are gathered to be committed only:
// they count for neither the batch size nor the window, and a batch of
// them alone is returned as soon as no more are in hand, so that their
// offsets are committed without waiting for a record to deliver.
func (r *runner) gather(ctx context.Context) (*batch, error) {
	e := r.e
	b := &batch{}
	sz := newSizer(e.enc)
	var deadline time.Time
	started := false
	for len(b.all)-b.filtered < e.c.batchSize {
		rec := r.popCarry()
		if rec == nil && len(b.all) > 0 && (r.rebalanceWaiting.Load() || !started) {
			// !started: only filtered records so far; commit them rather
			// than wait for a record to deliver.
			// Poll no more while a rebalance waits: what is polled now
			// would be carried, and hold the rebalance longer (Run).
			return b, nil
		}
		if rec == nil {
			need := e.c.batchSize - (len(b.all) - b.filtered)
			var fs kgo.Fetches
			switch {
			case !started:
				fs = r.cl.PollRecords(ctx, need)
			case time.Until(deadline) > 0:
				pctx, cancel := context.WithDeadline(ctx, deadline)
				fs = r.cl.PollRecords(pctx, need)
				cancel()
			default:
				// A nil context returns the records already buffered
				// without waiting (franz-go's documented use).
				fs = r.cl.PollRecords(nil, need) //nolint:staticcheck
			}
			if ctx.Err() != nil {
				return b, ctx.Err()
			}
			if err := r.fetchErrors(fs); err != nil {
				return b, err
			}
			r.noteHighWatermarks(fs)
			recs := fs.Records()
			if len(recs) == 0 {
				if started && !time.Now().Before(deadline) {
					break
				}
				if !started && fs.Err() != nil {
					sleep(ctx, 100*time.Millisecond) // a retriable fetch error: do not spin
				}
				continue
			}
			r.mu.Lock()
			for _, kr := range recs {
				r.carry = append(r.carry, e.newRecord(kr))
			}
			r.mu.Unlock()
			continue
		}
		if err := r.decode(ctx, rec); err != nil {
			r.unpopCarry(rec)
			return b, err
		}
		if rec.filtered {
			b.all = append(b.all, rec)
			b.filtered++
			e.stats.filtered.Add(1)
			if e.c.onFilter != nil {
				e.c.onFilter(Filtered{Topic: rec.tp.topic, Partition: rec.tp.partition, Offset: rec.r.Offset})
			}
			continue
		}
		if !started {
			started = true
			deadline = time.Now().Add(e.c.window)
		}
		switch cost := sz.cost(rec); {
		case rec.discard != "":
		case e.tooOld(rec):
			rec.discard = ConditionRecordAgeExceeded
		case sz.size+cost > e.c.maxPayload && len(b.send) == 0:
			rec.discard = ConditionPayloadSizeExceeded
		case sz.size+cost > e.c.maxPayload:
			r.unpopCarry(rec)
			return b, nil
		default:
			sz.add(rec)
			b.send = append(b.send, rec)
		}
		b.all = append(b.all, rec)
	}
	return b, nil
}

func (r *runner) popCarry() *record {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.carry) == 0 {
		return nil
	}
	rec := r.carry[0]
	r.carry = r.carry[1:]
	return rec
}

func (r *runner) carried() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.carry)
}

func (r *runner) unpopCarry(rec *record) {
	r.mu.Lock()
	r.carry = append([]*record{rec}, r.carry...)
	r.mu.Unlock()
}

// fetchErrors logs retriable fetch errors and returns the first that
// retrying cannot fix (an authorization failure, a closed client).
func (r *runner) fetchErrors(fs kgo.Fetches) error {
	var fatal error
	fs.EachError(func(t string, p int32, err error) {
		var ke *kerr.Error
		var gs *kgo.ErrGroupSession
		switch {
		case fatal != nil, errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		case errors.Is(err, kgo.ErrClientClosed):
			fatal = err
		case errors.As(err, &gs) && (errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration)):
			// The group coordinator no longer knows this member (its
			// session timed out: heartbeats did not get through for
			// the session timeout, the coordinator moved); franz-go
			// joins again as a new member. Not a reason to stop: what
			// was not committed is delivered again, here or by the
			// partitions' new owner.
			r.e.log.Warn("esm: the group dropped this member; joining again (uncommitted records are delivered again)", slog.Any("error", err))
		case errors.As(err, &ke) && !ke.Retriable:
			fatal = fmt.Errorf("esm: consuming %s (partition %d) in group %q: %w", t, p, r.e.groupID, err)
		default:
			r.e.log.Warn("esm: fetch error (retrying)", slog.String("fetch_topic", t), slog.Int("partition", int(p)), slog.Any("error", err))
		}
	})
	return fatal
}

func (r *runner) noteHighWatermarks(fs kgo.Fetches) {
	s := &r.e.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		if p.Err != nil || p.HighWatermark < 0 {
			return
		}
		t := tp{p.Topic, p.Partition}
		s.hwm[t] = p.HighWatermark
		if _, ok := s.next[t]; !ok && len(p.Records) > 0 {
			s.next[t] = p.Records[0].Offset
		}
	})
}

// Filtered names a record filtered out (WithFilters, WithOnFilter).
type Filtered struct {
	Topic     string
	Partition int32
	Offset    int64
}

// newRecord wraps a polled record. A record that matches none of the
// filters is settled at once (done, filtered) and not encoded: it is
// never delivered, only committed. Lambda filters the value it would
// deliver, after any schema-registry decoding ("filters applied after
// decoding"): with a registry stage, the record is left unencoded and
// decode filters and encodes it once it has decoded.
func (e *ESM) newRecord(kr *kgo.Record) *record {
	switch {
	case e.c.decoder != nil:
		return wrapRecord(kr)
	case !e.c.filters.Match(kr.Value):
		return &record{r: kr, tp: tp{kr.Topic, kr.Partition}, done: true, filtered: true}
	}
	return newRecord(kr)
}

// tooOld reports whether rec is past the maximum record age.
func (e *ESM) tooOld(rec *record) bool {
	return e.c.maxAge >= 0 && e.c.now().Sub(rec.r.Timestamp) > e.c.maxAge
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
