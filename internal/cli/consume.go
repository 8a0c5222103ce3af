package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeUsage = connFlagsUsage + ` --topic T [--from-beginning] [--max N] [--group G] [--format LAYOUT | --json] [--timeout D]

Prints each record's value on a line; with --format, as LAYOUT says, in
franz-go's record format (kcl's): %v value, %k key, %t topic, %p partition,
%o offset, %d timestamp (ms; %d{go#RFC3339#} as a date), %V and %K
lengths, %h{...} each header (%k and %v inside), \n \t escapes; kcat -f's
%s is %v, %S is %V, %T is %d and %h is %h{%k=%v,}. For example
--format '%t [%p] at offset %o: key %k: %v\n'. With --json, an object
{"topic","partition","offset","timestamp","key","value","headers"} per
line. Records are written in batches, as they are fetched. Stops after
--max records, after --timeout, or on Ctrl-C; at once, with the cause
and the fix, when nothing listens at the bootstrap address or its host
does not resolve, the cluster refuses the connection (TLS,
authentication), or the topic does not exist. When no broker has
answered a second past --dial-timeout, says so with the cause, and
keeps waiting.`

func runConsume(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "consume", consumeUsage)
	var cf connFlags
	cf.register(fs)
	fromStart := fs.Bool("from-beginning", false, "start at the oldest record (default: only new records)")
	max := fs.Int("max", 0, "stop after this many records (default: no limit)")
	group := fs.String("group", "", "consume in this consumer group, committing offsets (default: no group)")
	asJSON := fs.Bool("json", false, "print records as JSON lines")
	format := fs.String("format", "", "print each record as this layout (franz-go's record format, like kcat -f)")
	timeout := fs.Duration("timeout", 0, "stop after this long (default: no limit)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("consume: unexpected argument %q", pos[0])
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	if cfg.Topic == "" {
		return usagef("consume: no topic: pass --topic or set MSK_TOPIC")
	}
	if *max < 0 {
		return usagef("consume: --max must not be negative")
	}
	if *timeout < 0 {
		return usagef("consume: --timeout must not be negative (got %s): omit it to consume until --max or Ctrl-C", *timeout)
	}
	write := writeValue
	switch {
	case *format != "" && *asJSON:
		return usagef("consume: --format and --json do not go together: pick one")
	case *format != "":
		f, err := kgo.NewRecordFormatter(*format)
		if err != nil {
			return usagef("consume: --format %q: %v", *format, err)
		}
		write = func(b []byte, r *kgo.Record) []byte { return f.AppendRecord(b, r) }
	case *asJSON:
		write = appendRecordJSON
	}
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	offset := kgo.NewOffset().AtEnd()
	if *fromStart {
		offset = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.ConsumeTopics(cfg.Topic), kgo.ConsumeResetOffset(offset), kgo.FetchMaxWait(500 * time.Millisecond)}
	if *group != "" {
		// Only the records written out are committed: each batch is
		// marked once it is flushed, and franz-go's autocommit (and the
		// final commit) takes only what is marked, so a failed write or
		// a kill never commits a record nobody saw.
		opts = append(opts, kgo.ConsumerGroup(*group), kgo.AutoCommitMarks())
	}
	var refuse atomic.Pointer[refusal]
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	refused := func(r *refusal) {
		if refuse.CompareAndSwap(nil, r) {
			stop()
		}
	}
	conns := newReach(ctx, cfg.Brokers, refused) // the connections, for a run that gets nothing
	opts = append(opts, kgo.WithHooks(conns))
	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(opts...))
	if err != nil {
		return err
	}
	defer cl.Close()
	go func() {
		if r := checkCluster(ctx, cl, cfg.Topic, reading, -1); r != nil {
			refused(r)
		}
	}()
	// One buffered writer, flushed after each batch: a write per batch of
	// fetched records, not per record, and nothing held back while
	// waiting for more.
	out := bufio.NewWriterSize(e.stdout, 256<<10)
	var buf []byte
	n := 0
	var shown atomic.Int64 // n, for the progress line's goroutine
	var prog *progress
	if !isTerminal(e.stdout) { // records on the screen: no progress line over them
		prog = startProgress(e.stderr, func(el time.Duration) string {
			n := shown.Load()
			return fmt.Sprintf("msklink: %s records, %s/s", count(n), count(int64(float64(n)/el.Seconds())))
		})
	}
	until := "until Ctrl-C"
	if *timeout > 0 {
		until = fmt.Sprintf("until --timeout %s, or Ctrl-C", *timeout)
	}
	printf := func(format string, args ...any) { fmt.Fprintf(e.stderr, format, args...) }
	if prog != nil {
		printf = prog.Printf
	}
	watchDone, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		conns.watch(warnAfter(cfg), until, printf, watchDone)
	}()
	stopWatch := sync.OnceFunc(func() { close(watchDone); <-watched })
	defer stopWatch()
	var werr error
	for (*max == 0 || n < *max) && werr == nil {
		fs := cl.PollRecords(ctx, *max-n)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			out.Flush()
			if r := topicRefusal(fe.Topic, fe.Err, reading); r != nil {
				return fmt.Errorf("consume: %w", r)
			}
			return fmt.Errorf("consuming %s partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if werr != nil {
				return
			}
			buf = write(buf[:0], r)
			_, werr = out.Write(buf)
			n++
		})
		if werr == nil {
			werr = out.Flush()
		}
		if werr == nil && *group != "" {
			cl.MarkCommitRecords(fs.Records()...)
		}
		shown.Store(int64(n))
	}
	stopWatch()
	if prog != nil {
		prog.Stop()
	}
	if werr != nil {
		return fmt.Errorf("writing records: %w", werr)
	}
	if r := refuse.Load(); r != nil {
		printRefusal(e.stderr, "consume: ", r)
		return errProblem
	}
	if *group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.CommitMarkedOffsets(cctx); err != nil {
			return fmt.Errorf("committing offsets for group %q: %w", *group, err)
		}
	}
	if *max > 0 && n < *max {
		why := ""
		if n == 0 {
			why = noAnswer(conns.Last())
		}
		when := "before the timeout"
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			when = "when interrupted"
		}
		fmt.Fprintf(e.stderr, "msklink: %d of %d records %s%s\n", n, *max, when, why)
		return errProblem
	}
	return nil
}

// writeValue appends the record's value and a newline.
func writeValue(b []byte, r *kgo.Record) []byte {
	return append(append(b, r.Value...), '\n')
}

// appendRecordJSON appends the record as a JSON line.
func appendRecordJSON(b []byte, r *kgo.Record) []byte {
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	j, _ := json.Marshal(struct {
		Topic     string            `json:"topic"`
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Timestamp time.Time         `json:"timestamp"`
		Key       any               `json:"key"`
		Value     any               `json:"value"`
		Headers   map[string]string `json:"headers,omitempty"`
	}{r.Topic, r.Partition, r.Offset, r.Timestamp, bytesJSON(r.Key), bytesJSON(r.Value), headers})
	return append(append(b, j...), '\n')
}

// bytesJSON shows bytes as a string when they are UTF-8, else as
// {"base64": "..."} (the form produce --json reads).
func bytesJSON(b []byte) any {
	if b == nil {
		return nil
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return map[string][]byte{"base64": b}
}
