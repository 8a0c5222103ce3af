package kafkaesm

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/lambdafn/internal/telemetry"
)

// status is what became of one record.
type status uint8

const (
	pending  status = iota // not processed (yet)
	ok                     // the function succeeded
	failed                 // the function failed, or the record is malformed
	deferred               // not handed to the function: after a failure, or past the deadline
)

// run is one invocation's processing state. Records of a partition are
// processed in order by one goroutine; the invocation answers when all
// partitions are done or the deadline minus the margin passes, whichever
// comes first. A goroutine still in the function then is abandoned: its
// record counts as not processed (retried), and what it returns later is
// ignored.
type run struct {
	h     *Handler
	parts []partition

	mu        sync.Mutex
	st        [][]status // [partition][record]
	errs      [][]error
	abandoned bool

	stop atomic.Bool // without partial responses, a failure stops the rest
}

func (r *run) set(p, i int, s status, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.abandoned {
		return
	}
	r.st[p][i], r.errs[p][i] = s, err
}

// handle processes the event's partitions and builds the answer.
func (h *Handler) handle(ctx context.Context, start time.Time, ev *Event, parts []partition) (*Response, error) {
	r := &run{h: h, parts: parts, st: make([][]status, len(parts)), errs: make([][]error, len(parts))}
	total := 0
	for i, p := range parts {
		r.st[i] = make([]status, len(p.items))
		r.errs[i] = make([]error, len(p.items))
		total += len(p.items)
	}
	fctx, cancel := ctx, context.CancelFunc(func() {})
	var wait <-chan time.Time
	if dl, has := ctx.Deadline(); has {
		stopAt := dl.Add(-h.margin)
		fctx, cancel = context.WithDeadline(ctx, stopAt)
		t := time.NewTimer(time.Until(stopAt))
		defer t.Stop()
		wait = t.C
	}
	defer cancel()

	done := make(chan struct{})
	go func() {
		defer close(done)
		if h.batch != nil {
			r.runBatch(fctx)
		} else {
			r.runRecords(fctx)
		}
	}()
	timedOut := false
	select {
	case <-done:
	case <-wait:
		timedOut = true
	}
	timedOut = timedOut || fctx.Err() != nil
	r.mu.Lock()
	r.abandoned = true
	st, errs := r.st, r.errs
	r.mu.Unlock()
	return h.answer(ctx, start, ev, parts, st, errs, total, timedOut)
}

// runRecords calls the RecordFunc for each record, partitions in
// parallel up to the concurrency, each partition in order.
func (r *run) runRecords(ctx context.Context) {
	sem := make(chan struct{}, r.h.concurrency)
	var wg sync.WaitGroup
	for pi := range r.parts {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r.runPartition(ctx, pi)
		}()
	}
	wg.Wait()
}

func (r *run) runPartition(ctx context.Context, pi int) {
	p := r.parts[pi]
	for i, it := range p.items {
		if r.stop.Load() || ctx.Err() != nil {
			return // the rest stays pending: deferred in the answer
		}
		if it.err != nil {
			r.set(pi, i, failed, it.err)
			r.failure()
			return
		}
		if err := r.call(ctx, it.rec); err != nil {
			r.set(pi, i, failed, err)
			r.failure()
			return
		}
		r.set(pi, i, ok, nil)
	}
}

// failure stops the other partitions when one failed record fails the
// whole invocation anyway.
func (r *run) failure() {
	if !r.h.report {
		r.stop.Store(true)
	}
}

// call runs the RecordFunc on rec, recovering a panic.
func (r *run) call(ctx context.Context, rec Record) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return r.h.fn(ctx, rec)
}

// runBatch calls the BatchFunc once with every well-formed record before
// the first malformed one of each partition.
func (r *run) runBatch(ctx context.Context) {
	type pos struct{ p, i int }
	var recs []Record
	var where []pos
	for pi, p := range r.parts {
		for i, it := range p.items {
			if it.err != nil {
				r.set(pi, i, failed, it.err)
				break
			}
			recs = append(recs, it.rec)
			where = append(where, pos{pi, i})
		}
	}
	if len(recs) == 0 || ctx.Err() != nil {
		return
	}
	errs, perr := r.callBatch(ctx, recs)
	if perr == nil && errs != nil && len(errs) != len(recs) {
		perr = fmt.Errorf("the BatchFunc returned %d errors for %d records: return one per record, or nil when all succeeded", len(errs), len(recs))
	}
	for j, w := range where {
		switch {
		case perr != nil:
			r.set(w.p, w.i, failed, perr)
		case errs != nil && errs[j] != nil:
			r.set(w.p, w.i, failed, errs[j])
		default:
			r.set(w.p, w.i, ok, nil)
		}
	}
}

