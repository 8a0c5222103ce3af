package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/msklink/msklink/internal/deploycheck"
	"github.com/msklink/msklink/internal/deploytmpl"
	"github.com/msklink/msklink/kafkaconn"
)

const deployTemplateUsage = `--cluster-arn ARN --bootstrap HOST:PORT,... --topic T ... [--auth iam|scram|tls] [--idempotent=false] [--format sam|cloudformation] [-o FILE]
--esm --cluster-arn ARN --topic T --group G [--on-failure-topic T2] [--function-name F] [--starting-position TRIM_HORIZON|LATEST] [--batch-size N] ` + filterFlagsUsage + ` [--schema-registry URI [--schema-registry-secret ARN] [--event-record-format JSON|SOURCE] [--schema-validation KEY,VALUE]] [--format ...] [-o FILE]
--extension --runtime python3.13|nodejs22.x --cluster-arn ARN --bootstrap HOST:9098,... --topic T ... [--format ...] [-o FILE]

Writes the AWS SAM template (or, with --format cloudformation, the
plain CloudFormation it transforms to) that deploys the msklink Lambda
function into the MSK cluster's VPC: the function's security group with
egress to the cluster's group on the auth mode's port only (9098 IAM, 9096
SCRAM, 9094 TLS) and the matching ingress rule on the cluster's group, the
execution role with AWSLambdaVPCAccessExecutionRole and the kafka-cluster
policy 'msklink policy generate' prints for the topics, the MSK_*
environment, a log group, optional SQS, function URL and EventBridge
triggers, and outputs for the function and the doctor invocation. Write SAM
templates into deploy/ (they find deploy/Makefile and the Go module from
there): sam build -t deploy/FILE && sam deploy --guided.

With --esm it writes the consumer side instead: examples/kafka-consumer (on
package lambdafn/kafkaesm) triggered by an MSK event source mapping on the
topic in provisioned mode (StartingPosition, BatchSize,
ReportBatchItemFailures, the consumer group, and with --on-failure-topic a
Kafka on-failure destination, with --filter/--filter-criteria the
FilterCriteria, checked as Lambda checks them), its role the policy of
'msklink policy generate --esm' (filters need no permission), and the
cluster security group's self-referencing rule the mapping needs.` + deployExtensionUsage

const deployCheckUsage = `[--json] [--param NAME=VALUE ...] [--cluster-arn ARN] [--goarch arm64|amd64] TEMPLATE...

Reads SAM or CloudFormation templates (YAML or JSON, msklink's or a
user's) and checks what MSK needs, which CloudFormation linters cannot
know: security-group egress (and the cluster's ingress rules the template
holds) on the port of the auth in use; the execution role's statements
evaluated against what the function or its MSK trigger does (Connect,
WriteData, ReadData, the group actions, kafka:DescribeClusterV2,
kafka:GetBootstrapBrokers, the ENI and logs actions); runtime, handler and
architecture of the Go bootstrap deploy/Makefile builds; the event source
mapping's ranges and provisioned-only features, and its on-failure topic;
SCRAM credentials kept out of the environment. Parameters take their
Default unless --param gives them; what it cannot resolve is a warning
that names what was not checked. Exit 1 on an error finding or a file
that is not a template; docs/DEPLOYMENT.md lists every check.`

func runDeployCheckCmd(ctx context.Context, e *env, args []string) error {
	return runDeployCheck(e, newFlagSet(e, "deploy check", deployCheckUsage), args)
}

