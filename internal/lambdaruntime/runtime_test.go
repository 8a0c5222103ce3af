package lambdaruntime

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// fakeAPI is a Runtime API over a real socket: it hands out events, with
// or without a Content-Length, and records what the runtime posts. The
// Runtime Interface Emulator tests of cmd/msklink-lambda cover the rest.
type fakeAPI struct {
	mu     sync.Mutex
	events [][]byte
	sized  bool // send a Content-Length
	posts  []post
	done   chan struct{}
}

type post struct {
	path, errorType string
	body            []byte
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.URL.Path == runtimePath+"invocation/next":
		if len(f.events) == 0 {
			close(f.done)
			w.WriteHeader(http.StatusGone)
			return
		}
		ev := f.events[0]
		f.events = f.events[1:]
		w.Header().Set(hdrRequestID, "req-"+strconv.Itoa(len(f.posts)))
		w.Header().Set(hdrDeadlineMs, strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		w.Header().Set(hdrClientContext, `{"custom":{"k":"v"}}`)
		if f.sized {
			w.Header().Set("Content-Length", strconv.Itoa(len(ev)))
			w.Write(ev)
			return
		}
		// Chunked, as RIE sends events: several writes, flushed.
		for len(ev) > 0 {
			n := min(len(ev), 1000)
			w.Write(ev[:n])
			w.(http.Flusher).Flush()
			ev = ev[n:]
		}
	case r.Method == http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		f.posts = append(f.posts, post{r.URL.Path, r.Header.Get(hdrErrorType), b})
		w.WriteHeader(http.StatusAccepted)
	default:
		http.NotFound(w, r)
	}
}

type echo struct{}

type badInput struct{}

func (*badInput) Error() string { return "bad input" }

func (echo) Invoke(ctx context.Context, p []byte) ([]byte, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	if _, ok := ctx.Deadline(); !ok || lc == nil || lc.ClientContext.Custom["k"] != "v" {
		return nil, errors.New("no deadline or lambda context")
	}
	switch {
	case bytes.Equal(p, []byte("fail")):
		return nil, &badInput{}
	case bytes.Equal(p, []byte("panic")):
		panic("boom")
	}
	return append([]byte(lc.AwsRequestID+":"), p...), nil
}

func TestServe(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789"), 30_000)               // beyond a block
	huge := bytes.Repeat([]byte("abcdefghij"), maxEvent/10+100_000) // beyond the mapped buffer
	for _, sized := range []bool{true, false} {
		t.Run("Content-Length "+strconv.FormatBool(sized), func(t *testing.T) {
			f := &fakeAPI{sized: sized, done: make(chan struct{}),
				events: [][]byte{[]byte("small"), big, []byte("fail"), []byte("after"), big[:1000], huge, []byte("small again"), []byte("panic"), []byte("unreached")}}
			srv := httptest.NewServer(f)
			defer srv.Close()
			err := Serve(strings.TrimPrefix(srv.URL, "http://"), echo{}, Options{})
			if err == nil || !strings.Contains(err.Error(), "panicked: boom") {
				t.Fatalf("Serve returned %v, want the handler's panic", err)
			}
			want := []struct {
				path, errorType, body string
			}{
				{"req-0/response", "", "req-0:small"},
				{"req-1/response", "", "req-1:" + string(big)},
				{"req-2/error", "badInput", `{"errorMessage":"bad input","errorType":"badInput"}`},
				{"req-3/response", "", "req-3:after"},
				{"req-4/response", "", "req-4:" + string(big[:1000])},
				{"req-5/response", "", "req-5:" + string(huge)},
				{"req-6/response", "", "req-6:small again"},
				{"req-7/error", "string", `{"errorMessage":"boom","errorType":"string","stackTrace"`},
			}
			if len(f.posts) != len(want) {
				t.Fatalf("%d posts, want %d", len(f.posts), len(want))
			}
			for i, w := range want {
				p := f.posts[i]
				if p.path != runtimePath+"invocation/"+w.path || p.errorType != w.errorType || !bytes.HasPrefix(p.body, []byte(w.body)) ||
					w.errorType == "" && len(p.body) != len(w.body) {
					t.Errorf("post %d: %s (%q) %.80s, want %s (%q) %.80s", i, p.path, p.errorType, p.body, w.path, w.errorType, w.body)
				}
			}
		})
	}
}

func TestServeNeedsAPI(t *testing.T) {
	if err := Serve("", echo{}, Options{}); err == nil || !strings.Contains(err.Error(), "AWS_LAMBDA_RUNTIME_API") {
		t.Fatalf("got %v", err)
	}
}

func TestServeReportsAPIFailure(t *testing.T) {
	f := &fakeAPI{done: make(chan struct{})}
	srv := httptest.NewServer(f)
	defer srv.Close()
	err := Serve(strings.TrimPrefix(srv.URL, "http://"), echo{}, Options{})
	if err == nil || !strings.Contains(err.Error(), "410 Gone") {
		t.Fatalf("got %v", err)
	}
}
