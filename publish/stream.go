package publish

import (
	"context"
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Stream publishes records as they come. Send hands each record to the
// producer and returns at once while the Stream holds fewer records and
// bytes than the Publisher's limits (WithMaxInFlightRecords,
// WithMaxInFlightBytes); at a limit it blocks until earlier records have
// their outcomes: back-pressure, never unbounded buffering.
//
// Every record given to Send gets exactly one Outcome, passed to the
// Stream's function with the record's index (0 for the first Send, 1 for
// the next, ...) in that order: outcome i is delivered before outcome i+1.
//
// The Stream keeps Publish's deadline rules, with its context's deadline:
// it stops sending at the deadline less the safety margin (or when the
// context is canceled), then gives franz-go half of the margin to fail the
// records it never sent (Failed, retriable: they cannot be written), and
// reports the records still in flight after that Unconfirmed (their late
// outcome is logged). Records given to Send after that point are Failed
// at once, without being sent. Neither Send nor Close blocks past the
// deadline less half the margin.
//
// Send and Close are called from one goroutine at a time (one feeder);
// Stats may be called from any goroutine. Create a Stream with
// Publisher.Stream.
type Stream struct {
	p     *Publisher
	fn    func(int, Outcome)
	ctx   context.Context // the caller's
	pctx  context.Context // the records' context: ctx's deadline less the margin
	stop  context.CancelFunc
	grace time.Duration

	maxRecords int64 // records the producer holds
	maxBytes   int64 // their bytes
	maxRing    int64 // outcomes not delivered yet (in or not), 2 x maxRecords

	// ring holds the outcomes of the records sent and not yet delivered,
	// record i's at i & mask; Status 0 until it is in (a slot is cleared
	// as it is delivered). Publish's ring is its result (mask all ones),
	// kept as delivered (keep). Only the answer side touches the slots,
	// under mu; only Send replaces ring (grow, under mu).
	ring []Outcome
	mask int64
	keep bool
	// calls[k] is the promise of the record in ring slot k, made once per
	// slot instead of a closure per record, with what the answer side
	// needs of the record. Send writes it before advancing seq.
	calls []sentRecord

	// Send's common path takes no lock, and the feeder and franz-go's
	// promise goroutine each write only their own cache line per record:
	// sharing one (a lock, or counters both sides add to) would pass it
	// back and forth between the cores for every record. What one side
	// needs of the other's it reads through atomics, and the feeder only
	// when its last view of the answers says a limit is reached.
	_ [64]byte

	// Written by the feeder for every record.

	// seq is the index of the next record sent (the tail), with
	// seqStopped set once the Stream's time is up: from then on only
	// Send's locked path advances it, so no record slips past the
	// moment the rest are reported Unconfirmed.
	seq       atomic.Int64
	produced  atomic.Int64 // records handed to the producer
	prodBytes atomic.Int64 // their bytes
	// The feeder's last view of head, answered and ansBytes: never ahead
	// of them, so a record that fits this view fits.
	seenHead, seenAnswered, seenAnsBytes int64
	// closed: Close was called (written under mu by the feeder, which
	// may read it without).
	closed bool
	_      [64]byte

	// Written by the answer side for every record.

	mu       sync.Mutex
	head     atomic.Int64 // index of the next outcome to deliver; advanced under mu
	answered atomic.Int64 // records the producer has answered
	ansBytes atomic.Int64 // their bytes
	// seenTail is a tail read earlier (under mu): outcomes before it may
	// be delivered without reading seq, the feeder's.
	seenTail int64
	cond     sync.Cond // signalled when a waiter (Send or Close) may proceed
	waiters  int
	// waitSize is the size of the record a waiting Send has.
	waitSize int64
	// finished: the grace after the stop is over, every record sent has
	// been delivered (the rest Unconfirmed), and later records are
	// failed at once.
	finished              bool
	graceTimer            *time.Timer
	afterCtx              func() bool
	acked, failed, unconf int64
}

// seqStopped marks Stream.seq once nothing more is sent.
const seqStopped = 1 << 62

// sentRecord is the promise of a record in flight: its index, size and
// topic. The feeder writes them before handing the record to franz-go; the
// promise reads them once answered (and an Unconfirmed outcome its topic).
// A slot's sentRecord is reused only after its record's outcome is
// delivered.
type sentRecord struct {
	s       *Stream
	i, size int64
	topic   string
	promise func(*kgo.Record, error)
}

func (c *sentRecord) answered(r *kgo.Record, err error) { c.s.promise(c.i, c.size, r, err) }

// StreamStats is a snapshot of a Stream's progress.
type StreamStats struct {
	// Sent counts the records given to Send.
	Sent int64
	// Acked, Failed and Unconfirmed count the outcomes delivered so far.
	Acked, Failed, Unconfirmed int64
	// InFlight counts the records sent that the producer has not
	// answered yet; at most the Publisher's WithMaxInFlightRecords.
	InFlight int64
	// Undelivered counts the records sent whose outcome is not delivered
	// yet: InFlight, and answered records waiting for an earlier one's
	// outcome (outcomes go in order); at most twice
	// WithMaxInFlightRecords.
	Undelivered int64
	// InFlightBytes is the size (key, value, headers) of the records the
	// producer still holds for the Stream; at most the Publisher's
	// WithMaxInFlightBytes, or one record's size if that is larger.
	InFlightBytes int64
}

// Stream starts a Stream publishing records under ctx: its deadline (less
// the safety margin) bounds every record sent, and canceling it stops the
// Stream as the deadline would. fn gets each record's outcome with its
// index, in the order the records were sent; nil discards them (Stats still
// counts them). fn is called one outcome at a time, from franz-go's promise
// goroutine or from Send or Close: it must be quick and must not call the
// Stream's methods. Call Close when done sending.
func (p *Publisher) Stream(ctx context.Context, fn func(i int, o Outcome)) *Stream {
	n := min(p.maxRecords, 1024)
	return p.stream(ctx, fn, make([]Outcome, 1<<bits.Len64(uint64(n-1))), false)
}

// stream starts a Stream with ring (a power of two long, or every outcome's
// place when keep).
func (p *Publisher) stream(ctx context.Context, fn func(int, Outcome), ring []Outcome, keep bool) *Stream {
	s := &Stream{p: p, fn: fn, ctx: ctx, grace: p.margin / 2, maxRecords: p.maxRecords, maxBytes: p.maxBytes,
		maxRing: 2 * p.maxRecords, ring: ring, mask: int64(len(ring) - 1), keep: keep, calls: make([]sentRecord, len(ring))}
	if keep {
		s.mask = -1
	}
	s.cond.L = &s.mu
	if deadline, ok := ctx.Deadline(); ok {
		s.pctx, s.stop = context.WithDeadline(ctx, deadline.Add(-p.margin))
	} else {
		s.pctx, s.stop = context.WithCancel(ctx)
	}
	if s.pctx.Err() != nil {
		// No time left: nothing is sent; say so without a goroutine.
		s.seq.Store(seqStopped)
		s.finished = true
	} else {
		s.afterCtx = context.AfterFunc(s.pctx, s.expire)
	}
	return s
}

// recordSize is what the Stream counts of a record against
// WithMaxInFlightBytes: key, value and headers.
func recordSize(r *kgo.Record) int64 {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return int64(n)
}

// Send publishes r, blocking while the Stream is at its limits (never past
// the context's deadline less half the safety margin). r's Topic defaults
// to the Config's Topic; a record pinned with Pin goes to its partition.
// Do not modify r until its outcome is delivered. Send panics after Close.
func (s *Stream) Send(r *kgo.Record) {
	if s.closed {
		panic("publish: Send on a closed Stream")
	}
	size := recordSize(r)
	topic := r.Topic
	if topic == "" {
		topic = s.p.topic
	}
	// The producer's records are bounded as it answers them (as franz-go
	// bounds its own buffer); the answers waiting for an earlier one
	// (in-order delivery) are bounded too, but more loosely, so that one
	// slow partition does not starve the others of records to batch.
	seq := s.seq.Load()
	if !s.fits(s.seenLoad(seq), size, 0) {
		s.see()
		if !s.fits(s.seenLoad(seq), size, 0) {
			s.waitRoom(size)
			seq = s.seq.Load()
		}
	}
	if seq&seqStopped != 0 || topic == "" || s.pctx.Err() != nil {
		s.sendNow(topic)
		return
	}
	i := seq
	if i-s.seenHead >= int64(len(s.ring)) {
		// The ring may be full (seenHead may be behind head).
		s.mu.Lock()
		if i-s.head.Load() == int64(len(s.ring)) {
			s.grow()
		}
		s.mu.Unlock()
		s.see()
	}
	k := i & s.mask
	c := &s.calls[k]
	if c.promise == nil {
		c.s, c.promise = s, c.answered
	}
	c.i, c.size, c.topic = i, size, topic
	if !s.seq.CompareAndSwap(seq, seq+1) {
		// Stopped since the check: the record is not sent.
		s.sendNow(topic)
		return
	}
	s.produced.Add(1) // before Produce, so before its answer
	s.prodBytes.Add(size)
	if pc, ok := r.Context.(pinCtx); ok && pc.Context == context.Background() {
		// Pin could not know the deadline: give the record the
		// Stream's, so that franz-go fails it unsent when time is up.
		r.Context = pinCtx{s.pctx}
	}
	s.p.client.Produce(s.pctx, r, c.promise)
}

// waitRoom blocks until a record of size fits or the Stream is finished.
func (s *Stream) waitRoom(size int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.finished && !s.fits(s.load(), size, 0) {
		s.waitSize = size
		s.wait()
	}
	s.see()
}

// sendNow gives the record Send is at an outcome without sending it: its
// topic is missing, or the Stream's time is up. It is delivered in order.
func (s *Stream) sendNow(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := Outcome{Status: Failed, Err: errNoTopic}
	if topic != "" {
		o = Outcome{Status: Failed, Topic: topic, Retriable: true, Err: s.notSent()}
	}
	i := s.tail()
	if s.finished {
		// Nothing is in flight: deliver at once.
		s.seq.Add(1)
		s.head.Add(1)
		if s.keep {
			s.ring[i] = o
		}
		s.deliver(i, o)
		return
	}
	if i-s.head.Load() == int64(len(s.ring)) {
		s.grow()
	}
	s.ring[i&s.mask] = o
	s.seq.Add(1)
	s.deliverReady()
}

// tail is the index of the next record sent.
func (s *Stream) tail() int64 { return s.seq.Load() &^ seqStopped }

var errNoTopic = errors.New("publish: record has no topic and there is no default topic: set the record's topic or MSK_TOPIC")

// notSent is the error of a record the Stream did not send because its
// time was up.
func (s *Stream) notSent() error {
	err := s.pctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("publish: not sent: no time left before the deadline (the safety margin is %s)%s: %w", s.p.margin, s.p.connNote(), err)
	}
	if err == nil {
		err = context.Canceled
	}
	return fmt.Errorf("publish: not sent: publishing was stopped%s: %w", stopReason(context.Cause(s.pctx)), err)
}

