package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn/internal/telemetry"
	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Source is an event source the handler understands.
type Source string

// The event sources. Their text is what MSK_EVENT_SOURCE takes.
const (
	SourceDirect      Source = "direct"      // {"topic", "records": [...]}
	SourceSQS         Source = "sqs"         // events.SQSEvent
	SourceAPIGateway  Source = "apigw"       // events.APIGatewayV2HTTPRequest, function URLs
	SourceEventBridge Source = "eventbridge" // events.EventBridgeEvent
	SourceDoctor      Source = "doctor"      // {"msklink": "doctor", "topic": "..."}; detected only
)

// ParseSource parses an MSK_EVENT_SOURCE value; "" and "auto" mean detect.
func ParseSource(s string) (Source, error) {
	switch v := Source(strings.ToLower(strings.TrimSpace(s))); v {
	case "", "auto":
		return "", nil
	case SourceDirect, SourceSQS, SourceAPIGateway, SourceEventBridge:
		return v, nil
	}
	return "", fmt.Errorf("lambdafn: MSK_EVENT_SOURCE=%q: want direct, sqs, apigw, eventbridge, or unset to detect the source from each event", s)
}

// DefaultWarmTimeout is the default of WithWarmTimeout.
const DefaultWarmTimeout = 5 * time.Second

// DoctorFunc diagnoses the connection to topic and returns the report as
// JSON (package doctor provides one; cmd/msklink-lambda wires it).
type DoctorFunc func(ctx context.Context, topic string) (json.RawMessage, error)

// Opt configures New.
type Opt func(*config)

type config struct {
	cfg          *kafkaconn.Config
	getenv       func(string) string
	logger       *slog.Logger
	pub          *publish.Publisher
	metrics      io.Writer
	metricsSet   bool
	doctor       DoctorFunc
	source       *Source
	warmTimeout  time.Duration
	directErrors *bool
	funcName     string
	publishOpts  []publish.Opt
}

// WithConfig sets the connection configuration. Default:
// kafkaconn.FromEnv over the environment (see WithGetenv).
func WithConfig(c kafkaconn.Config) Opt { return func(o *config) { o.cfg = &c } }

// WithGetenv sets how the environment is read (MSK_*, MSK_EVENT_SOURCE,
// AWS_LAMBDA_FUNCTION_NAME). Default os.Getenv.
func WithGetenv(getenv func(string) string) Opt { return func(o *config) { o.getenv = getenv } }

// WithLogger sets the logger. Records are logged with the invocation's
// context, so a handler wrapped with RequestIDHandler (or aws-lambda-go's
// lambdacontext.NewLogHandler) adds the request id. Default: JSON lines on
// stdout with the request id, at the level of AWS_LAMBDA_LOG_LEVEL (info).
func WithLogger(l *slog.Logger) Opt { return func(o *config) { o.logger = l } }

// WithPublisher uses p instead of building a Publisher from the
// configuration (New still warms it). The default topic stays the
// configuration's (WithConfig, else MSK_TOPIC). The caller keeps
// ownership: Close does not close it.
func WithPublisher(p *publish.Publisher) Opt { return func(o *config) { o.pub = p } }

// DefaultSafetyMargin is the publish safety margin New gives the Publisher
// it builds: Publish stops waiting this long before the invocation's
// deadline and returns within it (publish gives half of it to franz-go to
// fail unsent records), which leaves the function at least half of it to
// answer, even on a small, CPU-throttled Lambda.
const DefaultSafetyMargin = 600 * time.Millisecond

// WithPublishOpts passes options to publish.New when New builds the
// Publisher (ignored with WithPublisher); they are applied after the
// defaults, so they win. Default: the Handler's logger and
// publish.WithSafetyMargin(DefaultSafetyMargin).
func WithPublishOpts(opts ...publish.Opt) Opt {
	return func(o *config) { o.publishOpts = append(o.publishOpts, opts...) }
}

