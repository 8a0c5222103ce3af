package esm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Results of an invocation.
const (
	// ResultOK: the function accepted every record.
	ResultOK = "ok"
	// ResultPartial: a partial batch response reported failed records.
	ResultPartial = "partial"
	// ResultError: the function failed (an error, a timeout, or an invalid
	// partial batch response): the whole event failed.
	ResultError = "error"
	// ResultNotDelivered: the event did not reach the function; it is sent
	// again without counting an attempt.
	ResultNotDelivered = "not-delivered"
)

// Invocation is the outcome of one call of the function.
type Invocation struct {
	// RequestID identifies the invocation in logs and on-failure records.
	RequestID string
	Start     time.Time
	Duration  time.Duration
	// Records and Bytes are the event's record count and encoded size.
	Records, Bytes int
	// Offsets are the event's records, partition by partition as offset
	// ranges: "orders-0 offsets 5-9 12, orders-1 offset 3".
	Offsets string
	// Redelivered counts the event's records sent before.
	Redelivered int
	// Result is ResultOK, ResultPartial, ResultError or ResultNotDelivered.
	Result string
	// Error is the function error, or why the response was invalid.
	Error string
	// Accepted counts records settled as processed; Failed those the
	// function failed (charged an attempt); GivenUp those given up after
	// this invocation; Retrying those to be sent again.
	Accepted, Failed, GivenUp, Retrying int
	// Split says the event failed and was bisected.
	Split bool
}

// outcome is how an invocation ended.
type outcome struct {
	result string
	failed map[*record]bool // ResultPartial: the records reported
	err    string
}

// process delivers a batch: it invokes the function, retries, bisects and
// gives up as the options say, and commits after each invocation the
// offsets of every partition's settled prefix. It returns when every record
// of the batch is settled, or with an error retrying cannot fix.
func (r *runner) process(ctx context.Context, b *batch) error {
	e := r.e
	for _, rec := range b.all {
		if rec.discard != "" {
			if err := r.giveUp(ctx, rec, rec.discard, rec.lastError); err != nil {
				return err
			}
		}
	}
	r.commit(ctx, b)
	var queue [][]*record
	if len(b.send) > 0 {
		queue = append(queue, b.send)
	}
	for len(queue) > 0 {
		sub := queue[0]
		var fresh []*record
		for _, rec := range sub {
			if e.tooOld(rec) {
				if err := r.giveUp(ctx, rec, ConditionRecordAgeExceeded, rec.lastError); err != nil {
					return err
				}
				continue
			}
			fresh = append(fresh, rec)
		}
		if len(fresh) == 0 {
			queue = queue[1:]
			r.commit(ctx, b)
			continue
		}
		sub = fresh

		inv, out := r.invoke(ctx, sub)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var rest []*record
		switch out.result {
		case ResultNotDelivered:
			e.log.Warn("esm: the event did not reach the function; sending it again", slog.String("offsets", inv.Offsets), slog.String("error", out.err))
			r.report(inv)
			sleep(ctx, r.backoff())
			continue
		case ResultOK:
			for _, rec := range sub {
				r.accept(rec)
			}
			inv.Accepted = len(sub)
		case ResultError:
			if e.c.bisect && len(sub) > 1 {
				// Split without charging an attempt: the halves isolate
				// the record that fails.
				h := len(sub) / 2
				queue = append([][]*record{sub[:h], sub[h:]}, queue[1:]...)
				inv.Split, inv.Retrying = true, len(sub)
				r.report(inv)
				continue
			}
			failed := map[*record]bool{}
			for _, rec := range sub {
				failed[rec] = true
			}
			var err error
			if rest, err = r.settle(ctx, sub, failed, &inv); err != nil {
				return err
			}
		case ResultPartial:
			var err error
			if rest, err = r.settle(ctx, sub, out.failed, &inv); err != nil {
				return err
			}
		}
		inv.Retrying = len(rest)
		r.commit(ctx, b)
		r.report(inv)
		if len(rest) > 0 {
			queue[0] = rest
			sleep(ctx, r.backoff())
		} else {
			queue = queue[1:]
			r.failures = 0
		}
	}
	r.commit(ctx, b)
	return nil
}

// backoff returns the next wait before a retry.
func (r *runner) backoff() time.Duration {
	c := &r.e.c
	d := c.backoffMin << min(r.failures, 20)
	if d > c.backoffMax || d <= 0 {
		d = c.backoffMax
	}
	r.failures++
	return d
}

