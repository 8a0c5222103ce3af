// Package lambdaruntime serves a Lambda function over the Runtime API
// (version 2018-06-01), for the msklink bootstrap.
//
// It does what aws-lambda-go's lambda.Start does for a byte handler (the
// invocation's deadline, lambdacontext, the X-Ray trace id, errors and
// panics reported in Lambda's error shape, SIGTERM through an internal
// extension), with one difference that matters to a function holding
// little memory: each event is read into one reused buffer, mapped
// outside the Go heap with room for Lambda's largest event, so that an
// event costs its own size in resident memory, once.
// aws-lambda-go reads events into a pooled bytes.Buffer that grows by
// doubling; for a 2.1 MB event that allocates 8.2 MB (measured with the
// heap profiler under RIE), the largest part of the bootstrap's peak.
//
// The payload given to a Handler is valid only until Invoke returns, as
// with aws-lambda-go: a handler copies what it keeps.
//
// A response larger than Lambda's limit (6 MiB + 100 bytes) is not sent,
// and one the Runtime API refuses (413) is not retried: either is
// reported as the invocation's error (POST /invocation/{id}/error, types
// Runtime.ResponseTooLarge and Runtime.ResponseRejected) and the loop
// serves on, where aws-lambda-go's would exit and lose the environment.
package lambdaruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"reflect"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Handler is the function: it has aws-lambda-go's lambda.Handler method.
type Handler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// Runtime API paths and headers
// (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html).
const (
	runtimePath   = "/2018-06-01/runtime/"
	extensionPath = "/2020-01-01/extension/"

	hdrRequestID       = "Lambda-Runtime-Aws-Request-Id"
	hdrDeadlineMs      = "Lambda-Runtime-Deadline-Ms"
	hdrFunctionARN     = "Lambda-Runtime-Invoked-Function-Arn"
	hdrTraceID         = "Lambda-Runtime-Trace-Id"
	hdrClientContext   = "Lambda-Runtime-Client-Context"
	hdrCognitoIdentity = "Lambda-Runtime-Cognito-Identity"
	hdrTenantID        = "Lambda-Runtime-Aws-Tenant-Id"
	hdrErrorType       = "Lambda-Runtime-Function-Error-Type"
	hdrExtensionName   = "Lambda-Extension-Name"
	hdrExtensionID     = "Lambda-Extension-Identifier"
)

// Options configure Serve.
type Options struct {
	// OnSIGTERM, when set, runs when the process gets SIGTERM. Setting it
	// also registers an internal extension (with no events), which is what
	// makes Lambda send SIGTERM before shutting the environment down.
	OnSIGTERM func()
}

// Serve answers invocations with h until the Runtime API fails, and
// returns that failure (or a handler's panic, after reporting it: Lambda
// then starts a fresh process). api is AWS_LAMBDA_RUNTIME_API (host:port).
// With AWS_LAMBDA_MAX_CONCURRENCY above 1 (Lambda Managed Instances) it
// serves that many invocations at once, each with its own buffer.
func Serve(api string, h Handler, o Options) error {
	if api == "" {
		return errors.New("lambdaruntime: AWS_LAMBDA_RUNTIME_API is not set: run the bootstrap in Lambda or under the Runtime Interface Emulator (aws-lambda-rie)")
	}
	c := &client{base: "http://" + api, http: &http.Client{Transport: &http.Transport{
		// The Runtime API is link-local: never through a proxy, and no
		// request timeout (next waits for the next event).
		Proxy:              nil,
		DisableCompression: true,
	}}}
	if o.OnSIGTERM != nil {
		c.enableSIGTERM(o.OnSIGTERM)
	}
	n := lambdacontext.MaxConcurrency()
	if n <= 1 {
		return c.loop(h, true)
	}
	errc := make(chan error, n)
	for range n {
		go func() { errc <- c.loop(h, false) }()
	}
	return <-errc
}

type client struct {
	base string
	http *http.Client
}

// loop serves invocations one after the other; setTraceEnv sets
// _X_AMZN_TRACE_ID, which only a process serving one invocation at a time
// can do.
func (c *client) loop(h Handler, setTraceEnv bool) error {
	buf := eventBuffer()
	for {
		inv, err := c.next(buf)
		if err != nil {
			return err
		}
		buf = inv.payload[:0]
		if err := c.handle(h, inv, setTraceEnv); err != nil {
			return err
		}
	}
}

