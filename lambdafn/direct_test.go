package lambdafn

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDirectWindow publishes a direct invoke of 2,000 records through a
// Publisher that holds at most 4 KiB of records in flight (about 40): the
// handler streams them (decoded as they are sent, not all at once), and
// the answer still has every record's partition and offset, in order,
// where the record is read back.
func TestDirectWindow(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c, WithPublishOpts(publish.WithMaxInFlightBytes(4<<10)))
	const n = 2000
	type rec struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
	var p struct {
		Records []rec `json:"records"`
	}
	for i := range n {
		p.Records = append(p.Records, rec{Key: fmt.Sprint(i % 13), Value: fmt.Sprintf("value-%04d-%s", i, strings.Repeat("x", 80))})
	}
	out, err := th.invoke(t, 30*time.Second, p)
	if err != nil {
		t.Fatal(err)
	}
	var resp DirectResponse
	if err := json.Unmarshal(out, &resp); err != nil || resp.Acked != n || len(resp.Results) != n {
		t.Fatalf("%d acked of %d (%v): %.300s", resp.Acked, n, err, out)
	}
	at := map[string]*kgo.Record{}
	for _, r := range consume(t, c, testTopic, n) {
		at[fmt.Sprintf("%d/%d", r.Partition, r.Offset)] = r
	}
	if len(at) != n {
		t.Fatalf("read back %d records, want %d", len(at), n)
	}
	for i, res := range resp.Results {
		r := at[fmt.Sprintf("%d/%d", *res.Partition, *res.Offset)]
		if r == nil || string(r.Value) != p.Records[i].Value || string(r.Key) != p.Records[i].Key {
			t.Fatalf("result %d (%d/%d): read back %v, want %q", i, *res.Partition, *res.Offset, r, p.Records[i].Value)
		}
	}
}

