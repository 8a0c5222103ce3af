package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn"
	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

const produceUsage = connFlagsUsage + ` --topic T [--key-delimiter D] [--json] [--partition N] [--timeout 30s]

Reads records from stdin, one per line, and publishes each as soon as it
is read, with at most 10,000 records (16 MiB) waiting for their answer:
the line is the value, or KEY<D>VALUE with --key-delimiter, or with
--json an object {"key": K, "value": V, "headers": {"name": H}, "partition": N}
read as the records of a direct Lambda invoke are (a string is its text,
{"base64": "..."} bytes, null no bytes, other JSON its compact text).
Blank lines are skipped. Each line not acked is reported on stderr with
its number, consecutive lines that failed the same way together ("lines
3-90: failed: ..."); a line that cannot be read stops the run once the
lines before it are answered. When the cluster refuses every record
(nothing listens at the bootstrap address or its host does not resolve,
the TLS handshake or authentication fails, the topic is missing or
forbidden) the run stops at once and says why, with the fix. When no
broker has answered a second past --dial-timeout, it says so with the
cause, and waits until --timeout. On a terminal, stderr shows progress.`

// maxLine bounds an input line.
const maxLine = 16 << 20

// errStalled stops a run whose records get no answer for --timeout.
var errStalled = errors.New("no answer from the cluster")

// errInterrupted stops a run that was interrupted (Ctrl-C).
var errInterrupted = errors.New("interrupted")

