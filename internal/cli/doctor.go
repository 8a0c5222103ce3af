package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/msklink/msklink/doctor"
)

const doctorUsage = connFlagsUsage + ` [--topic T] [--produce] [--consume [--group G]] [--esm --topic T --group G] [--timeout 5s] [--json]

Diagnoses the connection layer by layer (config, credentials, token, DNS, TCP,
TLS, SASL, metadata, every advertised broker, topic and group authorization,
and with --produce/--consume one record round trip) and prints one line per
check, then the verdict: a cause code, a summary and the fix. Exit 0 when
everything works, 1 when a problem is found. See docs/TROUBLESHOOTING.md.

--esm checks what Lambda's event source mapping (an MSK trigger) does with the
function's execution role (run it with those credentials, e.g. --role-arn):
DescribeTopic, DescribeConfigs, the group's coordinator and committed offsets
(DescribeGroup), a Fetch (ReadData) and an offset commit the broker authorizes
and then rejects (AlterGroup): nothing is written, the group is not joined.
--group is the mapping's UUID, or its ConsumerGroupId.`

func runDoctor(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "doctor", doctorUsage)
	var cf connFlags
	cf.register(fs)
	produce := fs.Bool("produce", false, "produce one record to --topic and report its latency")
	consume := fs.Bool("consume", false, "read a record back from --topic; a denied ReadData is then a failure")
	group := fs.String("group", "", "consumer group whose DescribeGroup/AlterGroup to try")
	esm := fs.Bool("esm", false, "check what a Lambda event source mapping (MSK trigger) needs: --topic and --group (the mapping's UUID)")
	timeout := fs.Duration("timeout", doctor.DefaultTimeout, "bound for each layer of the diagnosis")
	asJSON := fs.Bool("json", false, "print one JSON object")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("doctor: unexpected argument %q", pos[0])
	}
	if *timeout <= 0 {
		return usagef("doctor: --timeout must be positive")
	}
	// An MSK_* variable that cannot be read is a finding (cause config),
	// reported like any other, as the Lambda's doctor does.
	cfg, cfgErr := cf.config(e)
	if _, ok := errors.AsType[*UsageError](cfgErr); ok {
		return cfgErr // a bad flag value: exit 2
	}
	if cfgErr == nil && (*produce || *consume || *group != "" || *esm) && cfg.Topic == "" {
		return usagef("doctor: --produce, --consume, --group and --esm need --topic (or MSK_TOPIC)")
	}
	if *esm && (*produce || *consume) {
		return usagef("doctor: --esm checks the event source mapping's consumer, which writes nothing: drop --produce and --consume")
	}
	var r doctor.Report
	if cfgErr != nil {
		r = doctor.ConfigReport(cfgErr)
	} else {
		r = doctor.Run(ctx, cfg, doctor.WithTopic(cfg.Topic), doctor.WithGroup(*group),
			doctor.WithProduce(*produce), doctor.WithConsume(*consume), doctor.WithESM(*esm), doctor.WithTimeout(*timeout))
	}
	if *asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printReport(e, r)
	}
	if !r.OK {
		return errProblem
	}
	return nil
}

func printReport(e *env, r doctor.Report) {
	var b strings.Builder
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	for _, c := range r.Checks {
		dur := ""
		if c.Status != doctor.Skip {
			dur = c.Duration.Round(time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-4s  %-*s  %7s  %s\n", c.Status, width, c.Name, dur, c.Detail)
	}
	b.WriteString("\n")
	if r.OK {
		fmt.Fprintf(&b, "OK: %s\n", r.Summary)
	} else {
		fmt.Fprintf(&b, "PROBLEM (%s): %s\nFix: %s\n", r.Cause, r.Summary, r.Fix)
	}
	fmt.Fprint(e.stdout, b.String())
}
