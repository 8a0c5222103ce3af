package lambdafn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// DirectResponse is the answer to a direct invoke, in one of two forms.
//
// The full form has Results, one per record. When that would not fit in
// Lambda's 6 MB response (MaxDirectResponse; about 100,000 records), the
// answer is the compact form instead: Compact is set, Results is absent,
// and NotAcked lists the records that were not acked as ranges of their
// indexes in the event, each with its error in Errors. Every record not
// listed was acked. NotAckedIndexes reads either form.
type DirectResponse struct {
	// Results has one entry per record, in order (full form only).
	Results     []DirectResult `json:"results"`
	Acked       int            `json:"acked"`
	Failed      int            `json:"failed"`
	Unconfirmed int            `json:"unconfirmed"`

	// Compact is set in the compact form, which has the fields below.
	Compact bool `json:"compact,omitempty"`
	// Topic is the records' topic.
	Topic string `json:"topic,omitempty"`
	// Records is the number of records in the event.
	Records int `json:"records,omitempty"`
	// Errors are the distinct errors of the records not acked.
	Errors []DirectError `json:"errors,omitempty"`
	// NotAcked are the records not acked, as [first, last, error]: the
	// indexes (from 0, in the event's order) of the first and last
	// record of a run, inclusive, and the index in Errors of their
	// error. Runs are in order and do not overlap.
	NotAcked [][3]int `json:"notAcked,omitempty"`
}

// DirectError is an error of a compact DirectResponse: its text (at most
// 256 bytes of it), whether sending the records again may succeed, and
// whether they were sent without an answer (and may be written).
type DirectError struct {
	Error       string `json:"error"`
	Retriable   bool   `json:"retriable,omitempty"`
	Unconfirmed bool   `json:"unconfirmed,omitempty"`
}

// NotAckedIndexes returns the indexes of the records not acked, in order,
// from either form: the records to send again.
func (r *DirectResponse) NotAckedIndexes() []int {
	var out []int
	if r.Compact {
		for _, run := range r.NotAcked {
			for i := run[0]; i <= run[1]; i++ {
				out = append(out, i)
			}
		}
		return out
	}
	for i, res := range r.Results {
		if res.Offset == nil {
			out = append(out, i)
		}
	}
	return out
}

