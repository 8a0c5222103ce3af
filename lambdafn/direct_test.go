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
