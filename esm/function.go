package esm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"
)

// A Function is what the event source mapping invokes with each batch's
// event. Invoke returns the function's response payload, or an error when
// the function failed: a *FunctionError, or any other error (counted as an
// unhandled function error), except a *DeliveryError, which says the event
// did not reach the function (not counted as an attempt).
//
// The method set is aws-lambda-go's lambda.Handler, so any lambda.Handler
// (lambda.NewHandler(fn)) is a Function that runs in-process.
type Function interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// FunctionError is a function's error result: what Lambda's Invoke API
// reports with the X-Amz-Function-Error header, what AWS's Runtime
// Interface Emulator answers ({"errorMessage", "errorType"}, or "Task
// timed out after N seconds"), a non-2xx status, a timeout, or a command's
// non-zero exit.
type FunctionError struct {
	// Type is the errorType ("Unhandled" when the function gave none,
	// "Timeout" when it did not answer in time).
	Type string
	// Message is the errorMessage, the response body or the command's
	// exit status.
	Message string
	// StatusCode is the Invoke API's HTTP status (0 for a command or an
	// in-process function).
	StatusCode int
}

func (e *FunctionError) Error() string {
	var b strings.Builder
	b.WriteString("function error")
	if e.StatusCode != 0 && e.StatusCode != http.StatusOK {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Type != "" {
		b.WriteString(": " + e.Type)
	}
	if e.Message != "" {
		b.WriteString(": " + truncate(e.Message, 500))
	}
	return b.String()
}

// DeliveryError says an event did not reach the function: the function
// URL refused the connection, or Lambda throttled the invocation (HTTP
// 429). The batch is sent again, without counting an attempt: Lambda's
// retry attempts count errors the function returned.
type DeliveryError struct{ Err error }

func (e *DeliveryError) Error() string {
	return "event not delivered to the function: " + e.Err.Error()
}
func (e *DeliveryError) Unwrap() error { return e.Err }

// InvokePath is the path of Lambda's Invoke API that AWS's Runtime
// Interface Emulator (aws-lambda-rie) serves.
const InvokePath = "/2015-03-31/functions/function/invocations"

// maxResponseBytes bounds a function's response: Lambda's 6 MB.
const maxResponseBytes = MaxPayloadBytes

// HTTPFunction calls a function through Lambda's Invoke API, POST
// <url>/2015-03-31/functions/function/invocations, as AWS's Runtime
// Interface Emulator serves it (aws-lambda-rie, a Lambda container image,
// sam local start-lambda).
type HTTPFunction struct {
	url    string
	client *http.Client
}

// NewHTTPFunction returns a Function that invokes the function at rawURL:
// a base URL (http://127.0.0.1:9000, to which InvokePath is added) or the
// full invocation URL. client nil means a client of its own without
// timeout (each invocation is bounded by its context).
func NewHTTPFunction(rawURL string, client *http.Client) (*HTTPFunction, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &OptionError{Option: "function", Value: rawURL, Valid: "give the function's URL, e.g. http://127.0.0.1:9000 (aws-lambda-rie's address)"}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = InvokePath
	}
	if client == nil {
		client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 90 * time.Second}}
	}
	return &HTTPFunction{url: u.String(), client: client}, nil
}

// URL is the invocation URL.
func (f *HTTPFunction) URL() string { return f.url }

// Invoke posts payload and reads the function's answer. A function error is
// recognised as Lambda and RIE report it: an X-Amz-Function-Error header
// (Lambda's Invoke API), a non-2xx status, RIE's "Task timed out after"
// text, or a body that is RIE's error object {"errorMessage", "errorType"}
// and nothing else.
func (f *HTTPFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.url, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "RequestResponse")
	resp, err := f.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &FunctionError{Type: "Timeout", Message: "no answer before the function timeout"}
			}
			return nil, ctx.Err()
		}
		return nil, &DeliveryError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		if ctx.Err() != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, &FunctionError{Type: "Timeout", Message: "no answer before the function timeout", StatusCode: resp.StatusCode}
			}
			return nil, ctx.Err()
		}
		return nil, &FunctionError{Type: "Unhandled", Message: "reading the response: " + err.Error(), StatusCode: resp.StatusCode}
	}
	if len(body) > maxResponseBytes {
		return nil, &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "the response is larger than Lambda's 6 MB limit", StatusCode: resp.StatusCode}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return nil, &DeliveryError{Err: fmt.Errorf("throttled (HTTP 429): %s", truncate(string(body), 200))}
	}
	if fe := resp.Header.Get("X-Amz-Function-Error"); fe != "" {
		return nil, errorFromBody(body, fe, resp.StatusCode)
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorFromBody(body, "Unhandled", resp.StatusCode)
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("Task timed out after")) {
		return nil, &FunctionError{Type: "Timeout", Message: string(bytes.TrimSpace(body)), StatusCode: resp.StatusCode}
	}
	if e := rieError(body); e != nil {
		e.StatusCode = resp.StatusCode
		return nil, e
	}
	return body, nil
}