// DirectResult is what became of one record of a direct invoke: Partition
// and Offset when acked; Error, Retriable and Unconfirmed otherwise.
type DirectResult struct {
	Topic     string `json:"topic"`
	Partition *int32 `json:"partition,omitempty"`
	Offset    *int64 `json:"offset,omitempty"`
	Error     string `json:"error,omitempty"`
	// Retriable reports whether sending the record again may succeed.
	Retriable bool `json:"retriable,omitempty"`
	// Unconfirmed: sent, no answer before the deadline; it may be written.
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

// directExample is the form of a direct invoke's records, for errors.
const directExample = `"records": [{"value": ...}, ...]`

// directTop reads a direct invoke's top-level object and its topic.
func (h *Handler) directTop(payload []byte) (map[string]json.RawMessage, string, error) {
	top, err := decodeObject(payload, "", "topic", "records")
	if err != nil {
		return nil, "", err
	}
	topic, err := jsonString(top["topic"], "topic")
	if err != nil {
		return nil, "", err
	}
	if topic == "" {
		topic = h.topic
	}
	if topic == "" {
		return nil, "", inputErrorf("topic", "missing: give \"topic\" in the event or set MSK_TOPIC")
	}
	return top, topic, nil
}

// decodeDirect parses a direct invoke into items, validating every field.
func (h *Handler) decodeDirect(payload []byte) ([]item, error) {
	top, topic, err := h.directTop(payload)
	if err != nil {
		return nil, err
	}
	return decodeRecords(top, directExample, topic, appendData, true)
}

// appendFunc appends a key or value decoded from raw to dst (field names
// it in errors). A null or absent raw appends nothing.
type appendFunc func(dst []byte, raw json.RawMessage, field string) ([]byte, error)

// recordDecoder decodes the record objects of an event: {"key", "value",
// "partition"}, and "headers" when withHeaders, keys and values decoded by
// dec, every field validated and named in errors.
type recordDecoder struct {
	topic       string
	dec         appendFunc
	withHeaders bool
	fields      []string // in the order errors list them; the partition last
	vals        [4][]byte
}

func newRecordDecoder(topic string, dec appendFunc, withHeaders bool) *recordDecoder {
	d := &recordDecoder{topic: topic, dec: dec, withHeaders: withHeaders, fields: []string{"key", "value", "partition"}}
	if withHeaders {
		d.fields = []string{"key", "value", "headers", "partition"}
	}
	return d
}

// decode decodes the record object raw (valid JSON when valid is set, a
// sub-slice of an event checked by json.Valid) into r, its key and value
// appended to slab, and returns slab. field is the record's path in
// errors ("" for a record on its own).
func (d *recordDecoder) decode(raw []byte, valid bool, field string, r *kgo.Record, slab []byte) ([]byte, bool, error) {
	d.vals = [4][]byte{}
	if err := eachFieldOf(raw, valid, field, d.fields, func(k int, v []byte) { d.vals[k] = v }); err != nil {
		return slab, false, err
	}
	r.Topic = d.topic
	var err error
	for k, dst := range [2]*[]byte{&r.Key, &r.Value} {
		if isNull(d.vals[k]) {
			continue
		}
		start := len(slab)
		if slab, err = d.dec(slab, d.vals[k], d.fields[k]); err != nil {
			return slab, false, under(field, err)
		}
		*dst = slab[start:len(slab):len(slab)]
	}
	if d.withHeaders {
		if r.Headers, err = decodeHeaders(d.vals[2], "headers"); err != nil {
			return slab, false, under(field, err)
		}
	}
	p, pinned, err := decodePartition(d.vals[len(d.fields)-1], "partition")
	if err != nil {
		return slab, false, under(field, err)
	}
	if pinned {
		publish.Pin(r, p)
	}
	return slab, pinned, nil
}

// under puts err's field under the record at path field ("records[3]"):
// the decoders name a record's fields from the record, so that a valid
// record costs no field paths.
func under(field string, err error) error {
	var ie *InputError
	if field != "" && errors.As(err, &ie) {
		ie.Field = join(field, ie.Field)
	}
	return err
}

// recordsArray returns the "records" array of top and its length.
func recordsArray(top map[string]json.RawMessage, example string) ([]byte, int, error) {
	raw, ok := top["records"]
	if !ok {
		return nil, 0, inputErrorf("records", "missing: give %s", example)
	}
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, 0, inputErrorf("records", "empty: give at least one record")
	}
	if raw[0] != '[' {
		return nil, 0, inputErrorf("records", "must be an array of records (got %s)", truncate(string(raw), 40))
	}
	n := 0
	elements(raw, func(int, []byte) error { n++; return nil })
	if n == 0 {
		return nil, 0, inputErrorf("records", "empty: give at least one record")
	}
	return raw, n, nil
}

func recordField(i int) string { return "records[" + strconv.Itoa(i) + "]" }