// WithMetricsWriter sets where Embedded Metric Format lines go; nil turns
// metrics off. Default os.Stdout, where Lambda's CloudWatch Logs agent
// turns them into metrics.
func WithMetricsWriter(w io.Writer) Opt {
	return func(o *config) { o.metrics, o.metricsSet = w, true }
}

// WithDoctor sets the hook answering {"msklink":"doctor","topic":"..."}
// events. Default: such events get an *InputError.
func WithDoctor(fn DoctorFunc) Opt { return func(o *config) { o.doctor = fn } }

// WithEventSource fixes the event source instead of detecting it from
// each payload ("" detects). Default: MSK_EVENT_SOURCE, else detect.
func WithEventSource(s Source) Opt { return func(o *config) { o.source = &s } }

// WithWarmTimeout bounds the Warm New runs (0 skips warming). Default
// DefaultWarmTimeout, well inside Lambda's 10 s Init limit.
func WithWarmTimeout(d time.Duration) Opt { return func(o *config) { o.warmTimeout = d } }

// WithDirectErrors makes a direct invoke with any record not acked return
// a *PublishError instead of its per-record answer. Use it for
// asynchronous invokes (InvocationType Event), whose answers Lambda
// discards: the error makes Lambda retry the event and, after its retries,
// hand it to the function's on-failure destination or dead-letter queue,
// so no record is dropped unseen. A retry publishes the whole event again,
// so records acked the first time are written twice. Default: off, or
// MSK_DIRECT_ERRORS=true.
func WithDirectErrors(on bool) Opt { return func(o *config) { o.directErrors = &on } }

// WithFunctionName sets the FunctionName metric dimension. Default
// AWS_LAMBDA_FUNCTION_NAME, else "msklink".
func WithFunctionName(name string) Opt { return func(o *config) { o.funcName = name } }

// Handler publishes Lambda events to Kafka. It implements aws-lambda-go's
// lambda.Handler. Create it with New; it is safe for concurrent use.
type Handler struct {
	pub      *publish.Publisher
	ownsPub  bool
	topic    string // default topic (MSK_TOPIC)
	source   Source // fixed source, or "" to detect
	log      *slog.Logger
	metrics  *metricsWriter
	doctor   DoctorFunc
	topics   *topicCache
	funcName string
	// directErrors: a direct invoke with records not acked returns a
	// *PublishError (see WithDirectErrors).
	directErrors bool

	coldStart atomic.Bool
	closeOnce sync.Once

	// ConnectionSetup is how long Warm took in New (0 if skipped).
	setup time.Duration

	// refused is the last error that said the cluster refuses the
	// connection (kafkaconn.Refused: TLS, authentication), from Warm or a
	// topic lookup. While it is set, an invocation connects again before
	// publishing (stillRefused), and fails its records at once if the
	// cluster still refuses: franz-go would retry until the deadline.
	refusedMu sync.Mutex
	refused   error
}

