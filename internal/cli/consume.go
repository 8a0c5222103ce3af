package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

const consumeUsage = connFlagsUsage + ` --topic T [--from-beginning] [--max N] [--group G] [--json] [--timeout D]

Prints each record's value on a line, or with --json an object
{"topic","partition","offset","timestamp","key","value","headers"}.
Stops after --max records, after --timeout, or on Ctrl-C.`

func runConsume(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "consume", consumeUsage)
	var cf connFlags
	cf.register(fs)
	fromStart := fs.Bool("from-beginning", false, "start at the oldest record (default: only new records)")
	max := fs.Int("max", 0, "stop after this many records (default: no limit)")
	group := fs.String("group", "", "consume in this consumer group, committing offsets (default: no group)")
	asJSON := fs.Bool("json", false, "print records as JSON lines")
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
		opts = append(opts, kgo.ConsumerGroup(*group))
	}
	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(opts...))
	if err != nil {
		return err
	}
	defer cl.Close()

	n := 0
	for *max == 0 || n < *max {
		fs := cl.PollRecords(ctx, *max-n)
		if ctx.Err() != nil {
			break
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) {
				continue
			}
			return fmt.Errorf("consuming %s partition %d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		for _, r := range fs.Records() {
			printRecord(e, r, *asJSON)
			n++
		}
	}
	if *group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := cl.CommitUncommittedOffsets(cctx); err != nil {
			return fmt.Errorf("committing offsets for group %q: %w", *group, err)
		}
	}
	if *max > 0 && n < *max {
		fmt.Fprintf(e.stderr, "msklink: %d of %d records before the timeout\n", n, *max)
		return errProblem
	}
	return nil
}

func printRecord(e *env, r *kgo.Record, asJSON bool) {
	if !asJSON {
		fmt.Fprintf(e.stdout, "%s\n", r.Value)
		return
	}
	headers := map[string]string{}
	for _, h := range r.Headers {
		headers[h.Key] = string(h.Value)
	}
	b, _ := json.Marshal(struct {
		Topic     string            `json:"topic"`
		Partition int32             `json:"partition"`
		Offset    int64             `json:"offset"`
		Timestamp time.Time         `json:"timestamp"`
		Key       any               `json:"key"`
		Value     any               `json:"value"`
		Headers   map[string]string `json:"headers,omitempty"`
	}{r.Topic, r.Partition, r.Offset, r.Timestamp, bytesJSON(r.Key), bytesJSON(r.Value), headers})
	fmt.Fprintf(e.stdout, "%s\n", b)
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