func runDeployTemplate(ctx context.Context, e *env, rest []string) error {
	fs := newFlagSet(e, "deploy template", deployTemplateUsage)
	var (
		p          deploytmpl.Params
		bootstrap  listFlag
		topics     listFlag
		auth       = string(kafkaconn.AuthIAM)
		format     = string(deploytmpl.FormatSAM)
		idempotent = true
		out        string
		esm        bool
		mapping    deploytmpl.ESM
	)
	fs.StringVar(&p.ClusterARN, "cluster-arn", "", "the MSK cluster's ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)")
	fs.Var(&bootstrap, "bootstrap", "the cluster's private bootstrap brokers for the auth mode, host:port (comma-separated or repeated)")
	fs.Var(&topics, "topic", "a topic the function writes to (repeatable; the first is its default, MSK_TOPIC)")
	fs.StringVar(&auth, "auth", auth, "how the function authenticates: iam (port 9098), scram (9096) or tls (9094)")
	fs.BoolVar(&idempotent, "idempotent", idempotent, "idempotent producer (needs kafka-cluster:WriteDataIdempotently, which the policy then grants)")
	fs.StringVar(&format, "format", format, "sam (sam build, sam deploy) or cloudformation (the function's zip from S3, aws cloudformation deploy)")
	fs.StringVar(&out, "o", "", "write the template to FILE instead of stdout (for SAM, a file in deploy/)")
	fs.BoolVar(&esm, "esm", false, "the consumer side: a function triggered by an MSK event source mapping on --topic")
	fs.StringVar(&mapping.Group, "group", "", "with --esm: the consumer group the mapping joins (ConsumerGroupId)")
	fs.StringVar(&mapping.OnFailureTopic, "on-failure-topic", "", "with --esm: a topic of the cluster for the records the mapping gives up on (kafka://TOPIC)")
	fs.StringVar(&mapping.FunctionName, "function-name", "", "with --esm: the function's name (default: CloudFormation names it after the stack)")
	fs.StringVar(&mapping.StartingPosition, "starting-position", "TRIM_HORIZON", "with --esm: TRIM_HORIZON or LATEST, the StartingPosition parameter's default")
	fs.IntVar(&mapping.BatchSize, "batch-size", 100, "with --esm: records per invocation, the BatchSize parameter's default")
	var filters filterFlags
	filters.register(fs)
	ext := addExtensionFlags(fs)
	var registry deploytmpl.SchemaRegistry
	var validate string
	fs.StringVar(&registry.URI, "schema-registry", "", "with --esm: SchemaRegistryConfig's registry, a Glue registry ARN or a Confluent URL")
	fs.StringVar(&registry.AuthSecretARN, "schema-registry-secret", "", "with --schema-registry URL: the Secrets Manager secret ARN of its basic auth")
	fs.StringVar(&registry.EventRecordFormat, "event-record-format", "JSON", "with --schema-registry: JSON or SOURCE")
	fs.StringVar(&validate, "schema-validation", "VALUE", "with --schema-registry: KEY, VALUE or KEY,VALUE")
	pos, err := parseFlags(fs, rest)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("deploy template: unexpected argument %q", pos[0])
	}
	p.Bootstrap, p.Topics = bootstrap, topics
	p.Auth, p.Format, p.DisableIdempotence, p.Path = kafkaconn.Auth(auth), deploytmpl.Format(format), !idempotent, out
	if mapping.Filters, err = filters.criteria("deploy template"); err != nil {
		return err
	}
	if registry.URI != "" {
		registry.Validate = strings.Split(validate, ",")
		mapping.SchemaRegistry = &registry
	} else if registry.AuthSecretARN != "" {
		return usagef("deploy template: --schema-registry-secret goes with --schema-registry")
	}
	if ext.on {
		if esm {
			return usagef("deploy template: --extension and --esm are different templates: choose one")
		}
		if mapping.Filters != nil || mapping.SchemaRegistry != nil {
			return usagef("deploy template: --filter, --filter-criteria and --schema-registry go with --esm (the mapping's FilterCriteria and SchemaRegistryConfig)")
		}
		return ext.render(e, p, out)
	}
	if esm {
		p.ESM = &mapping
	} else if mapping.SchemaRegistry != nil {
		return usagef("deploy template: --schema-registry goes with --esm")
	} else if mapping.Group != "" || mapping.OnFailureTopic != "" || mapping.FunctionName != "" {
		return usagef("deploy template: --group, --on-failure-topic and --function-name go with --esm")
	} else if mapping.Filters != nil {
		return usagef("deploy template: --filter and --filter-criteria go with --esm (the mapping's FilterCriteria)")
	}
	if p.Format == deploytmpl.FormatSAM && out != "" {
		if err := checkSAMPlace(out, p.ESM != nil); err != nil {
			return err
		}
	}
	b, err := deploytmpl.Render(p)
	return writeTemplate(e, out, b, err)
}

// writeTemplate writes b, a template deploytmpl rendered with err, to
// out, or to stdout when out is empty; a ParamError is a usage error.
func writeTemplate(e *env, out string, b []byte, err error) error {
	if err != nil {
		var pe *deploytmpl.ParamError
		if errors.As(err, &pe) {
			return usagef("deploy template: %v", err)
		}
		return err
	}
	if out == "" {
		_, err = e.stdout.Write(b)
		return err
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		return fmt.Errorf("deploy template: %w", err)
	}
	fmt.Fprintf(e.stderr, "wrote %s\n", out)
	return nil
}