// errorFromBody reads Lambda's error object from body, else keeps the text.
func errorFromBody(body []byte, typ string, status int) *FunctionError {
	if e := rieError(body); e != nil {
		e.StatusCode = status
		return e
	}
	return &FunctionError{Type: typ, Message: strings.TrimSpace(string(body)), StatusCode: status}
}

// rieError returns the error RIE's body holds: a JSON object with
// errorMessage or errorType, and no other keys than Lambda's error object
// has (errorMessage, errorType, stackTrace, cause, requestId). A Kafka
// handler's answer ({"batchItemFailures": ...}, null, {}) never matches.
func rieError(body []byte) *FunctionError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	_, hasMsg := m["errorMessage"]
	_, hasType := m["errorType"]
	if !hasMsg && !hasType {
		return nil
	}
	for k := range m {
		switch k {
		case "errorMessage", "errorType", "stackTrace", "cause", "requestId":
		default:
			return nil
		}
	}
	var e struct {
		Message string `json:"errorMessage"`
		Type    string `json:"errorType"`
	}
	json.Unmarshal(body, &e)
	if e.Type == "" {
		e.Type = "Unhandled"
	}
	return &FunctionError{Type: e.Type, Message: e.Message}
}

// CommandFunction runs a command for each batch: the event on its standard
// input, the response on its standard output, its standard error passed
// through. Exit status 0 is a response; any other status, or the command
// still running at the invocation's deadline (it is then killed, with its
// children), is a function error.
type CommandFunction struct {
	command string
	stderr  io.Writer
	env     []string
}

// NewCommandFunction returns a Function that runs command with /bin/sh -c,
// in the environment of this process plus env ("K=V"), writing its
// standard error to stderr (nil: discarded).
func NewCommandFunction(command string, stderr io.Writer, env ...string) *CommandFunction {
	return &CommandFunction{command: command, stderr: stderr, env: env}
}

// Invoke runs the command once with payload on its standard input.
func (f *CommandFunction) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	cmd := exec.Command("/bin/sh", "-c", f.command)
	cmd.Stdin = bytes.NewReader(payload)
	var out limitedBuffer
	out.limit = maxResponseBytes
	cmd.Stdout = &out
	cmd.Stderr = f.stderr
	if len(f.env) > 0 {
		cmd.Env = append(os.Environ(), f.env...)
	}
	ownProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		return nil, &FunctionError{Type: "Runtime.InvalidEntrypoint", Message: err.Error()}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		killProcessGroup(cmd)
		<-done
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &FunctionError{Type: "Timeout", Message: "the command did not exit before the function timeout"}
		}
		return nil, ctx.Err()
	}
	if out.over {
		return nil, &FunctionError{Type: "Function.ResponseSizeTooLarge", Message: "the command wrote more than Lambda's 6 MB response limit"}
	}
	if err != nil {
		return nil, &FunctionError{Type: "Unhandled", Message: "the command failed: " + err.Error()}
	}
	return out.b.Bytes(), nil
}

// limitedBuffer keeps up to limit bytes and notes whether more came.
type limitedBuffer struct {
	b     bytes.Buffer
	limit int
	over  bool
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.limit - l.b.Len(); len(p) > room {
		l.over = true
		l.b.Write(p[:max(room, 0)])
		return len(p), nil
	}
	return l.b.Write(p)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