type invocation struct {
	id      string
	header  http.Header
	payload []byte
}

// next waits for the next invocation and reads its event into buf when it
// fits, else into a buffer of the event's size.
func (c *client) next(buf []byte) (*invocation, error) {
	resp, err := c.http.Get(c.base + runtimePath + "invocation/next")
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime: waiting for the next invocation: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("lambdaruntime: the Runtime API answered the next invocation with %s", resp.Status)
	}
	payload, err := readBody(resp, buf)
	if err != nil {
		return nil, fmt.Errorf("lambdaruntime: reading the invocation's event: %w", err)
	}
	return &invocation{id: resp.Header.Get(hdrRequestID), header: resp.Header, payload: payload}, nil
}

// readBody reads resp's body into buf, growing it at most once, to the
// event's size: at once when the Content-Length is known, else (RIE sends
// events chunked) after reading what does not fit into blocks of
// blockSize. An event costs its size, or twice it when it outgrows buf;
// reading into a bytes.Buffer costs about four times it.
func readBody(resp *http.Response, buf []byte) ([]byte, error) {
	if n := resp.ContentLength; n >= 0 {
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_, err := io.ReadFull(resp.Body, buf)
		return buf, err
	}
	buf = buf[:cap(buf)]
	n, err := io.ReadFull(resp.Body, buf)
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return buf[:n], nil
	case nil:
	default:
		return nil, err
	}
	var blocks [][]byte
	total := n
	for err == nil {
		b := make([]byte, blockSize)
		var m int
		m, err = io.ReadFull(resp.Body, b)
		blocks = append(blocks, b[:m])
		total += m
	}
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	out := make([]byte, total)
	off := copy(out, buf[:n])
	for _, b := range blocks {
		off += copy(out[off:], b)
	}
	return out, nil
}

// blockSize is the unit readBody reads an event of unknown size in.
const blockSize = 64 << 10

// maxEvent is the largest event Lambda hands a function: 6 MB, the limit
// of a synchronous invocation's payload.
const maxEvent = 6 << 20

// maxResponse is the largest response Lambda accepts from a function
// invoked synchronously: 6 MiB + 100 bytes (the Runtime API answers 413
// above it and the caller gets Function.ResponseSizeTooLarge; RIE's
// interop.MaxPayloadSize).
const maxResponse = 6<<20 + 100

// handle runs h on one invocation and posts its response or error. The
// error it returns ends the loop: h panicked, or the Runtime API failed
// an error report. A response the Runtime API refuses (413 above Lambda's
// limit) or one larger than the limit, which is not sent, is reported as
// the invocation's error instead: the loop serves on.
func (c *client) handle(h Handler, inv *invocation, setTraceEnv bool) error {
	ms, err := strconv.ParseInt(inv.header.Get(hdrDeadlineMs), 10, 64)
	if err != nil {
		return c.report(inv.id, errorBody{Message: "lambdaruntime: the invocation has no deadline (" + hdrDeadlineMs + "): " + err.Error(), Type: "Runtime.InvalidDeadline"})
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.UnixMilli(ms))
	defer cancel()
	lc := &lambdacontext.LambdaContext{
		AwsRequestID:       inv.id,
		InvokedFunctionArn: inv.header.Get(hdrFunctionARN),
		TenantID:           inv.header.Get(hdrTenantID),
	}
	for _, f := range []struct {
		header string
		into   any
	}{{hdrClientContext, &lc.ClientContext}, {hdrCognitoIdentity, &lc.Identity}} {
		if v := inv.header.Get(f.header); v != "" {
			if err := json.Unmarshal([]byte(v), f.into); err != nil {
				return c.report(inv.id, errorBody{Message: "lambdaruntime: the " + f.header + " header is not JSON: " + err.Error(), Type: "Runtime.InvalidHeader"})
			}
		}
	}
	ctx = lambdacontext.NewContext(ctx, lc)
	trace := inv.header.Get(hdrTraceID)
	if setTraceEnv {
		os.Setenv("_X_AMZN_TRACE_ID", trace)
	}
	// The key aws-lambda-go sets, which the X-Ray SDK reads.
	ctx = context.WithValue(ctx, "x-amzn-trace-id", trace) //nolint:staticcheck

	out, panicked, err := invoke(ctx, h, inv.payload)
	switch {
	case panicked != nil:
		if perr := c.postError(inv.id, *panicked); perr != nil {
			return perr
		}
		return fmt.Errorf("lambdaruntime: the handler panicked: %s", panicked.Message)
	case err != nil:
		return c.report(inv.id, errorBody{Message: err.Error(), Type: ErrorType(err)})
	case len(out) > maxResponse:
		return c.report(inv.id, errorBody{Type: "Runtime.ResponseTooLarge", Message: fmt.Sprintf(
			"lambdaruntime: the function's response of %d bytes exceeds Lambda's limit of %d bytes, so it was not sent; what the function did is done, but its answer is lost", len(out), maxResponse)})
	}
	if err := c.post(runtimePath+"invocation/"+inv.id+"/response", "", out); err != nil {
		return c.report(inv.id, errorBody{Type: "Runtime.ResponseRejected", Message: fmt.Sprintf(
			"lambdaruntime: the Runtime API refused the function's response (%v); what the function did is done, but its answer is lost", err)})
	}
	return nil
}