func (r *run) callBatch(ctx context.Context, recs []Record) (errs []error, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return r.h.batch(ctx, recs), nil
}

// answer turns the records' outcomes into the response (or the error),
// and logs and measures the invocation.
func (h *Handler) answer(ctx context.Context, start time.Time, ev *Event, parts []partition, st [][]status, errs [][]error, total int, timedOut bool) (*Response, error) {
	resp := &Response{BatchItemFailures: []BatchItemFailure{}}
	var (
		processed, nfailed, ndeferred int
		failures                      []*RecordError
		oldest                        time.Time
	)
	for pi, p := range parts {
		first := -1 // the partition's first record not processed
		for i, it := range p.items {
			if t := it.rec.Timestamp; !t.IsZero() && (oldest.IsZero() || t.Before(oldest)) {
				oldest = t
			}
			s := st[pi][i]
			if first < 0 && s != ok {
				first = i
			}
			switch s {
			case ok: // after a failure it is retried too, in order
				processed++
			case failed:
				nfailed++
			default:
				ndeferred++
			}
		}
		if first < 0 {
			continue
		}
		it := p.items[first]
		id := ItemIdentifier{Partition: p.key, Offset: it.rec.Offset}
		var re *RecordError
		switch err := errs[pi][first]; {
		case err == nil && (timedOut || h.report):
			re = &RecordError{ID: id, Err: ErrDeadline}
		case err == nil:
			re = &RecordError{ID: id, Err: ErrBatchStopped}
		case errors.As(err, &re) && re.Field != "":
			// malformed: already a *RecordError naming the field
		default:
			re = &RecordError{ID: id, Err: err}
		}
		failures = append(failures, re)
		resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: id})
		h.logFailure(ctx, p, first, re, st[pi], len(p.items))
	}

	cold := h.coldStart.Swap(false)
	elapsed := time.Since(start)
	var age time.Duration
	if !oldest.IsZero() {
		age = max(h.now().Sub(oldest), 0)
	}
	attrs := []any{"eventSource", ev.EventSource, "records", total, "partitions", len(parts),
		"processed", processed, "failed", nfailed, "deferred", ndeferred,
		"batchAgeMs", age.Milliseconds(), "totalMs", telemetry.Ms(elapsed), "coldStart", cold}
	if dl, has := ctx.Deadline(); has {
		attrs = append(attrs, "msLeft", time.Until(dl).Milliseconds())
	}
	if timedOut {
		attrs = append(attrs, "deadlineReached", true)
	}
	metrics := []telemetry.Metric{{Name: "RecordsProcessed", Unit: "Count"}, {Name: "RecordsFailed", Unit: "Count"},
		{Name: "RecordsDeferred", Unit: "Count"}, {Name: "BatchAge", Unit: "Milliseconds"}, {Name: "Duration", Unit: "Milliseconds"}}
	values := []any{processed, nfailed, ndeferred, age.Milliseconds(), telemetry.Ms(elapsed)}
	if cold {
		metrics = append(metrics, telemetry.Metric{Name: "ColdStart", Unit: "Count"})
		values = append(values, 1)
	}
	h.emf.Write([]telemetry.Dim{{Name: "FunctionName", Value: h.funcName}, {Name: "EventSource", Value: ev.EventSource}}, metrics, values)

	switch {
	case len(failures) == 0:
		h.log.InfoContext(ctx, "batch processed", attrs...)
		return resp, nil
	case h.report:
		h.log.WarnContext(ctx, "batch partly processed: failed partitions reported in batchItemFailures", attrs...)
		return resp, nil
	}
	err := &BatchError{Records: total, Failed: failures}
	h.log.ErrorContext(ctx, "batch failed: the event source mapping retries it", append(attrs, "error", err.Error())...)
	return nil, err
}

// logFailure logs the first record of a partition that was not processed.
func (h *Handler) logFailure(ctx context.Context, p partition, first int, re *RecordError, st []status, n int) {
	attrs := []any{"topic", p.topic, "partition", p.part, "offset", re.ID.Offset, "retried", n - first, "error", re.Error()}
	var pe *PanicError
	switch {
	case errors.As(re.Err, &pe):
		h.log.ErrorContext(ctx, "record failed: the function panicked", append(attrs, "stack", string(pe.Stack))...)
	case re.Field != "":
		h.log.WarnContext(ctx, "malformed record", append(attrs, "field", re.Field)...)
	case st[first] == failed:
		h.log.WarnContext(ctx, "record failed", attrs...)
	default:
		h.log.WarnContext(ctx, "records not processed", attrs...)
	}
}
