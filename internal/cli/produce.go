package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/msklink/msklink/publish"
	"github.com/twmb/franz-go/pkg/kgo"
)

const produceUsage = connFlagsUsage + ` --topic T [--key-delimiter D] [--json] [--partition N] [--timeout 30s]

Reads records from stdin, one per line: the line is the value, or
KEY<D>VALUE with --key-delimiter, or with --json an object
{"key": "...", "value": ..., "headers": {"k": "v"}, "partition": N}
(value: a string or any JSON; {"base64": "..."} for bytes).`

// produceBatch is how many lines make one Publish.
const produceBatch = 1000

func runProduce(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "produce", produceUsage)
	var cf connFlags
	cf.register(fs)
	keyDelim := fs.String("key-delimiter", "", "split each line into KEY<delimiter>VALUE")
	asJSON := fs.Bool("json", false, "each line is a JSON record object")
	partition := fs.Int("partition", -1, "write every record to this partition (default: by key)")
	timeout := fs.Duration("timeout", 30*time.Second, "deadline for each batch of 1000 records")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("produce: unexpected argument %q: records come from stdin", pos[0])
	}
	if *timeout <= 0 {
		return usagef("produce: --timeout must be positive (got %s): it is each batch's deadline", *timeout)
	}
	if *partition < -1 {
		return usagef("produce: --partition must be a partition number >= 0 (got %d), or omitted to partition by key", *partition)
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	if cfg.Topic == "" {
		return usagef("produce: no topic: pass --topic or set MSK_TOPIC")
	}
	p, err := publish.New(ctx, cfg)
	if err != nil {
		return err
	}
	defer p.Close()

	sc := bufio.NewScanner(e.stdin)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var (
		recs         []*kgo.Record
		lines        []int
		line         int
		acked, total int
		problems     int
	)
	flush := func() {
		if len(recs) == 0 {
			return
		}
		bctx, cancel := context.WithTimeout(ctx, *timeout)
		out := p.Publish(bctx, recs)
		cancel()
		for i, o := range out {
			total++
			switch o.Status {
			case publish.Acked:
				acked++
			default:
				problems++
				fmt.Fprintf(e.stderr, "line %d: %s: %v\n", lines[i], o.Status, o.Err)
			}
		}
		recs, lines = recs[:0], lines[:0]
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		if strings.TrimSpace(text) == "" {
			continue
		}
		r, err := parseProduceLine(text, *keyDelim, *asJSON)
		if err != nil {
			// Publish what came before, then stop: nothing after a bad
			// line is sent, and the error says which line.
			flush()
			return fmt.Errorf("line %d: %w (%d records before it were acked)", line, err, acked)
		}
		if *partition >= 0 {
			publish.Pin(r, int32(*partition))
		}
		recs = append(recs, r)
		lines = append(lines, line)
		if len(recs) == produceBatch {
			flush()
		}
	}
	if err := sc.Err(); err != nil {
		flush()
		return fmt.Errorf("reading stdin after line %d: %w", line, err)
	}
	flush()
	fmt.Fprintf(e.stderr, "msklink: %d of %d records acked\n", acked, total)
	if problems > 0 {
		return errProblem
	}
	return nil
}

// parseProduceLine turns one input line into a record.
func parseProduceLine(text, keyDelim string, asJSON bool) (*kgo.Record, error) {
	if !asJSON {
		r := &kgo.Record{Value: []byte(text)}
		if keyDelim != "" {
			k, v, ok := strings.Cut(text, keyDelim)
			if !ok {
				return nil, fmt.Errorf("no key delimiter %q in the line", keyDelim)
			}
			r.Key, r.Value = []byte(k), []byte(v)
		}
		return r, nil
	}
	var in struct {
		Key       json.RawMessage   `json:"key"`
		Value     json.RawMessage   `json:"value"`
		Headers   map[string]string `json:"headers"`
		Partition *int32            `json:"partition"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("not a JSON record object {\"key\", \"value\", \"headers\", \"partition\"}: %v", err)
	}
	if in.Value == nil {
		return nil, errors.New(`"value" is missing`)
	}
	r := &kgo.Record{}
	var err error
	if r.Key, err = jsonBytes(in.Key); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if r.Value, err = jsonBytes(in.Value); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	for k, v := range in.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	if in.Partition != nil {
		publish.Pin(r, *in.Partition)
	}
	return r, nil
}

// jsonBytes decodes a JSON key or value: a string is its text,
// {"base64": "..."} is bytes, null or absent is nil, anything else is its
// JSON text.
func jsonBytes(raw json.RawMessage) ([]byte, error) {
	s := strings.TrimSpace(string(raw))
	switch {
	case s == "" || s == "null":
		return nil, nil
	case s[0] == '"':
		var str string
		err := json.Unmarshal(raw, &str)
		return []byte(str), err
	case s[0] == '{':
		var b64 struct {
			Base64 *string `json:"base64"`
		}
		if json.Unmarshal(raw, &b64) == nil && b64.Base64 != nil && strings.Count(s, ":") == 1 {
			b, err := base64.StdEncoding.DecodeString(*b64.Base64)
			if err != nil {
				return nil, fmt.Errorf(`"base64" is not standard base64: %v`, err)
			}
			return b, nil
		}
	}
	return []byte(s), nil
}