func runProduce(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "produce", produceUsage)
	var cf connFlags
	cf.register(fs)
	keyDelim := fs.String("key-delimiter", "", "split each line into KEY<delimiter>VALUE")
	asJSON := fs.Bool("json", false, "each line is a JSON record object")
	partition := fs.Int("partition", -1, "write every record to this partition (default: by key)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up when the cluster answers none of the records in flight for this long; they are reported unconfirmed, or failed if never sent")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("produce: unexpected argument %q: records come from stdin", pos[0])
	}
	if *timeout <= 0 {
		return usagef("produce: --timeout must be positive (got %s): it is how long to wait for an answer", *timeout)
	}
	if *partition < -1 {
		return usagef("produce: --partition must be a partition number >= 0 (got %d), or omitted to partition by key", *partition)
	}
	if *asJSON && *keyDelim != "" {
		return usagef("produce: --json and --key-delimiter do not go together: a JSON record has its own \"key\"")
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	if cfg.Topic == "" {
		return usagef("produce: no topic: pass --topic or set MSK_TOPIC")
	}
	var (
		lines  lineNumbers
		prog   *progress
		report failureReport
		alloc  recordAlloc
		held   bool                    // an outcome was Unconfirmed: the producer may still hold its record
		refuse atomic.Pointer[refusal] // why the cluster refuses every record, once known
	)
	// sctx ends the run's records with its cause: interrupted (ctx),
	// stalled, the connection refused.
	sctx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	defer context.AfterFunc(ctx, func() { stop(errInterrupted) })()
	// The feeder stops when halted is done: sctx is, or the topic refuses
	// every record.
	hctx, halt := context.WithCancel(sctx)
	defer halt()
	halted := hctx.Done()
	refused := func(r *refusal) {
		if r != nil && refuse.CompareAndSwap(nil, r) {
			if r.conn {
				stop(errConnRefused)
			}
			halt()
		}
	}
	conns := newReach(sctx, cfg.Brokers, refused)
	// produce has no deadline: the margin is only how long a stopped run
	// (interrupted, stalled, refused) waits for the answers of the records
	// in flight, half of it. A second lets franz-go fail the records it
	// never sent, which are then reported failed, not unconfirmed.
	p, err := publish.New(ctx, cfg, publish.WithSafetyMargin(2*time.Second),
		publish.WithClientOpts(kafkaconn.WithClientOpts(kgo.WithHooks(conns))))
	if err != nil {
		return err
	}
	defer p.Close()

	s := p.Stream(sctx, func(i int, o publish.Outcome) {
		if o.Status == publish.Unconfirmed {
			held = true
		}
		if !held {
			alloc.done.Store(int64(i) + 1)
		}
		if o.Status == publish.Acked {
			report.acked()
			return
		}
		if cause := context.Cause(sctx); o.Status == publish.Failed && errors.Is(o.Err, context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled) {
			// Never sent because the run stopped: say why in a
			// person's words, not franz-go's "context canceled".
			o.Err = fmt.Errorf("not sent: %w", cause)
		}
		report.failed(lines.of(int64(i)), o)
		if o.Status == publish.Failed {
			refused(topicRefusal(cfg.Topic, o.Err, writing))
		}
	})
	prog = startProgress(e.stderr, func(el time.Duration) string {
		st := s.Stats()
		return fmt.Sprintf("msklink: %s records, %s/s, %s acked, %s in flight",
			count(st.Sent), count(int64(float64(st.Sent)/el.Seconds())), count(st.Acked), count(st.InFlight))
	})
	report.printf = prog.Printf
	watchDone, watched := make(chan struct{}), make(chan struct{})
	go watchStall(s, *timeout, func() { stop(errStalled) }, watchDone)
	go func() {
		defer close(watched)
		conns.watch(warnAfter(cfg), fmt.Sprintf("until --timeout %s, or Ctrl-C", *timeout), prog.Printf, watchDone)
	}()
	go func() { refused(checkCluster(sctx, p.Client(), cfg.Topic, writing, int32(*partition))) }()

	parse := lineParser(*keyDelim, *asJSON)
	batches := make(chan lineBatch, 4)
	quit := make(chan struct{})
	go readLines(e.stdin, parse, &alloc, int32(*partition), &lines, batches, quit)
	var (
		bad   error
		sent  int64
		early bool // stopped before the end of the input
	)
feed:
	for {
		select {
		case <-halted:
			early = true
			break feed
		case b, ok := <-batches:
			if !ok {
				break feed
			}
			for _, r := range b.recs {
				select {
				case <-halted:
					early = true
					break feed
				default:
				}
				s.Send(r)
				sent++
			}
			if b.err != nil {
				bad = b.err
				break feed
			}
		}
	}
	close(quit)
	s.Close()
	close(watchDone)
	<-watched
	report.stop()
	prog.Stop()
	st := s.Stats()
	why := ""
	switch r, cause := refuse.Load(), context.Cause(sctx); {
	case r != nil:
		why = r.Error()
	case errors.Is(cause, errStalled):
		why = fmt.Sprintf("no answer from the cluster for %s (--timeout)%s", *timeout, noAnswer(conns.Last()))
	case ctx.Err() != nil:
		why = "interrupted"
	}
	switch {
	case why != "" && early:
		last := "before the first line"
		if sent > 0 {
			last = fmt.Sprintf("after line %d", lines.of(sent-1))
		}
		fmt.Fprintf(e.stderr, "msklink: stopped %s: %s; the lines after it were not sent\n", last, why)
	case why != "":
		fmt.Fprintf(e.stderr, "msklink: %s\n", why)
	}
	if r := refuse.Load(); r != nil && r.fix != "" {
		fmt.Fprintf(e.stderr, "Fix: %s\n", r.fix)
	}
	if bad != nil {
		return fmt.Errorf("%w (%d records before it were acked)", bad, st.Acked)
	}
	fmt.Fprintf(e.stderr, "msklink: %d of %d records acked\n", st.Acked, st.Sent)
	if st.Acked < st.Sent || why != "" {
		return errProblem
	}
	return nil
}