func TestDecodeRecord(t *testing.T) {
	r, err := DecodeRecord([]byte(`{"key": "k", "value": {"n": [1, 2]}, "headers": {"b": {"base64": "AAE="}, "a": "x"}, "partition": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "k" || string(r.Value) != `{"n":[1,2]}` || r.Partition != 3 || r.Topic != "" ||
		len(r.Headers) != 2 || r.Headers[0].Key != "a" || string(r.Headers[1].Value) != "\x00\x01" {
		t.Errorf("%+v", r)
	}
	if r, err := DecodeRecord([]byte(`{"value": ""}`)); err != nil || r.Key != nil || r.Value == nil || len(r.Value) != 0 {
		t.Errorf(`{"value": ""}: key %v value %v (%v): want no key, an empty value`, r.Key, r.Value, err)
	}
	for in, field := range map[string]string{
		`{"value": {"base64": "%%"}}`:   "value.base64",
		`{"val": 1}`:                    "val",
		`{"value": 1, "partition": -1}`: "partition",
		`{"headers": [1]}`:              "headers",
		`not json`:                      "",
		`[1]`:                           "",
	} {
		_, err := DecodeRecord([]byte(in))
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != field {
			t.Errorf("%s: %v, want an *InputError at %q", in, err, field)
		}
	}
}

// TestDirectCompactResponse: an answer whose full form would not fit in
// MaxDirectResponse is the compact form, which names exactly the records
// not acked and their errors; and the largest event a direct invoke takes
// has a compact answer that fits in the worst case (every record failed,
// no two neighbours with the same error, errors of the longest escaped
// text, more distinct errors than the answer lists).
func TestDirectCompactResponse(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		const n = 1000
		outs := make([]publish.Outcome, n)
		for i := range outs {
			switch {
			case i%97 == 5, i >= 300 && i < 340:
				outs[i] = publish.Outcome{Status: publish.Failed, Err: fmt.Errorf("broker says no (%d)", i%3), Retriable: i%2 == 0}
			case i == n-1:
				outs[i] = publish.Outcome{Status: publish.Unconfirmed, Err: publish.ErrUnconfirmed, Retriable: true}
			default:
				outs[i] = publish.Outcome{Status: publish.Acked, Partition: int32(i % 3), Offset: int64(i)}
			}
		}
		full := newDirectResponse("t", n)
		compact := newDirectResponse("t", n)
		compact.limit = 2000 // the full form overflows it after a few dozen records
		for i, o := range outs {
			full.add(i, o)
			compact.add(i, o)
		}
		var f, c DirectResponse
		fb, cb := full.finish(), compact.finish()
		if err := json.Unmarshal(fb, &f); err != nil || f.Compact || len(f.Results) != n {
			t.Fatalf("full form: %v %.200s", err, fb)
		}
		if err := json.Unmarshal(cb, &c); err != nil || !c.Compact || c.Results != nil || c.Records != n || c.Topic != "t" {
			t.Fatalf("compact form: %v %.300s", err, cb)
		}
		t.Logf("compact form of %d records: %d bytes (full %d): %s", n, len(cb), len(fb), cb)
		if c.Acked != f.Acked || c.Failed != f.Failed || c.Unconfirmed != f.Unconfirmed {
			t.Errorf("counts %d/%d/%d, full form %d/%d/%d", c.Acked, c.Failed, c.Unconfirmed, f.Acked, f.Failed, f.Unconfirmed)
		}
		if got, want := c.NotAckedIndexes(), f.NotAckedIndexes(); fmt.Sprint(got) != fmt.Sprint(want) || len(got) != n-f.Acked {
			t.Fatalf("compact form's records not acked %v, full form's %v", got, want)
		}
		for _, run := range c.NotAcked {
			e := c.Errors[run[2]]
			for i := run[0]; i <= run[1]; i++ {
				r := f.Results[i]
				if e.Error != r.Error || e.Retriable != r.Retriable || e.Unconfirmed != r.Unconfirmed {
					t.Errorf("record %d: compact %+v, full %+v", i, e, r)
				}
			}
		}
	})

	t.Run("worst case", func(t *testing.T) {
		topic := strings.Repeat("t", 249) // Kafka's longest name
		q, _ := json.Marshal(topic)
		n := maxDirectRecords(len(q))
		if n < 140_000 {
			t.Fatalf("a direct invoke takes %d records, fewer than 140,000", n)
		}
		if compactBound(n+1, len(q)) <= MaxDirectResponse {
			t.Fatalf("maxDirectRecords %d is not the largest", n)
		}
		r := newDirectResponse(topic, n)
		long := strings.Repeat("<\x01", maxErrorText) // JSON escapes each byte sixfold
		for i := range n {
			r.add(i, publish.Outcome{Status: publish.Status(2 + i%2), Err: fmt.Errorf("%d%s", i%(maxErrors+10), long), Retriable: i%4 < 2})
		}
		b := r.finish()
		if len(b) > MaxDirectResponse || len(b) > compactBound(n, len(q)) {
			t.Fatalf("worst-case answer for %d records: %d bytes, bound %d, limit %d", n, len(b), compactBound(n, len(q)), MaxDirectResponse)
		}
		var c DirectResponse
		if err := json.Unmarshal(b, &c); err != nil || !c.Compact || len(c.NotAckedIndexes()) != n || len(c.Errors) > maxErrors+4 {
			t.Fatalf("%v: compact %v, %d not acked, %d errors", err, c.Compact, len(c.NotAckedIndexes()), len(c.Errors))
		}
		t.Logf("%d records, all failed: %d bytes (bound %d, limit %d), %d runs, %d errors", n, len(b), compactBound(n, len(q)), MaxDirectResponse, len(c.NotAcked), len(c.Errors))
	})
}

// TestDirectTooManyRecords: an event with more records than a compact
// answer surely holds is refused before anything is sent.
func TestDirectTooManyRecords(t *testing.T) {
	c, _ := startEmulator(t)
	th := newHandler(t, c)
	q, _ := json.Marshal(testTopic)
	n := maxDirectRecords(len(q)) + 1
	payload := `{"topic": "` + testTopic + `", "records": [` + strings.Repeat(`{"value": "x"},`, n-1) + `{"value": "x"}]}`
	out, err := th.invoke(t, 30*time.Second, payload)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "records" || !strings.Contains(err.Error(), fmt.Sprint(n-1)) {
		t.Fatalf("%d records: %.200s %v, want an *InputError at records naming the limit", n, out, err)
	}
	t.Log(err)
	if got := endOffsets(t, c, testTopic); got != 0 {
		t.Fatalf("%d records written", got)
	}
}