// New builds a Handler: it reads the configuration, builds the Publisher
// and warms it (connections opened and authenticated, metadata and the
// producer id loaded) within the warm timeout, measuring it as the
// ConnectionSetup metric. Call it during Lambda's Init, before
// lambda.Start. A Warm failure is logged, not returned: the first
// invocation connects again and reports what fails. Configuration errors
// are returned.
func New(ctx context.Context, opts ...Opt) (*Handler, error) {
	o := config{warmTimeout: DefaultWarmTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if o.getenv == nil {
		o.getenv = os.Getenv
	}
	if o.warmTimeout < 0 {
		return nil, fmt.Errorf("lambdafn: warm timeout %s is negative: pass 0 to skip warming, or a duration to WithWarmTimeout (default %s)", o.warmTimeout, DefaultWarmTimeout)
	}
	if o.logger == nil {
		o.logger = slog.New(NewLogHandler(os.Stdout, logLevel(o.getenv("AWS_LAMBDA_LOG_LEVEL"))))
	}
	if !o.metricsSet {
		o.metrics = os.Stdout
	}
	if o.funcName == "" {
		o.funcName = o.getenv("AWS_LAMBDA_FUNCTION_NAME")
	}
	if o.funcName == "" {
		o.funcName = "msklink"
	}
	var source Source
	if o.source != nil {
		source = *o.source
		if _, err := ParseSource(string(source)); err != nil {
			return nil, err
		}
	} else {
		s, err := ParseSource(o.getenv("MSK_EVENT_SOURCE"))
		if err != nil {
			return nil, err
		}
		source = s
	}
	directErrors := false
	if o.directErrors != nil {
		directErrors = *o.directErrors
	} else if v := o.getenv("MSK_DIRECT_ERRORS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("lambdafn: MSK_DIRECT_ERRORS=%q: use true or false", v)
		}
		directErrors = b
	}
	h := &Handler{
		directErrors: directErrors,
		source:       source,
		log:          o.logger,
		metrics:      newMetricsWriter(o.metrics),
		doctor:       o.doctor,
		funcName:     o.funcName,
	}
	h.coldStart.Store(true)

	var cfg kafkaconn.Config
	switch {
	case o.cfg != nil:
		cfg = *o.cfg
	default:
		secret := o.getenv(EnvSCRAMSecretARN)
		c, err := kafkaconn.FromEnv(o.getenv)
		if err != nil {
			return nil, fmt.Errorf("lambdafn: reading the MSK_* environment: %w", err)
		}
		if secret != "" && c.SCRAMPassword == "" {
			if c.SCRAMUsername, c.SCRAMPassword, err = scramFromSecret(ctx, o.getenv, http.DefaultClient, secret); err != nil {
				return nil, err
			}
		}
		cfg = c
	}
	h.topic = cfg.Topic
	if o.pub != nil {
		h.pub = o.pub
	} else {
		warnings, err := cfg.Validate()
		if err != nil {
			return nil, fmt.Errorf("lambdafn: %w", err)
		}
		for _, w := range warnings {
			h.log.WarnContext(ctx, "configuration warning", "field", w.Field, "warning", w.Msg)
		}
		popts := append([]publish.Opt{publish.WithLogger(h.log), publish.WithSafetyMargin(DefaultSafetyMargin)}, o.publishOpts...)
		p, err := publish.New(ctx, cfg, popts...)
		if err != nil {
			return nil, fmt.Errorf("lambdafn: %w", err)
		}
		h.pub, h.ownsPub = p, true
	}
	h.topics = newTopicCache(h.pub.Client())
	h.log.InfoContext(ctx, "msklink handler configured",
		"brokers", strings.Join(cfg.Brokers, ","), "auth", string(authOrDefault(cfg.Auth)),
		"region", cfg.Region, "topic", cfg.Topic, "eventSource", sourceOrAuto(source))

	if o.warmTimeout > 0 {
		start := time.Now()
		wctx, cancel := context.WithTimeout(ctx, o.warmTimeout)
		var topics []string
		if h.topic != "" {
			topics = []string{h.topic}
		}
		err := h.pub.Warm(wctx, topics...)
		cancel()
		h.setup = time.Since(start)
		if err != nil {
			h.log.WarnContext(ctx, "warming the connection failed; the first invocation will connect again", "error", err, "ms", ms(h.setup))
			h.noteRefused(err)
		} else {
			h.log.InfoContext(ctx, "connection warmed", "ms", ms(h.setup))
			if h.topic != "" {
				// Fill the topic cache during Init too.
				if _, err := h.topics.get(ctx, h.topic, false); err != nil {
					h.log.DebugContext(ctx, "topic lookup at Init incomplete", "topic", h.topic, "error", err)
				}
			}
		}
		h.metrics.init(h.funcName, h.setup)
	}
	return h, nil
}

// ConnectionSetup returns how long New's Warm took (0 if warming was
// skipped).
func (h *Handler) ConnectionSetup() time.Duration { return h.setup }