// settle applies an invocation's failures to sub, partition by partition
// in offset order: a failed record is charged an attempt, and given up when
// it has used its retries; the first failed record still to retry blocks
// its partition: it and every record after it are returned, to be sent
// again (a partition's records are delivered in order). Records before it
// that the function did not report are accepted. This is Lambda's
// checkpoint rule for partial batch responses of streams
// (services-kinesis-batchfailurereporting.html: "Lambda uses the record
// with the lowest sequence number as the checkpoint. Lambda then retries
// all records starting from that checkpoint"), with Kafka's per-partition
// offsets. A function may therefore stop a partition at its first failure
// (kafkaesm does): records after a reported record that is given up are
// not taken as processed but sent again, without an attempt charged.
func (r *runner) settle(ctx context.Context, sub []*record, failed map[*record]bool, inv *Invocation) ([]*record, error) {
	limit := r.e.c.retryLimit()
	var rest []*record
	for _, group := range groupByPartition(sub) {
		// blocked: an earlier record is sent again, so is everything
		// after it. pastCheckpoint: an earlier record was reported (and
		// given up); what the function did not report after it may not
		// have been processed.
		blocked, pastCheckpoint := false, false
		for _, rec := range group {
			if failed[rec] {
				rec.retries++
				inv.Failed++
			}
			switch {
			case blocked:
				rest = append(rest, rec)
			case failed[rec] && limit >= 0 && rec.retries > limit:
				if err := r.giveUp(ctx, rec, ConditionRetriesExhausted, rec.lastError); err != nil {
					return nil, err
				}
				inv.GivenUp++
				pastCheckpoint = true
			case failed[rec], pastCheckpoint:
				blocked = true
				rest = append(rest, rec)
			default:
				r.accept(rec)
				inv.Accepted++
			}
		}
	}
	return rest, nil
}

// invoke calls the function with sub's event and classifies the result.
func (r *runner) invoke(ctx context.Context, sub []*record) (Invocation, outcome) {
	e := r.e
	payload := e.enc.encode(sub)
	inv := Invocation{RequestID: newUUID(), Start: time.Now(), Records: len(sub), Bytes: len(payload), Offsets: offsetRanges(sub)}
	for _, rec := range sub {
		if rec.invokes > 0 {
			inv.Redelivered++
		}
	}
	ictx, cancel := context.WithTimeout(ctx, e.c.functionTimeout)
	body, err := e.c.fn.Invoke(ictx, payload)
	ictxErr := ictx.Err()
	cancel()
	inv.Duration = time.Since(inv.Start)

	var out outcome
	status, fnErr := http.StatusOK, ""
	var de *DeliveryError
	var fe *FunctionError
	switch {
	case ctx.Err() != nil:
		return inv, outcome{result: ResultError, err: ctx.Err().Error()}
	case errors.As(err, &de):
		out = outcome{result: ResultNotDelivered, err: err.Error()}
		inv.Result, inv.Error = out.result, out.err
		return inv, out
	case errors.As(err, &fe):
		out = outcome{result: ResultError, err: fe.Error()}
		if fe.StatusCode != 0 {
			status = fe.StatusCode
		}
		fnErr = "Unhandled"
	case err != nil && ictxErr != nil:
		out = outcome{result: ResultError, err: (&FunctionError{Type: "Timeout", Message: err.Error()}).Error()}
		fnErr = "Unhandled"
	case err != nil:
		out = outcome{result: ResultError, err: (&FunctionError{Type: "Unhandled", Message: err.Error()}).Error()}
		fnErr = "Unhandled"
	case e.c.reportFailures:
		failed, perr := failures(body, sub)
		switch {
		case perr != nil:
			out = outcome{result: ResultError, err: "invalid partial batch response, the whole batch is retried: " + perr.Error()}
		case len(failed) > 0:
			var reported []*record
			for _, rec := range sub {
				if failed[rec] {
					reported = append(reported, rec)
				}
			}
			out = outcome{result: ResultPartial, failed: failed,
				err: fmt.Sprintf("the function reported %d of %d records failed (batchItemFailures): %s", len(reported), len(sub), offsetRanges(reported))}
		default:
			out = outcome{result: ResultOK}
		}
	default:
		out = outcome{result: ResultOK}
	}
	for _, rec := range sub {
		if rec.invokes > 0 {
			e.stats.redelivered.Add(1)
		}
		rec.invokes++
		rec.lastRequestID, rec.lastStatus, rec.lastFunctionError = inv.RequestID, status, fnErr
		if out.result == ResultError || out.failed[rec] {
			rec.lastError = out.err
			if out.result == ResultPartial {
				rec.lastError = "reported in batchItemFailures"
			}
		}
	}
	e.stats.invocations.Add(1)
	if out.result != ResultOK {
		e.stats.failed.Add(1)
	}
	inv.Result, inv.Error = out.result, out.err
	return inv, out
}

func (r *runner) report(inv Invocation) {
	e := r.e
	if inv.Result != ResultOK {
		e.log.Warn("esm: invocation failed", slog.String("request_id", inv.RequestID), slog.String("result", inv.Result),
			slog.Int("records", inv.Records), slog.String("offsets", inv.Offsets), slog.Int("failed", inv.Failed), slog.Int("retrying", inv.Retrying),
			slog.Int("given_up", inv.GivenUp), slog.Bool("split", inv.Split), slog.String("error", inv.Error))
	} else {
		e.log.Debug("esm: invocation", slog.String("request_id", inv.RequestID), slog.Int("records", inv.Records),
			slog.Int("bytes", inv.Bytes), slog.Duration("duration", inv.Duration))
	}
	if e.c.onInvoke != nil {
		e.c.onInvoke(inv)
	}
}

