package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/msklink/msklink/doctor"
)

const explainUsage = `["<error text>"] [--json]

Explains an error message from a Kafka client (kafka-python, librdkafka/kcat,
the Java client, franz-go, sarama, segmentio/kafka-go, Lambda's event source
mapping): the likely causes, most likely first, each with the msklink doctor
command that confirms it. Without an argument the text is read from stdin.
Exit 0 when the text is known, 1 when it is not.`

func runExplain(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "explain", explainUsage)
	asJSON := fs.Bool("json", false, "print the explanations as a JSON array")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	text := strings.Join(pos, " ")
	if text == "" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 1<<20))
		if err != nil {
			return err
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		return usagef("explain: no error text: pass it as an argument or on stdin")
	}
	ex := doctor.Explain(text)
	if *asJSON {
		if ex == nil {
			ex = []doctor.Explanation{}
		}
		b, err := json.Marshal(ex)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else if len(ex) == 0 {
		fmt.Fprintln(e.stdout, "Not a known error text. Run msklink doctor with the same connection settings to find the cause.")
	}
	if len(ex) == 0 {
		return errProblem
	}
	if *asJSON {
		return nil
	}
	var b strings.Builder
	for i, x := range ex {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%q (%s)\n  %s.\n  Likely causes, most likely first:\n", x.Matched, x.Client, x.Meaning)
		for j, c := range x.Causes {
			fmt.Fprintf(&b, "  %d. %s: %s\n     confirm: %s\n", j+1, c.Cause, c.Why, c.Confirm)
		}
	}
	fmt.Fprint(e.stdout, b.String())
	return nil
}
