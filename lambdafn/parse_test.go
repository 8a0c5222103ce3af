package lambdafn

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/msklink/msklink/publish"
)

func TestDetect(t *testing.T) {
	tests := []struct {
		payload string
		want    Source
		field   string // of the *InputError when want is ""
	}{
		{`{"records": []}`, SourceDirect, ""},
		{`{"topic": "t", "records": [{"value": 1}]}`, SourceDirect, ""},
		{`{"Records": [{"messageId": "1", "eventSource": "aws:sqs"}]}`, SourceSQS, ""},
		{`{"version": "2.0", "routeKey": "POST /topics/{topic}", "rawPath": "/topics/t", "requestContext": {}}`, SourceAPIGateway, ""},
		{`{"version": "2.0", "rawPath": "/topics/t", "requestContext": {}}`, SourceAPIGateway, ""}, // function URL
		{`{"id": "1", "detail-type": "x", "source": "s", "detail": {}}`, SourceEventBridge, ""},
		{`{"msklink": "doctor"}`, SourceDoctor, ""},
		{`{"msklink": "doctor", "topic": "t"}`, SourceDoctor, ""},
		{`{"msklink": 1}`, "", "msklink"},
		{`{"Records": [{"eventSource": "aws:kinesis"}]}`, "", "Records[0].eventSource"},
		{`{"Records": "x"}`, "", "Records"},
		{`{"requestContext": {}, "httpMethod": "GET"}`, "", "httpMethod"},
		{`{}`, "", ""},
		{`null`, "", ""},
		{`"text"`, "", ""},
		{`{`, "", ""},
		{``, "", ""},
	}
	for _, tc := range tests {
		got, _, err := detect([]byte(tc.payload))
		if got != tc.want {
			t.Errorf("%s: source %q, want %q (%v)", tc.payload, got, tc.want, err)
		}
		if tc.want == "" {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.field {
				t.Errorf("%s: error %v, want an *InputError at %q", tc.payload, err, tc.field)
			}
		}
	}
}