// Publisher returns the handler's Publisher.
func (h *Handler) Publisher() *publish.Publisher { return h.pub }

// Close closes the Publisher if New built it (records still in flight are
// failed) and logs it. Call it on SIGTERM (lambda.WithEnableSIGTERM). Safe
// to call more than once.
func (h *Handler) Close() {
	h.closeOnce.Do(func() {
		if h.ownsPub {
			h.pub.Close()
			h.log.Info("kafka client closed")
		}
	})
}

func authOrDefault(a kafkaconn.Auth) kafkaconn.Auth {
	if a == "" {
		return kafkaconn.AuthIAM
	}
	return a
}

func sourceOrAuto(s Source) string {
	if s == "" {
		return "auto"
	}
	return string(s)
}

// Invoke handles one Lambda event: it detects (or is told) the event
// source, validates the whole event, publishes its records with ctx's
// deadline and answers in the source's shape. It implements
// lambda.Handler.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	start := time.Now()
	source := h.source
	var top map[string]json.RawMessage
	if source == "" {
		var err error
		source, top, err = detect(payload)
		if err != nil {
			h.log.WarnContext(ctx, "invalid event", "error", err)
			return nil, err
		}
	}
	inv := &invocation{h: h, source: source, start: start}
	var (
		out []byte
		err error
	)
	// An event is refused whole when a string would not decode to the
	// text it claims (checkText); an SQS message is its own unit, checked
	// in invokeSQS.
	if source == SourceDirect || source == SourceAPIGateway || source == SourceEventBridge {
		if err = checkText(payload, ""); err != nil {
			inv.finish(ctx, err)
			return nil, err
		}
	}
	switch source {
	case SourceDoctor:
		out, err = h.invokeDoctor(ctx, top)
	case SourceDirect:
		out, err = h.invokeDirect(ctx, inv, payload)
	case SourceSQS:
		out, err = h.invokeSQS(ctx, inv, payload)
	case SourceAPIGateway:
		out, err = h.invokeAPIGateway(ctx, inv, payload)
	case SourceEventBridge:
		out, err = h.invokeEventBridge(ctx, inv, payload)
	default:
		err = &InputError{Msg: fmt.Sprintf("unknown event source %q", source)}
	}
	inv.finish(ctx, err)
	return out, err
}

// detect finds the event source from the payload's top-level fields.
func detect(payload []byte) (Source, map[string]json.RawMessage, error) {
	top, err := topLevel(payload) // values not copied: events are large
	if err != nil || top == nil {
		if err == nil {
			err = errors.New("got null")
		}
		return "", nil, &InputError{Msg: "the payload is not a JSON object: " + err.Error(), Syntax: true}
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("msklink"):
		var s string
		_ = json.Unmarshal(top["msklink"], &s)
		if s != "doctor" {
			return "", nil, inputErrorf("msklink", `the only msklink command is "doctor" (got %s)`, truncate(string(top["msklink"]), 40))
		}
		return SourceDoctor, top, nil
	case has("Records"):
		var recs []struct {
			EventSource string `json:"eventSource"`
		}
		err := json.Unmarshal(top["Records"], &recs)
		if err == nil && len(recs) > 0 && recs[0].EventSource == "aws:sqs" {
			return SourceSQS, top, nil
		}
		if err == nil && len(recs) > 0 {
			return "", nil, inputErrorf("Records[0].eventSource", "event source %q is not supported: msklink handles aws:sqs, API Gateway HTTP APIs, function URLs, EventBridge and direct invokes", recs[0].EventSource)
		}
		return "", nil, inputErrorf("Records", "not an SQS event (no Records[0].eventSource \"aws:sqs\")")
	case has("requestContext") && (has("rawPath") || has("routeKey")):
		return SourceAPIGateway, top, nil
	case has("requestContext") && has("httpMethod"):
		return "", nil, inputErrorf("httpMethod", "API Gateway REST API (payload format 1.0) events are not supported: use an HTTP API with payload format 2.0, or a function URL")
	case has("detail-type") && has("detail"):
		return SourceEventBridge, top, nil
	case has("records"):
		return SourceDirect, top, nil
	}
	return "", nil, &InputError{Msg: `unknown event shape: want a direct invoke {"topic": ..., "records": [...]}, an SQS event, an API Gateway HTTP API (2.0) or function URL request, or an EventBridge event; or set MSK_EVENT_SOURCE`}
}

