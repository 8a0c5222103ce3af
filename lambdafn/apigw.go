package lambdafn

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/msklink/msklink/publish"
)

// REST Proxy v2 content types.
const (
	ContentTypeKafkaJSON   = "application/vnd.kafka.json.v2+json"
	ContentTypeKafkaBinary = "application/vnd.kafka.binary.v2+json"
	ContentTypeKafkaV2     = "application/vnd.kafka.v2+json" // responses
)

// REST Proxy error codes used in answers.
const (
	restErrTopicNotFound   = 40401
	restErrKafka           = 50002 // a Kafka error that retrying will not fix
	restErrKafkaRetriable  = 50003 // a Kafka error (or no answer) that retrying may fix
	restErrUnprocessable   = 42200 // our code for an invalid record; REST Proxy uses 422xx
	restErrMalformed       = 400
	restErrNotFound        = 404
	restErrMethod          = 405
	restErrUnsupportedType = 415
)

// RESTProduceResponse is REST Proxy v2's answer to a produce request.
type RESTProduceResponse struct {
	KeySchemaID   *int         `json:"key_schema_id"`
	ValueSchemaID *int         `json:"value_schema_id"`
	Offsets       []RESTOffset `json:"offsets"`
}

// RESTOffset is one record's outcome in a RESTProduceResponse: partition
// and offset when written, error_code and error otherwise.
type RESTOffset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
}

// RESTError is REST Proxy's error body.
type RESTError struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func (h *Handler) invokeAPIGateway(ctx context.Context, inv *invocation, payload []byte) ([]byte, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil {
		return nil, &InputError{Msg: "not an API Gateway HTTP API (2.0) or function URL request: " + err.Error(), Syntax: true}
	}
	status, body, extra := h.serveREST(ctx, inv, &req)
	resp := events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": ContentTypeKafkaV2},
		Body:       string(body),
	}
	for k, v := range extra {
		resp.Headers[k] = v
	}
	return json.Marshal(resp)
}

func restErr(status, code int, msg string) (int, []byte, map[string]string) {
	b, _ := json.Marshal(RESTError{ErrorCode: code, Message: msg})
	return status, b, nil
}

// topicFromPath returns {topic} of a path ending in /topics/{topic} (a
// named stage may prefix it), or "".
func topicFromPath(p string) string {
	parts := strings.Split(strings.Trim(p, "/"), "/")
	if n := len(parts); n >= 2 && parts[n-2] == "topics" {
		return parts[n-1]
	}
	return ""
}

func (h *Handler) serveREST(ctx context.Context, inv *invocation, req *events.APIGatewayV2HTTPRequest) (int, []byte, map[string]string) {
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	topic := req.PathParameters["topic"]
	if topic == "" {
		topic = topicFromPath(path)
	}
	if topic == "" {
		return restErr(http.StatusNotFound, restErrNotFound, fmt.Sprintf("HTTP 404 Not Found: %s: the only resource is POST /topics/{topic}", path))
	}
	method := req.RequestContext.HTTP.Method
	if method != http.MethodPost {
		status, b, _ := restErr(http.StatusMethodNotAllowed, restErrMethod, fmt.Sprintf("HTTP 405 Method Not Allowed: %s %s: use POST", method, path))
		return status, b, map[string]string{"Allow": http.MethodPost}
	}
	ctype := header(req.Headers, "content-type")
	mt, _, err := mime.ParseMediaType(ctype)
	binary := false
	switch {
	case err != nil:
		return restErr(http.StatusUnsupportedMediaType, restErrUnsupportedType, fmt.Sprintf("HTTP 415 Unsupported Media Type: Content-Type %q: use %s or %s", ctype, ContentTypeKafkaJSON, ContentTypeKafkaBinary))
	case mt == ContentTypeKafkaJSON || mt == "application/json" || mt == ContentTypeKafkaV2:
	case mt == ContentTypeKafkaBinary:
		binary = true
	default:
		return restErr(http.StatusUnsupportedMediaType, restErrUnsupportedType, fmt.Sprintf("HTTP 415 Unsupported Media Type: %q (schema registry formats are not supported): use %s or %s", mt, ContentTypeKafkaJSON, ContentTypeKafkaBinary))
	}
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return restErr(http.StatusBadRequest, restErrMalformed, "body: invalid base64 from API Gateway: "+err.Error())
		}
	}
	items, err := decodeREST(body, topic, binary)
	if err == nil {
		inv.records = len(items)
		err = h.prepare(ctx, items, func(int) string { return "path.topic" }, nil)
	}
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) {
			return restErr(http.StatusInternalServerError, restErrKafka, err.Error())
		}
		switch {
		case ie.NotFound:
			return restErr(http.StatusNotFound, restErrTopicNotFound, fmt.Sprintf("Topic %s not found.", topic))
		case ie.Syntax:
			return restErr(http.StatusBadRequest, restErrMalformed, err.Error())
		}
		return restErr(http.StatusUnprocessableEntity, restErrUnprocessable, err.Error())
	}
	if len(items) > maxRESTRecords {
		return restErr(http.StatusUnprocessableEntity, restErrUnprocessable, fmt.Sprintf(
			"records: %d records: at most %d fit in one request, whose answer (an offset or error per record) must fit in Lambda's 6 MB response: send them in several requests", len(items), maxRESTRecords))
	}
	outs := h.publish(ctx, inv, items)
	status, b := restAnswer(outs, 0)
	if restWrapped(b) > MaxDirectResponse {
		// Long error texts, one per record: cut them short.
		status, b = restAnswer(outs, restShortError)
	}
	return status, b, nil
}