// wait waits on cond; s.mu is held.
func (s *Stream) wait() {
	s.waiters++
	s.cond.Wait()
	s.waiters--
}

// streamLoad is what a Stream holds against its limits.
type streamLoad struct {
	records, bytes int64 // with the producer
	undelivered    int64 // sent, outcome not delivered
}

// load is the Stream's load now.
func (s *Stream) load() streamLoad {
	head, answered, ansBytes := s.head.Load(), s.answered.Load(), s.ansBytes.Load()
	return streamLoad{s.produced.Load() - answered, s.prodBytes.Load() - ansBytes, s.tail() - head}
}

// seenLoad is the load as the feeder last saw the answers, with seq the
// tail: never less than the load now. Feeder only.
func (s *Stream) seenLoad(seq int64) streamLoad {
	return streamLoad{s.produced.Load() - s.seenAnswered, s.prodBytes.Load() - s.seenAnsBytes, seq&^seqStopped - s.seenHead}
}

// see updates the feeder's view of the answers. Feeder only.
func (s *Stream) see() {
	s.seenHead, s.seenAnswered, s.seenAnsBytes = s.head.Load(), s.answered.Load(), s.ansBytes.Load()
}

// fits reports whether a record of size may be sent at load l with 1/slack
// of each limit (at least one record's worth) still free after it; slack 0
// asks only that the record fit. With slack, even a limit of 1 is met once
// the limit is all free, so a waiter is always woken eventually.
func (s *Stream) fits(l streamLoad, size int64, slack int64) bool {
	need := func(limit int64) int64 { // room to leave, counting the record
		if slack == 0 {
			return 1
		}
		return max(1, limit/slack)
	}
	return s.maxRecords-l.records >= need(s.maxRecords) &&
		(s.keep || s.maxRing-l.undelivered >= need(s.maxRing)) &&
		(l.bytes == 0 || s.maxBytes-l.bytes-size >= need(s.maxBytes)-1)
}