// invokeDoctor answers {"msklink":"doctor","topic":"..."}.
func (h *Handler) invokeDoctor(ctx context.Context, top map[string]json.RawMessage) ([]byte, error) {
	if h.doctor == nil {
		return nil, inputErrorf("msklink", "this function has no doctor: build it with lambdafn.WithDoctor (cmd/msklink-lambda does)")
	}
	topic, err := jsonString(top["topic"], "topic")
	if err != nil {
		return nil, err
	}
	if topic == "" {
		topic = h.topic
	}
	return h.doctor(ctx, topic)
}

// item is one record to publish, with where it came from.
type item struct {
	rec    *kgo.Record
	field  string // JSON path of the record in the event, for errors
	pinned bool   // rec.Partition was given
	// valueField is the JSON path of the value, default field+".value".
	valueField string
}

// prepare validates items against their topics (existence, partition
// range, max.message.bytes) and returns the first problem as an
// *InputError. Lookups that fail for transient reasons skip the check:
// the broker has the last word then. infos holds what this invocation
// learned of its topics, so that each is looked up once per event even
// when the cache keeps no answer (a missing topic, a failed lookup); nil
// starts afresh.
func (h *Handler) prepare(ctx context.Context, items []item, topicField func(i int) string, infos map[string]topicInfo) error {
	if infos == nil {
		infos = map[string]topicInfo{}
	}
	for i, it := range items {
		t := it.rec.Topic
		if err := checkTopicName(t); err != nil {
			return inputErrorf(topicField(i), "%v", err)
		}
		ti, ok := infos[t]
		if !ok {
			var err error
			ti, err = h.topics.get(ctx, t, false)
			if err != nil {
				h.log.WarnContext(ctx, "topic lookup failed; skipping the size and partition checks", "topic", t, "error", err)
				h.noteRefused(err)
			}
			infos[t] = ti
		}
		if ti.notFound {
			return &InputError{Field: topicField(i), Msg: fmt.Sprintf("topic %q does not exist: create it (MSK does not auto-create topics) or fix the name", t), NotFound: true}
		}
		if p := it.rec.Partition; it.pinned && ti.partitions > 0 && p >= ti.partitions {
			ti2, err := h.topics.get(ctx, t, true)
			if err == nil {
				infos[t], ti = ti2, ti2
			}
			if ti.partitions > 0 && p >= ti.partitions {
				return inputErrorf(it.field+".partition", "topic %q has %d partitions (0-%d): omit the partition to partition by key", t, ti.partitions, ti.partitions-1)
			}
		}
		if ti.maxBytes > 0 {
			size := len(it.rec.Key) + len(it.rec.Value) + batchOverhead
			for _, hd := range it.rec.Headers {
				size += len(hd.Key) + len(hd.Value) + 2
			}
			if size > ti.maxBytes {
				vf := it.valueField
				if vf == "" {
					vf = it.field + ".value"
				}
				return inputErrorf(vf, "record of about %d bytes exceeds topic %q's max.message.bytes %d: send it in parts, store it elsewhere (S3) and publish a reference, or raise max.message.bytes", size, t, ti.maxBytes)
			}
		}
	}
	return nil
}