func (r *runner) accept(rec *record) {
	rec.done = true
	r.e.stats.delivered.Add(1)
}

// giveUp writes rec to the on-failure topic (retrying until it is written,
// or returning an error retrying cannot fix: nothing past rec is then
// committed) and settles it.
func (r *runner) giveUp(ctx context.Context, rec *record, condition, lastErr string) error {
	e := r.e
	g := GiveUp{Topic: rec.tp.topic, Partition: rec.tp.partition, Offset: rec.r.Offset, Condition: condition,
		Invokes: rec.invokes, Error: lastErr}
	if dest := e.c.onFailureTopic; dest != "" {
		now := e.c.now()
		g.Value = e.failureMessage(rec, condition, now, true)
		for attempt := 0; ; attempt++ {
			pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := r.cl.ProduceSync(pctx, &kgo.Record{Topic: dest, Key: rec.r.Key, Value: g.Value}).FirstErr()
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if (errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge)) && !g.PayloadDropped {
				// The record's event in base64 is a third larger than
				// the record: a record the source topic took may not
				// fit the destination's max.message.bytes. Failing
				// here would stop the mapping at this record for good;
				// write the metadata, which names the record in the
				// source topic, without the payload.
				e.log.Warn("esm: the on-failure message is too large for the topic; writing it without its payload",
					slog.String("on_failure_topic", dest), slog.String("partition", rec.tp.String()), slog.Int64("offset", rec.r.Offset),
					slog.Int("bytes", len(g.Value)), slog.Any("error", err))
				g.Value, g.PayloadDropped = e.failureMessage(rec, condition, now, false), true
				continue
			}
			var ke *kerr.Error
			if errors.As(err, &ke) && !ke.Retriable {
				return fmt.Errorf("esm: writing %s offset %d to the on-failure topic %q: %w (nothing after it is committed; allow kafka-cluster:WriteData on the topic)",
					rec.tp, rec.r.Offset, dest, err)
			}
			e.log.Warn("esm: writing to the on-failure topic failed; retrying", slog.String("on_failure_topic", dest), slog.Any("error", err))
			sleep(ctx, min(time.Duration(attempt+1)*time.Second, 10*time.Second))
		}
		g.Destination = dest
		e.stats.onFailure.Add(1)
	}
	rec.done = true
	e.stats.givenUp.Add(1)
	e.log.Warn("esm: record given up", slog.String("partition", rec.tp.String()), slog.Int64("offset", rec.r.Offset),
		slog.String("condition", condition), slog.Int("invokes", rec.invokes), slog.String("on_failure_topic", g.Destination),
		slog.String("last_error", lastErr))
	if e.c.onGiveUp != nil {
		e.c.onGiveUp(g)
	}
	return nil
}

// commit commits, for each partition of b, the offset after the last
// record of its settled prefix, if it moved. A failed commit is logged and
// tried again with the next one: the records would only be delivered
// again.
func (r *runner) commit(ctx context.Context, b *batch) {
	var marks []*kgo.Record
	next := map[tp]int64{}
	for _, group := range groupByPartition(b.all) {
		var last *record
		for _, rec := range group {
			if !rec.done {
				break
			}
			last = rec
		}
		t := group[0].tp
		next[t] = group[0].r.Offset
		if last != nil {
			next[t] = last.r.Offset + 1
			if c, ok := r.committed[t]; !ok || last.r.Offset+1 > c {
				marks = append(marks, last.r)
			}
		}
	}
	if len(marks) > 0 {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := r.cl.CommitRecords(r.commitMetadata(cctx), marks...)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				r.e.log.Warn("esm: committing offsets failed (the records may be delivered again)", slog.Any("error", err))
			}
		} else {
			for _, m := range marks {
				r.committed[tp{m.Topic, m.Partition}] = m.Offset + 1
			}
		}
	}
	s := &r.e.stats
	s.mu.Lock()
	for t, n := range next {
		s.next[t] = n
	}
	s.mu.Unlock()
}

// offsetRanges writes recs (in poll order) partition by partition as
// ranges of consecutive offsets: "orders-0 offsets 5-9, orders-1 offset 3".
func offsetRanges(recs []*record) string {
	var b strings.Builder
	for i, group := range groupByPartition(recs) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(group[0].tp.String())
		if len(group) == 1 {
			b.WriteString(" offset")
		} else {
			b.WriteString(" offsets")
		}
		for j := 0; j < len(group); {
			k := j
			for k+1 < len(group) && group[k+1].r.Offset == group[k].r.Offset+1 {
				k++
			}
			fmt.Fprintf(&b, " %d", group[j].r.Offset)
			if k > j {
				fmt.Fprintf(&b, "-%d", group[k].r.Offset)
			}
			j = k + 1
		}
	}
	return b.String()
}