// checkSAMPlace checks that a SAM template written to out can be built
// where it is: its Metadata (ContextPath ., ProjectRootDirectory ..) and
// CodeUri (..) are relative to the template, so sam build runs the
// Makefile beside it and copies the directory above it as the Go module.
// Anywhere else sam build copies whatever lies above the file, then fails.
func checkSAMPlace(out string, consumer bool) error {
	dir := filepath.Dir(out)
	target := "build-" + deploytmpl.FunctionID
	if consumer {
		target = "build-" + deploytmpl.ConsumerFunctionID
	}
	if hasMakeTarget(dir, target) {
		return nil
	}
	return usagef("deploy template: -o %q: a SAM template is built from where it is (its CodeUri .. and ContextPath . are relative to it), and %s has no Makefile with %s under a go.mod: write it into msklink's deploy/ directory (-o deploy/NAME.yaml), or use --format cloudformation", out, dir, target)
}

// hasMakeTarget reports whether dir has a Makefile with target and a
// go.mod above it: where sam build can build a template written to dir.
func hasMakeTarget(dir, target string) bool {
	mk, err := os.ReadFile(filepath.Join(dir, "Makefile"))
	_, modErr := os.Stat(filepath.Join(dir, "..", "go.mod"))
	if err == nil && modErr == nil {
		for line := range bytes.Lines(mk) {
			if bytes.HasPrefix(line, []byte(target+":")) {
				return true
			}
		}
	}
	return false
}

// checkReport is one template's result, as --json prints it.
type checkReport struct {
	File     string                `json:"file"`
	Error    string                `json:"error,omitempty"` // not a template
	Errors   int                   `json:"errors"`
	Warnings int                   `json:"warnings"`
	Findings []deploycheck.Finding `json:"findings"`
}

// runDeployCheck is msklink deploy check: exit 1 when a template has an
// error finding or is not a template.
func runDeployCheck(e *env, fs *flag.FlagSet, args []string) error {
	var (
		asJSON  bool
		params  = paramFlag{}
		cluster string
		goarch  = deploycheck.DefaultGOARCH
	)
	fs.BoolVar(&asJSON, "json", false, "print the findings as JSON: [{file, error, errors, warnings, findings: [{severity, check, resource, path, line, why, fix}]}]")
	fs.Var(params, "param", "a parameter's value, NAME=VALUE (repeatable; others take their Default), as sam deploy --parameter-overrides")
	fs.StringVar(&cluster, "cluster-arn", "", "the MSK cluster a publisher writes to (default: the one cluster ARN the template names)")
	fs.StringVar(&goarch, "goarch", goarch, "the GOARCH the bootstrap is built for (deploy/Makefile: arm64; make GOARCH=amd64 for x86_64)")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("deploy check: want at least one TEMPLATE")
	}
	switch goarch {
	case "arm64", "amd64":
	default:
		return usagef("deploy check: --goarch %q: use arm64 or amd64 (Lambda's two architectures)", goarch)
	}
	opts := []deploycheck.Opt{deploycheck.WithParameters(params), deploycheck.WithGOARCH(goarch)}
	if cluster != "" {
		opts = append(opts, deploycheck.WithClusterARN(cluster))
	}
	var reports []checkReport
	bad := false
	for _, f := range files {
		r := checkReport{File: f, Findings: []deploycheck.Finding{}}
		b, err := os.ReadFile(f)
		if err == nil {
			var fs []deploycheck.Finding
			if fs, err = deploycheck.Check(b, opts...); err == nil {
				r.Findings = append(r.Findings, fs...)
			}
		}
		if err != nil {
			r.Error = err.Error()
			bad = true
		}
		for _, x := range r.Findings {
			if x.Severity == deploycheck.SeverityError {
				r.Errors++
				bad = true
			} else {
				r.Warnings++
			}
		}
		reports = append(reports, r)
	}
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(reports); err != nil {
			return err
		}
	} else {
		for _, r := range reports {
			if r.Error != "" {
				fmt.Fprintf(e.stdout, "%s: not a template deploy check can read: %s\n", r.File, r.Error)
				continue
			}
			for _, x := range r.Findings {
				fmt.Fprintf(e.stdout, "%s:%d: %s\n", r.File, x.Line, x)
			}
			verdict := "OK"
			if r.Errors > 0 {
				verdict = "problems found"
			}
			fmt.Fprintf(e.stdout, "%s: %d error(s), %d warning(s): %s\n", r.File, r.Errors, r.Warnings, verdict)
		}
	}
	if bad {
		return errProblem
	}
	return nil
}

// paramFlag collects --param NAME=VALUE.
type paramFlag map[string]string

func (p paramFlag) String() string { return "" }

func (p paramFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	p[name] = value
	return nil
}