// report posts e as the invocation's error. A Runtime API that refuses it
// too is reported on stderr, and the loop goes on: the next invocation's
// request tells whether the Runtime API is still there.
func (c *client) report(id string, e errorBody) error {
	if err := c.postError(id, e); err != nil {
		fmt.Fprintf(os.Stderr, "lambdaruntime: invocation %s: reporting the error %q: %v\n", id, e.Message, err)
	}
	return nil
}

// invoke calls h, turning a panic into Lambda's error shape.
func invoke(ctx context.Context, h Handler, payload []byte) (out []byte, panicked *errorBody, err error) {
	defer func() {
		if v := recover(); v != nil {
			panicked = &errorBody{Message: fmt.Sprint(v), Type: ErrorType(v), StackTrace: stack()}
		}
	}()
	out, err = h.Invoke(ctx, payload)
	return out, nil, err
}

// errorBody is Lambda's error object.
type errorBody struct {
	Message    string   `json:"errorMessage"`
	Type       string   `json:"errorType"`
	StackTrace []string `json:"stackTrace,omitempty"`
}

// ErrorType names v's type as Lambda's errorType, the way aws-lambda-go
// does: the type's name without the pointer ("InputError" for an
// *InputError).
func ErrorType(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Name()
}

func stack() []string {
	pcs := make([]uintptr, 32)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(4, pcs)])
	var out []string
	for {
		f, more := frames.Next()
		out = append(out, fmt.Sprintf("%s:%d %s", f.File, f.Line, f.Function))
		if !more {
			return out
		}
	}
}

func (c *client) postError(id string, e errorBody) error {
	b, _ := json.Marshal(e)
	return c.post(runtimePath+"invocation/"+id+"/error", e.Type, b)
}

// post sends body to the Runtime API, which answers 202 Accepted; another
// answer is an *apiError.
func (c *client) post(path, errorType string, body []byte) error {
	req, err := http.NewRequest(http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("lambdaruntime: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if errorType != "" {
		req.Header.Set(hdrErrorType, errorType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("lambdaruntime: posting to %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		io.Copy(io.Discard, resp.Body)
		return &apiError{path: path, status: resp.Status, body: string(bytes.TrimSpace(msg))}
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// apiError is a Runtime API answer other than 202 Accepted to a post.
type apiError struct {
	path, status, body string
}

func (e *apiError) Error() string {
	if e.body == "" {
		return e.status
	}
	return e.status + ": " + e.body
}

// enableSIGTERM runs f on SIGTERM, and registers an internal extension
// for no events: any registered extension makes Lambda send the runtime
// SIGTERM at shutdown instead of only SIGKILL. The extension's event/next
// never returns (it has no events); calling it tells Lambda the extension's
// Init is done. A failed registration is reported on stderr and leaves
// Lambda's default (SIGKILL only).
func (c *client) enableSIGTERM(f func()) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		<-sig
		f()
	}()
	req, _ := http.NewRequest(http.MethodPost, c.base+extensionPath+"register", bytes.NewReader([]byte(`{"events":[]}`)))
	req.Header.Set(hdrExtensionName, "msklink-sigterm")
	resp, err := c.http.Do(req)
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("the Extensions API answered %s", resp.Status)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lambdaruntime: registering the SIGTERM extension failed, Lambda will stop the function with SIGKILL only: %v\n", err)
		return
	}
	id := resp.Header.Get(hdrExtensionID)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, c.base+extensionPath+"event/next", nil)
		req.Header.Set(hdrExtensionID, id)
		if resp, err := c.http.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
}