// decodeRecords decodes the "records" array of top, a direct invoke or a
// REST Proxy v2 body (example shows its form in errors), with a
// recordDecoder. top's values are sub-slices of an event checked by
// json.Valid (see decodeObject). The records are allocated together, and
// their keys and values share one buffer: an event of 10,000 records
// costs a handful of allocations, not tens of thousands.
func decodeRecords(top map[string]json.RawMessage, example, topic string, dec appendFunc, withHeaders bool) ([]item, error) {
	raw, n, err := recordsArray(top, example)
	if err != nil {
		return nil, err
	}
	d := newRecordDecoder(topic, dec, withHeaders)
	recs := make([]kgo.Record, n)
	items := make([]item, n)
	// Decoded keys and values are never longer than their JSON.
	slab := make([]byte, 0, len(raw))
	err = elements(raw, func(i int, rec []byte) error {
		field := recordField(i)
		var pinned bool
		var err error
		if slab, pinned, err = d.decode(rec, true, field, &recs[i], slab); err != nil {
			return err
		}
		items[i] = item{rec: &recs[i], field: field, pinned: pinned}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return items, nil
}

// DecodeRecord decodes one record in the form of a direct invoke's
// records, {"key": K, "value": V, "headers": {"name": H, ...},
// "partition": N}, as the handler does: a key, value or header value is
// a JSON string's text, the bytes of {"base64": "..."}, no bytes for null
// (or absent), and the compact text of any other JSON; a partition pins
// the record (publish.Pin). The record has no topic. An error is an
// *InputError naming the field ("value.base64"). `msklink produce --json`
// reads its lines with it.
func DecodeRecord(data []byte) (*kgo.Record, error) {
	i := skipSpace(data, 0)
	if !json.Valid(data) || i == len(data) || data[i] != '{' {
		var obj map[string]json.RawMessage
		err := json.Unmarshal(data, &obj)
		return nil, &InputError{Msg: `a record is a JSON object {"key", "value", "headers", "partition"}: ` + errText(err), Syntax: err != nil}
	}
	if err := checkText(data, ""); err != nil {
		return nil, err
	}
	r := new(kgo.Record)
	_, _, err := newRecordDecoder("", appendData, true).decode(data, true, "", r, make([]byte, 0, len(data)))
	if err != nil {
		return nil, err
	}
	return r, nil
}

// invokeDirect validates every record of a direct invoke, then decodes
// them again one by one as it sends them through a Stream, writing each
// outcome into the answer as it comes: the records held at once are the
// Publisher's in-flight limit, not the whole event (a 6 MB event would
// otherwise be held three times over: the payload, the decoded records,
// franz-go's requests).
func (h *Handler) invokeDirect(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	top, topic, err := h.directTop(payload)
	if err != nil {
		return nil, err
	}
	raw, n, err := recordsArray(top, directExample)
	if err != nil {
		return nil, err
	}
	inv.records = n
	// Refused before anything is sent: an answer that might not fit would
	// be lost (Lambda refuses it), outcomes and all.
	// compactBound grows with n, so one call decides; the search for the
	// most that fit runs only to word the refusal.
	if q, _ := json.Marshal(topic); compactBound(n, len(q)) > MaxDirectResponse {
		return nil, inputErrorf("records", "%d records: at most %d fit in one direct invoke, whose answer must fit in Lambda's 6 MB response even if every record fails: send them in several invokes", n, maxDirectRecords(len(q)))
	}
	d := newRecordDecoder(topic, appendData, true)

	// Pass 1: every field, and the records against their topic, before
	// anything is sent. One record and one buffer, reused.
	var scratch kgo.Record
	buf := make([]byte, 0, 4096)
	infos := map[string]topicInfo{}
	err = elements(raw, func(i int, rec []byte) error {
		scratch = kgo.Record{}
		field := recordField(i)
		pinned, err := false, error(nil)
		if buf, pinned, err = d.decode(rec, true, field, &scratch, buf[:0]); err != nil {
			return err
		}
		it := []item{{rec: &scratch, field: field, pinned: pinned}}
		return h.prepare(ctx, it, func(int) string { return "topic" }, infos)
	})
	if err != nil {
		return nil, err
	}

	// Pass 2: decode and send, recycling each record once its outcome is
	// in, so that the records allocated are the ones in flight.
	resp := newDirectResponse(topic, n)
	pstart := time.Now()
	if err := h.stillRefused(ctx); err != nil {
		for i := range n {
			resp.add(i, publish.Outcome{Status: publish.Failed, Err: err, Retriable: true})
		}
	} else {
		var pool recordPool
		s := h.pub.Stream(ctx, func(i int, o publish.Outcome) {
			resp.add(i, o)
			pool.done(o.Status != publish.Unconfirmed)
		})
		elements(raw, func(i int, rec []byte) error {
			pr := pool.get()
			pr.buf, _, _ = d.decode(rec, true, "", &pr.r, pr.buf[:0]) // valid: checked above
			s.Send(&pr.r)
			return nil
		})
		s.Close()
	}
	inv.latency = time.Since(pstart)
	inv.published = true
	inv.acked, inv.failed, inv.unconfirmed, inv.firstErr = resp.acked, resp.failed, resp.unconfirmed, resp.firstErr
	if h.directErrors && resp.acked < n {
		return nil, resp.publishError()
	}
	return resp.finish(), nil
}

// recordPool recycles the records of a Stream: get hands out a record
// (reset, with its old buffer for the key and value) and queues it as
// sent; done takes the oldest sent record off the queue, as its outcome
// came, and keeps it for reuse when reuse is true. An unconfirmed record
// is never reused: franz-go may still hold it. Outcomes come in send
// order (publish.Stream's promise), so the oldest sent is the one done.
type recordPool struct {
	mu   sync.Mutex
	sent []*pooledRecord
	free []*pooledRecord
}

type pooledRecord struct {
	r   kgo.Record
	buf []byte
}

func (p *recordPool) get() *pooledRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	var pr *pooledRecord
	if n := len(p.free); n > 0 {
		pr = p.free[n-1]
		p.free = p.free[:n-1]
		pr.r = kgo.Record{}
	} else {
		pr = new(pooledRecord)
	}
	p.sent = append(p.sent, pr)
	return pr
}

func (p *recordPool) done(reuse bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pr := p.sent[0]
	p.sent[0] = nil
	p.sent = p.sent[1:]
	if reuse {
		p.free = append(p.free, pr)
	}
}

// MaxDirectResponse is the largest answer a direct invoke gives: Lambda
// refuses a synchronous response over 6 MiB + 100 bytes (the caller gets
// Function.ResponseSizeTooLarge, and the records' outcomes are lost), so
// a full answer that would be larger is sent in the compact form.
const MaxDirectResponse = 6 << 20

// The compact form's bounds: an error's text is cut at maxErrorText bytes,
// and after maxErrors distinct errors the others share one entry per
// (retriable, unconfirmed), which sends the reader to the log.
const (
	maxErrorText = 256
	maxErrors    = 64
)

// directResponse writes a DirectResponse as the outcomes come, in order:
// the full form while it fits in limit, and the compact form's errors and
// runs all along.
type directResponse struct {
	b           []byte // the full form so far; nil once over limit
	limit       int
	quotedTopic []byte
	n           int
	acked       int
	failed      int
	unconfirmed int
	firstErr    error
	retriable   bool // every record not acked is

	errs  []DirectError
	errAt map[DirectError]int
	runs  [][3]int
}

func newDirectResponse(topic string, n int) *directResponse {
	q, _ := json.Marshal(topic)
	r := &directResponse{limit: MaxDirectResponse, quotedTopic: q, n: n, retriable: true}
	r.b = make([]byte, 0, min(64+n*(40+len(q)), MaxDirectResponse))
	r.b = append(r.b, `{"results":[`...)
	return r
}

// tailRoom is what finish adds to the full form: the counts.
const tailRoom = len(`],"acked":,"failed":,"unconfirmed":}`) + 3*20

// add appends outcome i (called in order, as publish.Stream promises).
func (r *directResponse) add(i int, o publish.Outcome) {
	var b []byte
	if r.b != nil {
		b = r.b
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"topic":`...)
		b = append(b, r.quotedTopic...)
	}
	switch o.Status {
	case publish.Acked:
		r.acked++
		if b != nil {
			b = append(b, `,"partition":`...)
			b = strconv.AppendInt(b, int64(o.Partition), 10)
			b = append(b, `,"offset":`...)
			b = strconv.AppendInt(b, o.Offset, 10)
		}
	default:
		retriable, unconf := o.Retriable, false
		if o.Status == publish.Failed {
			r.failed++
			r.retriable = r.retriable && o.Retriable
		} else {
			r.unconfirmed++
			retriable, unconf = true, true
		}
		if r.firstErr == nil {
			r.firstErr = o.Err
		}
		msg := errString(o.Err)
		r.notAcked(i, DirectError{Error: msg, Retriable: retriable, Unconfirmed: unconf})
		if b != nil {
			if msg != "" {
				q, _ := json.Marshal(msg)
				b = append(b, `,"error":`...)
				b = append(b, q...)
			}
			if retriable {
				b = append(b, `,"retriable":true`...)
			}
			if unconf {
				b = append(b, `,"unconfirmed":true`...)
			}
		}
	}
	if b != nil {
		b = append(b, '}')
		if len(b)+tailRoom > r.limit {
			b = nil // the answer is the compact form
		}
	}
	r.b = b
}

// notAcked adds record i, not acked with e, to the compact form's runs.
func (r *directResponse) notAcked(i int, e DirectError) {
	e.Error = cutText(e.Error, maxErrorText)
	k, ok := r.errAt[e]
	if !ok && len(r.errs) >= maxErrors {
		e.Error = "more distinct errors than the answer holds: the function's log has the first"
		k, ok = r.errAt[e]
	}
	if !ok {
		if r.errAt == nil {
			r.errAt = map[DirectError]int{}
		}
		k = len(r.errs)
		r.errs = append(r.errs, e)
		r.errAt[e] = k
	}
	if last := len(r.runs) - 1; last >= 0 && r.runs[last][1] == i-1 && r.runs[last][2] == k {
		r.runs[last][1] = i
		return
	}
	r.runs = append(r.runs, [3]int{i, i, k})
}

// cutText cuts s to at most n bytes, at a character boundary, marking the
// cut with "...".
func cutText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n-3]
	for len(s) > 0 && !utf8.RuneStart(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	if len(s) > 0 {
		if r, size := utf8.DecodeLastRuneInString(s); r == utf8.RuneError && size <= 1 {
			s = s[:len(s)-1]
		}
	}
	return s + "..."
}

// finish closes the JSON: the full form with the counts after the
// results when it fits, else the compact form.
func (r *directResponse) finish() []byte {
	if r.b == nil {
		return r.compact()
	}
	b := append(r.b, `],"acked":`...)
	b = strconv.AppendInt(b, int64(r.acked), 10)
	b = append(b, `,"failed":`...)
	b = strconv.AppendInt(b, int64(r.failed), 10)
	b = append(b, `,"unconfirmed":`...)
	b = strconv.AppendInt(b, int64(r.unconfirmed), 10)
	return append(b, '}')
}

// compact writes the compact form.
func (r *directResponse) compact() []byte {
	b := make([]byte, 0, 256+len(r.errs)*(maxErrorText+64)+len(r.runs)*24)
	b = append(b, `{"compact":true,"topic":`...)
	b = append(b, r.quotedTopic...)
	for _, f := range []struct {
		name string
		n    int
	}{{"records", r.n}, {"acked", r.acked}, {"failed", r.failed}, {"unconfirmed", r.unconfirmed}} {
		b = append(b, ",\""+f.name+"\":"...)
		b = strconv.AppendInt(b, int64(f.n), 10)
	}
	b = append(b, `,"errors":[`...)
	for k, e := range r.errs {
		if k > 0 {
			b = append(b, ',')
		}
		q, _ := json.Marshal(e)
		b = append(b, q...)
	}
	b = append(b, `],"notAcked":[`...)
	for k, run := range r.runs {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(run[0]), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(run[1]), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(run[2]), 10)
		b = append(b, ']')
	}
	return append(b, "]}"...)
}

// compactBound is the largest compact answer n records of a topic (its
// JSON quoted form qlen bytes long) can have: every record not acked,
// every other one with another error, so that no run joins two records;
// maxErrors errors of maxErrorText bytes that JSON escapes sixfold, and
// the overflow entries.
func compactBound(n, qlen int) int {
	digits := len(strconv.Itoa(max(n-1, 0)))
	const errEntry = len(`{"error":"","retriable":true,"unconfirmed":true},`) + 6*maxErrorText
	const overflow = 4 * len(`{"error":"more distinct errors than the answer holds: the function's log has the first","retriable":true,"unconfirmed":true},`)
	head := len(`{"compact":true,"topic":,"records":,"acked":,"failed":,"unconfirmed":,"errors":[],"notAcked":[]}`) + qlen + 4*(digits+1)
	run := len(`[,,],`) + 2*digits + len(strconv.Itoa(maxErrors+4))
	return head + maxErrors*errEntry + overflow + n*run
}

// maxDirectRecords is the most records of a topic (quoted form qlen bytes
// long) a direct invoke takes: those whose compact answer surely fits in
// MaxDirectResponse.
func maxDirectRecords(qlen int) int {
	lo, hi := 0, MaxDirectResponse
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if compactBound(mid, qlen) <= MaxDirectResponse {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// publishError is publishError's summary of the records not acked.
func (r *directResponse) publishError() *PublishError {
	var topic string
	json.Unmarshal(r.quotedTopic, &topic)
	return &PublishError{Topic: topic, Failed: r.failed, Unconfirmed: r.unconfirmed, Retriable: r.retriable, Reason: errString(r.firstErr)}
}

// appendDirectResponse returns the DirectResponse of outs (records of
// topic) as json.Marshal writes it.
func appendDirectResponse(topic string, outs []publish.Outcome) []byte {
	r := newDirectResponse(topic, len(outs))
	for i, o := range outs {
		r.add(i, o)
	}
	return r.finish()
}
