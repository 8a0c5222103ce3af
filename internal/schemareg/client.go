package schemareg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Registry resolves the schema ids in records' headers.
type Registry interface {
	// SchemaByID returns the schema with Confluent's global id.
	SchemaByID(ctx context.Context, id int) (Schema, error)
	// SchemaByGUID returns the schema version with that UUID, the id in a
	// Glue header.
	SchemaByGUID(ctx context.Context, guid string) (Schema, error)
}

// ErrNotFound is wrapped by a Registry's error for an id it does not have.
var ErrNotFound = errors.New("schemareg: schema not found")

// RegistryError is a request to a registry that failed: it could not be
// sent, or the registry answered an error. It wraps ErrNotFound for a 404.
type RegistryError struct {
	URL    string // the request's URL (never with credentials)
	Status int    // the HTTP status; 0 when there was no answer
	Code   int    // Confluent's error_code, if any
	Msg    string
	Err    error // the transport's error when there was no answer
}

func (e *RegistryError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("schema registry %s: %v (is the registry running at that address? msklink local prints it as MSK_SCHEMA_REGISTRY_URL)", e.URL, e.Err)
	}
	msg := fmt.Sprintf("schema registry %s: HTTP %d", e.URL, e.Status)
	if e.Code != 0 {
		msg += " error_code " + strconv.Itoa(e.Code)
	}
	if e.Msg != "" {
		msg += ": " + e.Msg
	}
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		msg += " (check --schema-registry-auth USER:PASSWORD)"
	}
	return msg
}

// Unwrap returns ErrNotFound for a 404, else the transport's error.
func (e *RegistryError) Unwrap() error {
	if e.Status == http.StatusNotFound {
		return ErrNotFound
	}
	return e.Err
}

// Client is a Confluent-compatible registry's client, with the local
// registry's Glue stand-in for SchemaByGUID (see the package doc). Schemas
// are cached (an id's schema never changes). It is safe for concurrent use.
type Client struct {
	base       string
	user, pass string
	hc         *http.Client

	mu     sync.Mutex
	byID   map[int]Schema
	byGUID map[string]Schema
}

// ClientOpt configures NewClient.
type ClientOpt func(*Client)

// WithBasicAuth authenticates with HTTP basic authentication, as Lambda's
// BASIC_AUTH access config does. Default: none.
func WithBasicAuth(user, pass string) ClientOpt {
	return func(c *Client) { c.user, c.pass = user, pass }
}

// WithHTTPClient sets the HTTP client. Default: one with a 10 s timeout.
func WithHTTPClient(hc *http.Client) ClientOpt { return func(c *Client) { c.hc = hc } }

// NewClient returns a client of the registry at rawURL (http or https).
func NewClient(rawURL string, opts ...ClientOpt) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("schemareg: registry URL %q: give an http(s) URL such as http://127.0.0.1:8081", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("schemareg: registry URL %s: give the credentials apart (basic auth), not in the URL", u.Redacted())
	}
	c := &Client{base: strings.TrimSuffix(u.String(), "/"), hc: &http.Client{Timeout: 10 * time.Second},
		byID: map[int]Schema{}, byGUID: map[string]Schema{}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// URL is the registry's URL.
func (c *Client) URL() string { return c.base }

// SchemaByID fetches GET /schemas/ids/{id}.
func (c *Client) SchemaByID(ctx context.Context, id int) (Schema, error) {
	c.mu.Lock()
	s, ok := c.byID[id]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	var body schemaBody
	if err := c.get(ctx, "/schemas/ids/"+strconv.Itoa(id), &body); err != nil {
		return Schema{}, err
	}
	typ, err := ParseType(body.SchemaType)
	if err != nil {
		return Schema{}, fmt.Errorf("schema registry %s: schema %d: %w", c.base, id, err)
	}
	s = Schema{ID: id, Type: typ, Text: body.Schema}
	c.mu.Lock()
	c.byID[id] = s
	c.mu.Unlock()
	return s, nil
}

// SchemaByGUID fetches the local registry's Glue stand-in, GET
// /msklink/glue/schema-versions/{guid}.
func (c *Client) SchemaByGUID(ctx context.Context, guid string) (Schema, error) {
	c.mu.Lock()
	s, ok := c.byGUID[guid]
	c.mu.Unlock()
	if ok {
		return s, nil
	}
	var v glueSchemaVersion
	if err := c.get(ctx, "/msklink/glue/schema-versions/"+url.PathEscape(guid), &v); err != nil {
		return Schema{}, err
	}
	typ, err := ParseType(v.DataFormat)
	if err != nil {
		return Schema{}, fmt.Errorf("schema registry %s: schema version %s: %w", c.base, guid, err)
	}
	s = Schema{GUID: guid, Type: typ, Text: v.SchemaDefinition}
	c.mu.Lock()
	c.byGUID[guid] = s
	c.mu.Unlock()
	return s, nil
}

func (c *Client) get(ctx context.Context, path string, v any) error {
	u := c.base + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &RegistryError{URL: u, Err: err}
	}
	req.Header.Set("Accept", ContentType+", application/json")
	if c.user != "" || c.pass != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is in RegistryError already
		}
		return &RegistryError{URL: u, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &RegistryError{URL: u, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		re := &RegistryError{URL: u, Status: resp.StatusCode}
		var eb struct {
			Code int    `json:"error_code"`
			Msg  string `json:"message"`
		}
		if json.Unmarshal(data, &eb) == nil {
			re.Code, re.Msg = eb.Code, eb.Msg
		}
		return re
	}
	if err := json.Unmarshal(data, v); err != nil {
		return &RegistryError{URL: u, Status: resp.StatusCode, Msg: "the answer is not JSON: " + err.Error()}
	}
	return nil
}
