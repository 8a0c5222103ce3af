package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Status is what became of a record.
type Status uint8

// The statuses. The zero Status is never returned.
const (
	Acked Status = iota + 1
	Failed
	Unconfirmed
)

func (s Status) String() string {
	switch s {
	case Acked:
		return "acked"
	case Failed:
		return "failed"
	case Unconfirmed:
		return "unconfirmed"
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// ErrUnconfirmed is the error of an Unconfirmed outcome: the record was
// handed to the broker (or may have been) and no answer came in time.
var ErrUnconfirmed = errors.New("publish: no answer from the broker before the deadline: the record may or may not be written; retry (a duplicate is possible) or reconcile")

// Outcome is what became of one record.
type Outcome struct {
	Status    Status
	Topic     string
	Partition int32 // Acked only
	Offset    int64 // Acked only
	// Err says why a record Failed or is Unconfirmed.
	Err error
	// Retriable reports whether publishing the record again may succeed.
	// Always true for Unconfirmed.
	Retriable bool
}

// Opt configures a Publisher.
type Opt func(*config)

type config struct {
	margin     time.Duration
	maxRecords int
	maxBytes   int64
	logger     *slog.Logger
	clientOpts []kafkaconn.Opt
}

// DefaultSafetyMargin is the default of WithSafetyMargin.
const DefaultSafetyMargin = 200 * time.Millisecond

// The defaults of WithMaxInFlightRecords and WithMaxInFlightBytes: 10,000
// records (franz-go's own buffer holds 50,000 by default; a Publisher's
// holds as many as its limit) and 16 MiB.
const (
	DefaultMaxInFlightRecords = 10_000
	DefaultMaxInFlightBytes   = 16 << 20
)

// WithMaxInFlightRecords bounds the records each Stream (and each Publish)
// has sent and the broker has not answered yet: at the bound, Send blocks
// until one is answered. The outcomes answered and waiting for an earlier
// one (they are delivered in order) are bounded by twice as many. The
// client's own buffer
// (kgo.MaxBufferedRecords, shared by concurrent Streams) is made at least
// as large. Default DefaultMaxInFlightRecords.
func WithMaxInFlightRecords(n int) Opt { return func(c *config) { c.maxRecords = n } }

// WithMaxInFlightBytes bounds the bytes (keys, values, headers) of the
// records each Stream (and each Publish) has handed to the producer and
// the producer still holds: at the bound, Send blocks until records are
// answered. A record larger than the bound is sent alone. Default
// DefaultMaxInFlightBytes.
func WithMaxInFlightBytes(n int64) Opt { return func(c *config) { c.maxBytes = n } }

// WithSafetyMargin sets how long before the context's deadline Publish
// stops waiting for answers (it returns within this margin, leaving the
// caller time to answer). Default DefaultSafetyMargin.
func WithSafetyMargin(d time.Duration) Opt { return func(c *config) { c.margin = d } }

// WithLogger logs late outcomes and the client's events to l. Default: no
// logging.
func WithLogger(l *slog.Logger) Opt { return func(c *config) { c.logger = l } }

// WithClientOpts passes options to kafkaconn.NewClient (franz-go hooks, a
// token provider, ...).
func WithClientOpts(opts ...kafkaconn.Opt) Opt {
	return func(c *config) { c.clientOpts = append(c.clientOpts, opts...) }
}

// Publisher publishes records with a deadline. Create it with New.
type Publisher struct {
	client     *kgo.Client
	topic      string // default topic
	margin     time.Duration
	log        *slog.Logger
	idempotent bool
	maxRecords int64                 // per Stream
	maxBytes   int64                 // per Stream
	conns      *kafkaconn.ConnErrors // the last failed connection
}

// New validates cfg and returns a Publisher with its own client. It does
// not connect: call Warm, or the first Publish will.
func New(ctx context.Context, cfg kafkaconn.Config, opts ...Opt) (*Publisher, error) {
	c := config{margin: DefaultSafetyMargin, maxRecords: DefaultMaxInFlightRecords, maxBytes: DefaultMaxInFlightBytes}
	for _, o := range opts {
		o(&c)
	}
	if c.margin < 0 {
		return nil, fmt.Errorf("publish: safety margin %s is negative: pass 0 or more to WithSafetyMargin (default %s)", c.margin, DefaultSafetyMargin)
	}
	if c.maxRecords < 1 {
		return nil, fmt.Errorf("publish: WithMaxInFlightRecords(%d): pass 1 or more (default %d)", c.maxRecords, DefaultMaxInFlightRecords)
	}
	if c.maxBytes < 1 {
		return nil, fmt.Errorf("publish: WithMaxInFlightBytes(%d): pass 1 or more (default %d)", c.maxBytes, DefaultMaxInFlightBytes)
	}
	log := c.logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	conns := new(kafkaconn.ConnErrors)
	clientOpts := append([]kafkaconn.Opt{
		kafkaconn.WithClientOpts(kgo.RecordPartitioner(partitioner{newPartitioner()}),
			// franz-go's own buffer must not be what bounds a Stream:
			// as large as the Stream's limit, or the default's.
			kgo.MaxBufferedRecords(max(c.maxRecords, DefaultMaxInFlightRecords)),
			kgo.WithHooks(conns)),
	}, c.clientOpts...)
	if c.logger != nil {
		clientOpts = append(clientOpts, kafkaconn.WithLogger(c.logger))
	}
	client, err := kafkaconn.NewClient(ctx, cfg, clientOpts...)
	if err != nil {
		return nil, err
	}
	return &Publisher{client: client, topic: cfg.Topic, margin: c.margin, log: log, idempotent: !cfg.DisableIdempotence,
		maxRecords: int64(c.maxRecords), maxBytes: c.maxBytes, conns: conns}, nil
}

// LastConnectError returns the error of the last connection to a broker
// that failed (dial, TLS handshake, SASL), with the broker's address,
// while that broker has not connected since; nil otherwise. franz-go
// retries such connections in silence while records wait: this is why a
// record was not written before its deadline, and the outcome of such a
// record says it too.
func (p *Publisher) LastConnectError() error { return p.conns.Last() }

// connNote is " (the last connection failed: ...)" when one did, or "".
func (p *Publisher) connNote() string {
	if err := p.conns.Last(); err != nil {
		return " (the last connection failed: " + err.Error() + ")"
	}
	return ""
}

// Client returns the Publisher's franz-go client, for requests Publish
// does not cover. Do not close it; Close the Publisher.
func (p *Publisher) Client() *kgo.Client { return p.client }

// Close closes the client. Records still in flight are failed.
func (p *Publisher) Close() { p.client.Close() }

// Publish produces records and returns one outcome per record, in order.
// Each record's Topic defaults to the Config's Topic; a record pinned with
// Pin goes to its partition, others are partitioned by key (murmur2, as
// the Java client), or, when they have none, 64 KiB at a time to one
// partition, favouring the partitions with the least waiting (the Java
// client's default since Kafka 3.3, KIP-794; franz-go's default too).
//
// Publish returns when every record has an outcome, or when the context's
// deadline less the safety margin is near: records failed by then because
// they were never sent are Failed (retriable); records still in flight
// are Unconfirmed. Without a deadline, Publish waits for every outcome.
// Canceling the context stops Publish as the deadline would: half the
// safety margin later at most, it returns. Publish is a Stream fed with
// records: it holds at most the Publisher's in-flight limits at a time.
func (p *Publisher) Publish(ctx context.Context, records []*kgo.Record) []Outcome {
	out := make([]Outcome, len(records))
	if len(records) == 0 {
		return out
	}
	s := p.stream(ctx, nil, out, true) // each outcome lands in out
	for _, r := range records {
		s.Send(r)
	}
	s.Close()
	return out
}

// stopReason is " (cause)" for a context canceled with a cause of its own
// (context.WithCancelCause), or "".
func stopReason(cause error) string {
	if cause == nil || errors.Is(cause, context.Canceled) {
		return ""
	}
	return " (" + cause.Error() + ")"
}

// outcome classifies a franz-go promise. stopped is why the context of
// the record was canceled (context.Cause), if it was.
func (p *Publisher) outcome(r *kgo.Record, err, stopped error) Outcome {
	if err == nil {
		return Outcome{Status: Acked, Topic: r.Topic, Partition: r.Partition, Offset: r.Offset}
	}
	o := Outcome{Status: Failed, Topic: r.Topic, Err: err}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, kgo.ErrRecordRetries):
		// With idempotence, franz-go fails a record on a deadline only
		// when it was never sent (or the broker's answer is known), so
		// it is safely not written. Without idempotence it may have been
		// sent: that is unconfirmed.
		if !p.idempotent {
			return Outcome{Status: Unconfirmed, Topic: r.Topic, Err: fmt.Errorf("%w (%v)", ErrUnconfirmed, err), Retriable: true}
		}
		if errors.Is(err, context.Canceled) {
			why := stopReason(stopped) // the caller's cause says more than the connection
			if why == "" {
				why = p.connNote()
			}
			o.Err = fmt.Errorf("publish: not written: publishing was stopped before it was sent%s: %w", why, err)
		} else {
			o.Err = fmt.Errorf("publish: not written before the deadline%s: %w", p.connNote(), err)
		}
		o.Retriable = true
	case errors.Is(err, kgo.ErrClientClosed):
		// Close fails records in flight too: one may have been written.
		return Outcome{Status: Unconfirmed, Topic: r.Topic, Err: fmt.Errorf("%w (the client was closed: %v)", ErrUnconfirmed, err), Retriable: true}
	default:
		var ne net.Error
		o.Retriable = kerr.IsRetriable(err) || errors.As(err, &ne)
	}
	return o
}

func (p *Publisher) logLate(r *kgo.Record, err error) {
	if err != nil {
		p.log.Warn("record failed after it was reported unconfirmed", "topic", r.Topic, "error", err)
		return
	}
	p.log.Info("record acked after it was reported unconfirmed: a retry may duplicate it", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset)
}