// watchStall calls stop when records are in flight and none has been
// answered for timeout.
func watchStall(s *publish.Stream, timeout time.Duration, stop func(), done <-chan struct{}) {
	tick := time.NewTicker(min(timeout/4, time.Second))
	defer tick.Stop()
	last, answered := time.Now(), int64(0)
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		st := s.Stats()
		if n := st.Acked + st.Failed + st.Unconfirmed; n != answered || st.InFlight == 0 {
			last, answered = time.Now(), n
			continue
		}
		if time.Since(last) >= timeout {
			stop()
			return
		}
	}
}

// lineBatch is records read in a row, then the error of the line that
// could not be read, if any.
type lineBatch struct {
	recs []*kgo.Record
	err  error
}

// readLines reads records from r and sends them in batches: a batch goes
// as soon as no more input is buffered, so a record never waits for
// later lines. A record's timestamp is the time its line was read: the
// clock is read again only when a line needed more input than was
// buffered (lines already buffered together were read microseconds
// apart, and Kafka keeps milliseconds), not once per record as franz-go
// would. It ends after a line that cannot be read (the batch's
// err), or at the end of r, or when quit is closed, and closes out.
// The records it parses are sent in the order they are read.
func readLines(r io.Reader, parse func(*recordAlloc, []byte) (*kgo.Record, error), alloc *recordAlloc, partition int32, lines *lineNumbers, out chan<- lineBatch, quit <-chan struct{}) {
	defer close(out)
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		batch lineBatch
		long  []byte
		line  int64
		recs  int64
		stamp time.Time
		fresh = true // the next record needs a new stamp
	)
	send := func() bool {
		if len(batch.recs) == 0 && batch.err == nil {
			return true
		}
		select {
		case out <- batch:
			batch = lineBatch{}
			return true
		case <-quit:
			return false
		}
	}
	for {
		buffered := br.Buffered()
		b, err := br.ReadSlice('\n')
		if len(b) > buffered {
			fresh = true // waited for input
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if long = append(long, b...); len(long) > maxLine {
				batch.err = fmt.Errorf("line %d: longer than %d MiB: split it, or publish it from a file another way", line+1, maxLine>>20)
				send()
				return
			}
			continue
		}
		if long != nil {
			b, long = append(long, b...), nil
		}
		if len(b) > 0 {
			line++
			b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
			if len(bytes.TrimSpace(b)) == 0 {
				lines.skip(recs)
			} else {
				rec, perr := parse(alloc, b)
				if perr != nil {
					batch.err = fmt.Errorf("line %d: %w", line, perr)
					send()
					return
				}
				if partition >= 0 {
					publish.Pin(rec, partition)
				}
				if fresh {
					stamp, fresh = time.Now(), false
				}
				rec.Timestamp = stamp
				if batch.recs == nil {
					batch.recs = make([]*kgo.Record, 0, maxBatch)
				}
				batch.recs = append(batch.recs, rec)
				recs++
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				batch.err = fmt.Errorf("reading stdin after line %d: %w", line, err)
			}
			send()
			return
		}
		if len(batch.recs) == maxBatch || br.Buffered() == 0 {
			if !send() {
				return
			}
		}
	}
}

// maxBatch bounds the records of a lineBatch.
const maxBatch = 256

// lineParser returns how a line becomes a record.
func lineParser(keyDelim string, asJSON bool) func(*recordAlloc, []byte) (*kgo.Record, error) {
	switch {
	case asJSON:
		return func(_ *recordAlloc, line []byte) (*kgo.Record, error) {
			r, err := lambdafn.DecodeRecord(line)
			var ie *lambdafn.InputError
			if errors.As(err, &ie) {
				if ie.Field == "" {
					return nil, errors.New(ie.Msg)
				}
				return nil, fmt.Errorf("%s: %s", ie.Field, ie.Msg)
			}
			return r, err
		}
	case keyDelim != "":
		return func(a *recordAlloc, line []byte) (*kgo.Record, error) {
			k, v, ok := bytes.Cut(line, []byte(keyDelim))
			if !ok {
				return nil, fmt.Errorf("no key delimiter %q in the line", keyDelim)
			}
			r := a.record()
			r.Key, r.Value = a.bytes(k), a.bytes(v)
			return r, nil
		}
	}
	return func(a *recordAlloc, line []byte) (*kgo.Record, error) {
		r := a.record()
		r.Value = a.bytes(line)
		return r, nil
	}
}