// wake wakes the waiters that may proceed: Close once every outcome is
// delivered, Send once an eighth of the limits is free (waking it for
// every answer would pass the lock back and forth once per record).
// s.mu is held.
func (s *Stream) wake() {
	if s.waiters == 0 {
		return
	}
	if s.finished || s.closed && s.head.Load() == s.tail() || !s.closed && s.fits(s.load(), s.waitSize, 8) {
		s.cond.Broadcast()
	}
}

// grow doubles the ring, keeping each index's slot at index & mask; s.mu
// is held, by Send. The records in flight keep their promises (the new
// slots get new ones as they are used), and their new slots a copy of
// what else their sentRecord holds.
func (s *Stream) grow() {
	ring := make([]Outcome, 2*len(s.ring))
	calls := make([]sentRecord, len(ring))
	mask := int64(len(ring) - 1)
	for i, tail := s.head.Load(), s.tail(); i < tail; i++ {
		ring[i&mask] = s.ring[i&s.mask]
		c := s.calls[i&s.mask]
		calls[i&mask] = sentRecord{i: c.i, size: c.size, topic: c.topic}
	}
	s.ring, s.mask, s.calls = ring, mask, calls
}

// promise records franz-go's answer for record i.
func (s *Stream) promise(i, size int64, r *kgo.Record, err error) {
	var stopped error
	if errors.Is(err, context.Canceled) {
		stopped = context.Cause(s.pctx)
	}
	o := s.p.outcome(r, err, stopped)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answered.Add(1)
	s.ansBytes.Add(size)
	if i < s.head.Load() {
		// Already reported Unconfirmed when time was up (the caller
		// may be publishing it again: leave it alone).
		s.p.logLate(r, err)
		return
	}
	// Give the caller its record as it gave it, so that publishing it
	// again does not carry this Stream's (by then done) context.
	switch c := r.Context.(type) {
	case pinCtx:
		if c.Context == s.pctx {
			r.Context = pinCtx{context.Background()}
		}
	default:
		if r.Context == s.pctx {
			r.Context = nil
		}
	}
	if i == s.head.Load() && !s.keep {
		// The next outcome due, as most are: deliver it without a
		// round trip through its slot.
		s.head.Store(i + 1)
		s.deliver(i, o)
	} else {
		s.ring[i&s.mask] = o
	}
	s.deliverReady()
}

