package esm

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFailures reads partial batch responses in the format of
// kafka-retry-configurations.html ("PartialBatchResponse").
func TestFailures(t *testing.T) {
	sent := []*record{
		newRecord(&kgo.Record{Topic: "orders", Partition: 0, Offset: 4}),
		newRecord(&kgo.Record{Topic: "orders", Partition: 0, Offset: 5}),
		newRecord(&kgo.Record{Topic: "orders", Partition: 2, Offset: 100}),
	}
	for _, tc := range []struct {
		name, body string
		failed     []int // indexes into sent
		invalid    string
	}{
		{name: "empty", body: ``},
		{name: "null", body: `null`},
		{name: "empty object", body: `{}`},
		{name: "null list", body: `{"batchItemFailures": null}`},
		{name: "empty list", body: `{"batchItemFailures": []}`},
		{name: "a string answer", body: `"done"`},
		{name: "AWS's format", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":5}},{"itemIdentifier":{"partition":"orders-2","offset":100}}]}`, failed: []int{1, 2}},
		{name: "duplicates", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":4}},{"itemIdentifier":{"partition":"orders-0","offset":4}}]}`, failed: []int{0}},
		{name: "offset not in the event", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":6}}]}`, invalid: "orders-0 offset 6, which is not in the event"},
		{name: "partition not in the event", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-1","offset":4}}]}`, invalid: "not in the event"},
		{name: "string identifier (SQS style)", body: `{"batchItemFailures":[{"itemIdentifier":"orders-0-5"}]}`, invalid: `itemIdentifier is a string: Kafka event sources need {"partition"`},
		{name: "offset as a string", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":"5"}}]}`, invalid: "offset is a string, not an integer"},
		{name: "fractional offset", body: `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":5.5}}]}`, invalid: "not an integer"},
		{name: "bad key name", body: `{"batchItemFailures":[{"identifier":{"partition":"orders-0","offset":5}}]}`, invalid: `has no "itemIdentifier"`},
		{name: "null identifier", body: `{"batchItemFailures":[{"itemIdentifier":null}]}`, invalid: "itemIdentifier is null"},
		{name: "not a list", body: `{"batchItemFailures":{"itemIdentifier":{"partition":"orders-0","offset":5}}}`, invalid: "is an object, not a list"},
		{name: "not JSON", body: `batchItemFailures`, invalid: "not JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := failures([]byte(tc.body), sent)
			if tc.invalid != "" {
				if err == nil || !strings.Contains(err.Error(), tc.invalid) {
					t.Fatalf("error %v, want one with %q", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.failed) {
				t.Fatalf("failed %d records, want %d", len(got), len(tc.failed))
			}
			for _, i := range tc.failed {
				if !got[sent[i]] {
					t.Errorf("record %d not reported", i)
				}
			}
		})
	}
}

// TestHTTPFunctionResults classifies what the Invoke API (Lambda's, or
// aws-lambda-rie's) answers.
func TestHTTPFunctionResults(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		ok      string // the response, when a success
		errType string // FunctionError.Type
		deliver bool   // a DeliveryError
	}{
		{name: "success", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"batchItemFailures":[]}`)) }, ok: `{"batchItemFailures":[]}`},
		{name: "null", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`null`)) }, ok: `null`},
		{name: "lambda function error header", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Amz-Function-Error", "Unhandled")
			w.Write([]byte(`{"errorMessage":"boom","errorType":"errorString"}`))
		}, errType: "errorString"},
		{name: "rie error body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"errorMessage":"poison record","errorType":"RecordError"}`))
		}, errType: "RecordError"},
		{name: "rie timeout", handler: func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("Task timed out after 3.00 seconds")) }, errType: "Timeout"},
		{name: "rie runtime crash 502", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`{"errorMessage":"exit status 2","errorType":"Runtime.ExitError"}`))
		}, errType: "Runtime.ExitError"},
		{name: "500 text", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }, errType: "Unhandled"},
		{name: "throttled", handler: func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Rate Exceeded", 429) }, deliver: true},
		{name: "a response with an errorMessage among other keys", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"errorMessage":"x","batchItemFailures":[]}`))
		}, ok: `{"errorMessage":"x","batchItemFailures":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var path string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path = r.URL.Path
				tc.handler(w, r)
			}))
			defer srv.Close()
			fn, err := NewHTTPFunction(srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := fn.Invoke(context.Background(), []byte(`{}`))
			if path != InvokePath {
				t.Errorf("posted to %q, want %q", path, InvokePath)
			}
			var fe *FunctionError
			var de *DeliveryError
			switch {
			case tc.deliver:
				if !errors.As(err, &de) {
					t.Fatalf("error %v, want a DeliveryError", err)
				}
			case tc.errType != "":
				if !errors.As(err, &fe) || fe.Type != tc.errType {
					t.Fatalf("error %v, want a FunctionError of type %s", err, tc.errType)
				}
			default:
				if err != nil || string(body) != tc.ok {
					t.Fatalf("got %q, %v; want %q", body, err, tc.ok)
				}
			}
		})
	}

	t.Run("connection refused", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().String()
		l.Close()
		fn, _ := NewHTTPFunction("http://"+addr, nil)
		_, err := fn.Invoke(context.Background(), []byte(`{}`))
		var de *DeliveryError
		if !errors.As(err, &de) {
			t.Fatalf("error %v, want a DeliveryError", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		fn, _ := NewHTTPFunction(srv.URL+"/2015-03-31/functions/function/invocations", nil)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err := fn.Invoke(ctx, []byte(`{}`))
		var fe *FunctionError
		if !errors.As(err, &fe) || fe.Type != "Timeout" {
			t.Fatalf("error %v, want a Timeout", err)
		}
	})
	for _, bad := range []string{"127.0.0.1:9000", "ftp://x", "http://", "::"} {
		if _, err := NewHTTPFunction(bad, nil); err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:9000") {
			t.Errorf("NewHTTPFunction(%q): %v", bad, err)
		}
	}
}

// TestCommandFunction runs a command per batch: event on stdin, response
// on stdout, exit status and deadline as function errors.
func TestCommandFunction(t *testing.T) {
	ctx := context.Background()
	out, err := NewCommandFunction(`read -r ev; printf '{"got":%s}' "$ev"`, nil).Invoke(ctx, []byte(`{"records":{}}`+"\n"))
	if err != nil || string(out) != `{"got":{"records":{}}}` {
		t.Fatalf("got %q, %v", out, err)
	}
	var stderr strings.Builder
	_, err = NewCommandFunction(`echo bad record >&2; exit 3`, &stderr).Invoke(ctx, nil)
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Type != "Unhandled" || !strings.Contains(fe.Message, "exit status 3") || stderr.String() != "bad record\n" {
		t.Fatalf("error %v, stderr %q", err, stderr.String())
	}
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = NewCommandFunction(`sleep 30 & sleep 30`, nil).Invoke(tctx, nil)
	if !errors.As(err, &fe) || fe.Type != "Timeout" {
		t.Fatalf("error %v, want a Timeout", err)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("the timed-out command (and its child) held Invoke for %v", el)
	}
	out, err = NewCommandFunction(`echo "$ESM_TEST"`, nil, "ESM_TEST=x").Invoke(ctx, nil)
	if err != nil || string(out) != "x\n" {
		t.Fatalf("env: %q, %v", out, err)
	}
}