// recordAlloc hands out records and copies of bytes from blocks of 256
// records and 64 KiB, two allocations per few hundred lines instead of two
// per line, and reuses a block once every record in it has its outcome.
// Records are sent in the order they are handed out and outcomes come in
// that order, so blocks are done oldest first: a stream of any length
// lives in the few blocks its records in flight fill, and the garbage
// collector has little to do. Only the reader calls its methods.
type recordAlloc struct {
	// done counts the records from the first whose outcome is delivered
	// and whose record the producer no longer holds (written by the
	// Stream's outcome function); a block is reused once done reaches
	// its end.
	done atomic.Int64
	next int64 // index of the next record handed out
	cur  *recordBlock
	used []*recordBlock // full blocks, oldest first
}

// recordBlock is where a run of records and their bytes live.
type recordBlock struct {
	recs []kgo.Record
	n    int // records handed out
	buf  []byte
	end  int64 // once full: the index after the last record handed out from it
}

func (a *recordAlloc) record() *kgo.Record {
	if a.cur == nil || a.cur.n == len(a.cur.recs) {
		a.nextBlock()
	}
	r := &a.cur.recs[a.cur.n]
	a.cur.n++
	a.next++
	return r
}

// bytes returns a copy of b (never nil: an empty value is not a null one).
// Call it after record, for that record's bytes.
func (a *recordAlloc) bytes(b []byte) []byte {
	if len(b) > 4<<10 {
		return append([]byte{}, b...)
	}
	if a.cur == nil || cap(a.cur.buf)-len(a.cur.buf) < len(b) {
		a.nextBlock() // the record is in the block before: done no later
	}
	buf := a.cur.buf
	start := len(buf)
	a.cur.buf = append(buf, b...)
	return a.cur.buf[start:len(a.cur.buf):len(a.cur.buf)]
}

// nextBlock retires the current block and starts another: the oldest
// block, if every record handed out from it is done, or a new one.
func (a *recordAlloc) nextBlock() {
	const blockRecords, blockBytes = 256, 64 << 10
	if a.cur != nil {
		a.cur.end = a.next
		a.used = append(a.used, a.cur)
	}
	if len(a.used) > 0 && a.used[0].end <= a.done.Load() {
		b := a.used[0]
		a.used[0], a.used = nil, a.used[1:]
		clear(b.recs[:b.n])
		b.n, b.buf = 0, b.buf[:0]
		a.cur = b
		return
	}
	a.cur = &recordBlock{recs: make([]kgo.Record, blockRecords), buf: make([]byte, 0, blockBytes)}
}

// lineNumbers maps a record's index to its input line: they differ by the
// blank lines skipped before it. Safe for concurrent use.
type lineNumbers struct {
	mu   sync.Mutex
	gaps []lineGap // by index
}

// lineGap: from record index on, skipped blank lines came before.
type lineGap struct{ index, skipped int64 }

// skip records a blank line before record index.
func (l *lineNumbers) skip(index int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.gaps)
	if n > 0 && l.gaps[n-1].index == index {
		l.gaps[n-1].skipped++
		return
	}
	prev := int64(0)
	if n > 0 {
		prev = l.gaps[n-1].skipped
	}
	l.gaps = append(l.gaps, lineGap{index, prev + 1})
}

// of returns the line number (from 1) of record i.
func (l *lineNumbers) of(i int64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := sort.Search(len(l.gaps), func(j int) bool { return l.gaps[j].index > i })
	if k == 0 {
		return i + 1
	}
	return i + 1 + l.gaps[k-1].skipped
}