func TestParseSource(t *testing.T) {
	for in, want := range map[string]Source{"": "", "auto": "", "SQS": SourceSQS, " apigw ": SourceAPIGateway, "direct": SourceDirect, "eventbridge": SourceEventBridge} {
		if got, err := ParseSource(in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for _, in := range []string{"kinesis", "doctor", "s3"} {
		if _, err := ParseSource(in); err == nil || !strings.Contains(err.Error(), "MSK_EVENT_SOURCE") {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestDecodeData(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{`"héllo"`, "héllo", ""},
		{`null`, "", ""},
		{`{"base64": "AP8="}`, "\x00\xff", ""},
		{`{"base64": "AP8"}`, "", "v.base64"},
		{`{"base64": 1}`, "", "v.base64"},
		{`{"base64": "AA==", "x": 1}`, `{"base64":"AA==","x":1}`, ""},
		{` { "a" : [1, 2.50, true] } `, `{"a":[1,2.50,true]}`, ""},
		{`12345678901234567890`, "12345678901234567890", ""},
		{`true`, "true", ""},
	}
	for _, tc := range tests {
		got, err := decodeData(json.RawMessage(tc.in), "v")
		if tc.err != "" {
			var ie *InputError
			if !errors.As(err, &ie) || ie.Field != tc.err {
				t.Errorf("%s: %v, want an error at %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %q %v, want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestCheckTopicName(t *testing.T) {
	for _, ok := range []string{"a", "orders.v1", "A_b-C.9", strings.Repeat("x", 249)} {
		if err := checkTopicName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a b", "a/b", "ü", strings.Repeat("x", 250)} {
		if err := checkTopicName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzDecode feeds arbitrary payloads to the parsers: they return items or
// an *InputError, never panic, and every item has a topic.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"topic": "t", "records": [{"key": "k", "value": {"base64": "AA=="}, "headers": {"h": "v"}, "partition": 1}]}`,
		`{"records": [{"value": null}]}`,
		`{"records": [{"value": [1, {"a": "b"}]}, {"partition": -1}]}`,
		`{"Records": [{"eventSource": "aws:sqs", "messageId": "1", "body": "x"}]}`,
		`{"msklink": "doctor"}`,
		`{"detail-type": "x", "detail": {}}`,
		`[]`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	h := &Handler{topic: "default"}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, dec := range []func() ([]item, error){
			func() ([]item, error) { return h.decodeDirect(b) },
			func() ([]item, error) { return decodeREST(b, "t", false) },
			func() ([]item, error) { return decodeREST(b, "t", true) },
		} {
			items, err := dec()
			if err != nil {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("%q: error %T %v is not an *InputError", b, err, err)
				}
				continue
			}
			for _, it := range items {
				if it.rec.Topic == "" {
					t.Fatalf("%q: item without a topic", b)
				}
			}
		}
		if _, _, err := detect(b); err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("%q: detect error %T", b, err)
			}
		}
	})
}

// TestAppendDirectResponse: the response written by hand is byte for byte
// what json.Marshal makes of a DirectResponse.
func TestAppendDirectResponse(t *testing.T) {
	outs := []publish.Outcome{
		{Status: publish.Acked, Topic: "t", Partition: 2, Offset: 1 << 40},
		{Status: publish.Failed, Topic: "t", Err: errors.New(`no <such> "topic" & é`)},
		{Status: publish.Failed, Topic: "t", Err: errors.New("retry"), Retriable: true},
		{Status: publish.Unconfirmed, Topic: "t", Err: publish.ErrUnconfirmed, Retriable: true},
		{Status: publish.Failed, Topic: "t"},
	}
	for _, n := range []int{0, 1, len(outs)} {
		want := DirectResponse{Results: []DirectResult{}}
		for _, o := range outs[:n] {
			res := DirectResult{Topic: "t.v-1_x"}
			switch o.Status {
			case publish.Acked:
				p, off := o.Partition, o.Offset
				res.Partition, res.Offset = &p, &off
				want.Acked++
			case publish.Failed:
				res.Error, res.Retriable = errString(o.Err), o.Retriable
				want.Failed++
			default:
				res.Error, res.Retriable, res.Unconfirmed = errString(o.Err), true, true
				want.Unconfirmed++
			}
			want.Results = append(want.Results, res)
		}
		wantJSON, _ := json.Marshal(want)
		if got := appendDirectResponse("t.v-1_x", outs[:n]); string(got) != string(wantJSON) {
			t.Errorf("%d outcomes:\ngot  %s\nwant %s", n, got, wantJSON)
		}
	}
}

// FuzzScanDifferential: on any valid JSON, the scanner that reads events
// without copying (topLevel, members, elements) finds what encoding/json
// finds: the same members (the last of a repeated name winning, names
// unescaped) with byte-identical values, and the same array elements.
func FuzzScanDifferential(f *testing.F) {
	for _, s := range []string{
		`{"a": 1, "b": "x\"y", "a": [1, {"c": null}], "\u0061\n": true}`,
		`{"records": [{"value": {"k": [1, 2, "]"]}}, "x", -1.5e3, false]}`,
		` { } `, `[ ]`, `["\\", "\"", {"}": "{"}]`, "{\"\xff\": 1}", `{"é": "ü"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var wantObj map[string]json.RawMessage
		if json.Unmarshal(b, &wantObj) == nil && wantObj != nil {
			got, err := topLevel(b)
			if err != nil {
				t.Fatalf("%q: topLevel: %v", b, err)
			}
			if len(got) != len(wantObj) {
				t.Fatalf("%q: %d members, encoding/json finds %d", b, len(got), len(wantObj))
			}
			for k, v := range wantObj {
				if !bytes.Equal(got[k], v) {
					t.Fatalf("%q: member %q is %q, encoding/json reads %q", b, k, got[k], v)
				}
			}
		}
		var wantArr []json.RawMessage
		if json.Unmarshal(b, &wantArr) == nil && wantArr != nil {
			var got []json.RawMessage
			elements(b[skipSpace(b, 0):], func(_ int, v []byte) error {
				got = append(got, v)
				return nil
			})
			if len(got) != len(wantArr) {
				t.Fatalf("%q: %d elements, encoding/json finds %d", b, len(got), len(wantArr))
			}
			for i := range got {
				if !bytes.Equal(got[i], wantArr[i]) {
					t.Fatalf("%q: element %d is %q, encoding/json reads %q", b, i, got[i], wantArr[i])
				}
			}
		}
	})
}
