package extension

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// The Extensions API, as documented in AWS Lambda's developer guide
// ("Lambda Extensions API", API version 2020-01-01):
// https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html
const (
	apiVersion      = "2020-01-01"
	headerName      = "Lambda-Extension-Name"
	headerID        = "Lambda-Extension-Identifier"
	headerErrorType = "Lambda-Extension-Function-Error-Type"
)

// Event types an extension registers for.
const (
	Invoke   = "INVOKE"
	Shutdown = "SHUTDOWN"
)

// Event is one answer of /extension/event/next.
type Event struct {
	EventType string `json:"eventType"`
	// DeadlineMs is the invocation's deadline for INVOKE, and the end of
	// the shutdown budget for SHUTDOWN, in Unix milliseconds.
	DeadlineMs int64  `json:"deadlineMs"`
	RequestID  string `json:"requestId,omitempty"`
	// ShutdownReason is spindown, timeout or failure (SHUTDOWN only).
	ShutdownReason string `json:"shutdownReason,omitempty"`
}

// Deadline returns DeadlineMs as a time.
func (e Event) Deadline() time.Time { return time.UnixMilli(e.DeadlineMs) }

// ErrAPI is wrapped by every error of the Extensions API itself (a status
// other than the one expected).
var ErrAPI = errors.New("extension: Extensions API")

// client speaks the Extensions API at AWS_LAMBDA_RUNTIME_API. It is used by
// one goroutine.
type client struct {
	base string // http://host:port/2020-01-01/extension
	hc   *http.Client
	id   string // the Lambda-Extension-Identifier, after register
}

func newClient(runtimeAPI string) *client {
	// No timeout: event/next blocks until the next event, for as long as
	// the environment is idle (frozen). Contexts bound the other calls.
	return &client{base: "http://" + runtimeAPI + "/" + apiVersion + "/extension", hc: &http.Client{}}
}

// register registers the extension named name (its file name in
// /opt/extensions, which Lambda checks) for INVOKE and SHUTDOWN.
func (c *client) register(ctx context.Context, name string) error {
	body := []byte(`{"events":["` + Invoke + `","` + Shutdown + `"]}`)
	resp, err := c.do(ctx, http.MethodPost, "/register", body, map[string]string{headerName: name}, http.StatusOK)
	if err != nil {
		return err
	}
	c.id = resp.Header.Get(headerID)
	if c.id == "" {
		return fmt.Errorf("%w: register answered without %s", ErrAPI, headerID)
	}
	return nil
}

// next waits for the next event.
func (c *client) next(ctx context.Context) (Event, error) {
	resp, err := c.do(ctx, http.MethodGet, "/event/next", nil, nil, http.StatusOK)
	if err != nil {
		return Event{}, err
	}
	var ev Event
	if err := json.Unmarshal(resp.body, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: event/next: %v", ErrAPI, err)
	}
	return ev, nil
}

// initError reports a failed Init (the extension exits after it); Lambda
// fails the Init phase with errorType (Extension.Reason) and logs err.
func (c *client) initError(ctx context.Context, errorType string, err error) error {
	return c.reportError(ctx, "/init/error", errorType, err)
}

// exitError reports an error before the extension exits.
func (c *client) exitError(ctx context.Context, errorType string, err error) error {
	return c.reportError(ctx, "/exit/error", errorType, err)
}

func (c *client) reportError(ctx context.Context, path, errorType string, err error) error {
	body, _ := json.Marshal(struct {
		Message string   `json:"errorMessage"`
		Type    string   `json:"errorType"`
		Trace   []string `json:"stackTrace"`
	}{err.Error(), errorType, []string{}})
	_, rerr := c.do(ctx, http.MethodPost, path, body, map[string]string{headerErrorType: errorType}, http.StatusAccepted)
	return rerr
}

type response struct {
	Header http.Header
	body   []byte
}

func (c *client) do(ctx context.Context, method, path string, body []byte, headers map[string]string, want int) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if c.id != "" {
		req.Header.Set(headerID, c.id)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrAPI, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %v", ErrAPI, method, path, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%w: %s %s: HTTP %d: %s", ErrAPI, method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return &response{Header: resp.Header, body: b}, nil
}