// publish publishes items and accounts their outcomes in inv.
func (h *Handler) publish(ctx context.Context, inv *invocation, items []item) []publish.Outcome {
	recs := make([]*kgo.Record, len(items))
	for i, it := range items {
		recs[i] = it.rec
	}
	pstart := time.Now()
	var outs []publish.Outcome
	if err := h.stillRefused(ctx); err != nil {
		outs = make([]publish.Outcome, len(items))
		for i, r := range recs {
			outs[i] = publish.Outcome{Status: publish.Failed, Topic: r.Topic, Err: err, Retriable: true}
		}
	} else {
		outs = h.pub.Publish(ctx, recs)
	}
	inv.latency = time.Since(pstart)
	inv.published = true
	for _, o := range outs {
		switch o.Status {
		case publish.Acked:
			inv.acked++
		case publish.Failed:
			inv.failed++
			if inv.firstErr == nil {
				inv.firstErr = o.Err
			}
		default:
			inv.unconfirmed++
			if inv.firstErr == nil {
				inv.firstErr = o.Err
			}
		}
	}
	return outs
}

// noteRefused keeps err if it says the cluster refuses the connection.
func (h *Handler) noteRefused(err error) {
	if kafkaconn.Refused(err) {
		h.refusedMu.Lock()
		h.refused = err
		h.refusedMu.Unlock()
	}
}

// stillRefused returns why no record can be written when the cluster
// refused the connection last time and connecting again says it still
// does (a few milliseconds, not the function's timeout); nil once it
// connects, or fails for another reason (the publish then has its say).
func (h *Handler) stillRefused(ctx context.Context) error {
	h.refusedMu.Lock()
	defer h.refusedMu.Unlock()
	if h.refused == nil {
		return nil
	}
	// A Metadata request for no topic: a connection and its SASL
	// exchange, answered at once either way (franz-go does not retry a
	// refused connection for a request, only for records).
	wctx, cancel := context.WithTimeout(ctx, lookupTimeout(ctx))
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{}
	_, err := req.RequestWith(wctx, h.pub.Client())
	if !kafkaconn.Refused(err) {
		h.refused = nil
		return nil
	}
	h.refused = err
	return fmt.Errorf("publish: not written: the cluster refused the connection (fix it and retry; msklink doctor names the cause): %w", err)
}

// invocation accounts one invocation for its log line and metrics.
type invocation struct {
	h                          *Handler
	source                     Source
	start                      time.Time
	records                    int
	acked, failed, unconfirmed int
	invalid                    int // SQS messages rejected by validation
	latency                    time.Duration
	published                  bool
	firstErr                   error
}

func (inv *invocation) finish(ctx context.Context, err error) {
	h := inv.h
	cold := h.coldStart.Swap(false)
	attrs := []any{
		"eventSource", string(inv.source), "records", inv.records,
		"acked", inv.acked, "failed", inv.failed, "unconfirmed", inv.unconfirmed,
		"publishMs", ms(inv.latency), "totalMs", ms(time.Since(inv.start)), "coldStart", cold,
	}
	if inv.invalid > 0 {
		attrs = append(attrs, "invalid", inv.invalid)
	}
	if dl, ok := ctx.Deadline(); ok {
		attrs = append(attrs, "msLeft", time.Until(dl).Milliseconds())
	}
	switch {
	case err != nil:
		var ie *InputError
		if errors.As(err, &ie) {
			h.log.WarnContext(ctx, "invalid event", append(attrs, "error", err)...)
		} else {
			h.log.ErrorContext(ctx, "invocation failed", append(attrs, "error", err)...)
		}
	case inv.failed+inv.unconfirmed > 0:
		h.log.WarnContext(ctx, "records not acked", append(attrs, "firstError", errString(inv.firstErr))...)
	default:
		h.log.InfoContext(ctx, "invocation done", attrs...)
	}
	if inv.source != SourceDoctor {
		h.metrics.invocation(h.funcName, inv, cold)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func ms(d time.Duration) float64 { return telemetry.Ms(d) }

func logLevel(s string) slog.Level { return telemetry.LogLevel(s) }

// checkTopicName applies Kafka's topic name rules (kafkaconn.CheckTopicName).
func checkTopicName(t string) error { return kafkaconn.CheckTopicName(t) }