// restAnswer is REST Proxy's answer to outs, with each error's text cut
// to cut bytes of plain ASCII when cut > 0 (see plainText).
func restAnswer(outs []publish.Outcome, cut int) (int, []byte) {
	resp := RESTProduceResponse{Offsets: make([]RESTOffset, len(outs))}
	status := http.StatusOK
	for i, o := range outs {
		switch o.Status {
		case publish.Acked:
			p, off := o.Partition, o.Offset
			resp.Offsets[i] = RESTOffset{Partition: &p, Offset: &off}
		default:
			code := restErrKafka
			if o.Retriable || o.Status == publish.Unconfirmed {
				code = restErrKafkaRetriable
				if status == http.StatusOK {
					status = http.StatusServiceUnavailable
				}
			} else {
				status = http.StatusInternalServerError
			}
			msg := errString(o.Err)
			if cut > 0 {
				msg = plainText(msg, cut)
			}
			resp.Offsets[i] = RESTOffset{ErrorCode: &code, Error: &msg}
		}
	}
	b, _ := json.Marshal(resp)
	return status, b
}

// An API Gateway answer is the REST answer as a JSON string in an
// events.APIGatewayV2HTTPResponse, which must fit in Lambda's response
// (MaxDirectResponse). With error texts cut to restShortError bytes of
// plain ASCII, each record's entry takes at most restEntryBound bytes of
// it (the largest partition and offset, or an error code and text, each
// quote escaped), so maxRESTRecords records always fit; a request with
// more is refused (422) before anything is sent.
const (
	restShortError = 64
	restEnvelope   = 1024 // statusCode, headers, and the answer's own fields
)

var (
	restEntryBound = max(
		escapedLen(`{"partition":2147483647,"offset":9223372036854775807,"error_code":null,"error":null},`),
		escapedLen(`{"partition":null,"offset":null,"error_code":50003,"error":""},`)+restShortError)
	maxRESTRecords = (MaxDirectResponse - restEnvelope) / restEntryBound
)

// escapedLen is the length of JSON s inside a JSON string: its quotes
// escaped.
func escapedLen(s string) int { return len(s) + strings.Count(s, `"`) }

// restWrapped is the length body takes in the API Gateway answer, with
// restEnvelope for the rest of it. Body is json.Marshal's, which escapes
// every other byte a JSON string would (control bytes, <, >, &, U+2028,
// U+2029, invalid UTF-8), so quoting it adds its quotes and escapes its
// quotes and backslashes only: counted, not written (invokeAPIGateway
// writes it once).
func restWrapped(body []byte) int {
	return len(body) + 2 + bytes.Count(body, []byte{'"'}) + bytes.Count(body, []byte{'\\'}) + restEnvelope
}

// plainText cuts s to at most n bytes of printable ASCII that JSON does
// not escape: other bytes (quotes, backslashes, <, >, &, control and
// non-ASCII bytes) become '?'.
func plainText(s string, n int) string {
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b[i] = '?'
		}
	}
	return string(b)
}

// decodeREST parses REST Proxy v2's produce body.
func decodeREST(body []byte, topic string, binary bool) ([]item, error) {
	if err := checkText(body, ""); err != nil {
		return nil, err
	}
	top, err := decodeObject(body, "", "records", "key_schema", "value_schema", "key_schema_id", "value_schema_id")
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"key_schema", "value_schema", "key_schema_id", "value_schema_id"} {
		if _, ok := top[k]; ok {
			return nil, inputErrorf(k, "schemas are not supported: send %s or %s without schema fields", ContentTypeKafkaJSON, ContentTypeKafkaBinary)
		}
	}
	dec := appendJSONValue
	if binary {
		dec = appendBase64Field
	}
	return decodeRecords(top, `{"records": [{"value": ...}]}`, topic, dec, false)
}

// appendJSONValue appends a REST Proxy JSON-format key or value to dst as
// its JSON text, as REST Proxy's JSON serializer does (a string keeps its
// quotes).
func appendJSONValue(dst []byte, raw json.RawMessage, field string) ([]byte, error) {
	if isNull(raw) {
		return dst, nil
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, bytes.TrimSpace(raw)); err != nil {
		return dst, inputErrorf(field, "invalid JSON: %v", err)
	}
	return buf.Bytes(), nil
}

// header looks a header up case-insensitively (API Gateway lower-cases
// them; test events may not).
func header(hs map[string]string, name string) string {
	if v, ok := hs[name]; ok {
		return v
	}
	for k, v := range hs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
