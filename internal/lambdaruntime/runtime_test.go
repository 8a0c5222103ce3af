package lambdaruntime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// limit, when set, is the largest response accepted: a larger one is
	// answered 413, as Lambda's Runtime API does above 6 MB.
	limit int
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
		if f.limit > 0 && strings.HasSuffix(r.URL.Path, "/response") && len(b) > f.limit {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			io.WriteString(w, `{"errorMessage":"Exceeded maximum allowed payload size (`+strconv.Itoa(f.limit)+` bytes).","errorType":"RequestEntityTooLarge"}`)
			return
		}
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
	return append([]byte(lc.AwsRequestID+":"), echoed(p)...), nil
}

// echoed is what echo answers for p: p, or its SHA-256 when p is too
// large for a response.
func echoed(p []byte) []byte {
	if len(p) < maxResponse/2 {
		return p
	}
	sum := sha256.Sum256(p)
	return []byte("sha256:" + hex.EncodeToString(sum[:]))
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
				{"req-5/response", "", "req-5:" + string(echoed(huge))},
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

// TestServeSurvivesRejectedResponse: a response the Runtime API refuses
// (413, too large) is reported as the invocation's error, and the runtime
// goes on serving; so is one larger than Lambda's limit, without sending
// it.
func TestServeSurvivesRejectedResponse(t *testing.T) {
	f := &fakeAPI{sized: true, done: make(chan struct{}), limit: 100,
		events: [][]byte{[]byte("small"), bytes.Repeat([]byte("x"), 200), []byte("after"), []byte("huge answer"), []byte("last")}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	err := Serve(strings.TrimPrefix(srv.URL, "http://"), handlerFunc(func(ctx context.Context, p []byte) ([]byte, error) {
		if string(p) == "huge answer" {
			return bytes.Repeat([]byte("y"), maxResponse+1), nil
		}
		return echo{}.Invoke(ctx, p)
	}), Options{})
	if err == nil || !strings.Contains(err.Error(), "410 Gone") {
		t.Fatalf("Serve returned %v, want the end of the events (410 Gone)", err)
	}
	want := []struct {
		path, errorType, body string
	}{
		{"req-0/response", "", "req-0:small"},
		{"req-1/response", "", "req-1:xxx"},
		{"req-1/error", "Runtime.ResponseRejected", `{"errorMessage":"lambdaruntime: the Runtime API refused the function's response (413 Request Entity Too Large: {\"errorMessage\":\"Exceeded maximum allowed payload size (100 bytes).\"`},
		{"req-3/response", "", "req-3:after"},
		{"req-4/error", "Runtime.ResponseTooLarge", `{"errorMessage":"lambdaruntime: the function's response of 6291557 bytes exceeds Lambda's limit of 6291556`},
		{"req-5/response", "", "req-5:last"},
	}
	if len(f.posts) != len(want) {
		for _, p := range f.posts {
			t.Logf("%s %q %.200s", p.path, p.errorType, p.body)
		}
		t.Fatalf("%d posts, want %d", len(f.posts), len(want))
	}
	for i, w := range want {
		p := f.posts[i]
		// The fake numbers request ids by posts so far.
		if p.path != runtimePath+"invocation/"+w.path || p.errorType != w.errorType || !bytes.HasPrefix(p.body, []byte(w.body)) {
			t.Errorf("post %d: %s (%q) %.300s, want %s (%q) %.300s", i, p.path, p.errorType, p.body, w.path, w.errorType, w.body)
		}
	}
}

type handlerFunc func(ctx context.Context, p []byte) ([]byte, error)

func (f handlerFunc) Invoke(ctx context.Context, p []byte) ([]byte, error) { return f(ctx, p) }