// deliverReady delivers the outcomes that are in, in order, and wakes the
// waiters that may proceed; s.mu is held.
func (s *Stream) deliverReady() {
	for head := s.head.Load(); ; head++ {
		if head == s.seenTail {
			if s.seenTail = s.tail(); head == s.seenTail {
				break
			}
		}
		sl := &s.ring[head&s.mask]
		if sl.Status == 0 {
			break
		}
		o := *sl
		if !s.keep {
			*sl = Outcome{}
		}
		s.head.Store(head + 1)
		s.deliver(head, o)
	}
	s.wake()
}

func (s *Stream) deliver(i int64, o Outcome) {
	switch o.Status {
	case Acked:
		s.acked++
	case Failed:
		s.failed++
	default:
		s.unconf++
	}
	if s.fn != nil {
		s.fn(int(i), o)
	}
}

// expire runs when the records' context is done: nothing more is sent,
// and franz-go has the grace to fail what it never sent.
func (s *Stream) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seq.Or(seqStopped)&seqStopped != 0 {
		return
	}
	if s.head.Load() == s.tail() {
		s.finishLocked()
		return
	}
	s.graceTimer = time.AfterFunc(s.grace, s.finish)
}

func (s *Stream) finish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finishLocked()
}

// finishLocked reports every record still in flight Unconfirmed.
func (s *Stream) finishLocked() {
	if s.finished {
		return
	}
	s.seq.Or(seqStopped)
	s.finished = true
	head, tail := s.head.Load(), s.tail()
	unconfirmed := ErrUnconfirmed
	if note := s.p.connNote(); note != "" {
		unconfirmed = fmt.Errorf("%w%s", ErrUnconfirmed, note)
	}
	for ; head < tail; head++ {
		sl := &s.ring[head&s.mask]
		if sl.Status == 0 {
			*sl = Outcome{Status: Unconfirmed, Topic: s.calls[head&s.mask].topic, Err: unconfirmed, Retriable: true}
		}
		o := *sl
		if !s.keep {
			*sl = Outcome{}
		}
		s.head.Store(head + 1)
		s.deliver(head, o)
	}
	s.wake()
}

// Close waits until every record sent has its outcome (or, once the
// Stream's time is up, the grace is over and the rest are Unconfirmed),
// and releases the Stream. fn is not called after Close returns; Send must
// not be called. Close is safe to call more than once.
func (s *Stream) Close() {
	s.mu.Lock()
	s.closed = true
	for s.head.Load() < s.tail() {
		s.wait()
	}
	s.mu.Unlock()
	if s.afterCtx != nil {
		s.afterCtx()
	}
	s.mu.Lock()
	if s.graceTimer != nil {
		s.graceTimer.Stop()
	}
	// Later Sends (a bug) panic; late answers are logged.
	s.seq.Or(seqStopped)
	s.finished = true
	s.mu.Unlock()
	s.stop()
}

// Stats returns the Stream's counts so far. Safe for concurrent use.
func (s *Stream) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.load()
	// head does not move under mu: Sent is the tail load read.
	return StreamStats{Sent: s.head.Load() + l.undelivered, Acked: s.acked, Failed: s.failed, Unconfirmed: s.unconf,
		InFlight: l.records, Undelivered: l.undelivered, InFlightBytes: l.bytes}
}
