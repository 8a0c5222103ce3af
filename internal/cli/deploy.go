package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/msklink/msklink/internal/deploytmpl"
	"github.com/msklink/msklink/kafkaconn"
)

const deployUsage = `template --cluster-arn ARN --bootstrap HOST:PORT,... --topic T ... [--auth iam|scram|tls] [--idempotent=false] [--format sam|cloudformation] [-o FILE]

template writes the AWS SAM template (or, with --format cloudformation, the
plain CloudFormation it transforms to) that deploys the msklink Lambda
function into the MSK cluster's VPC: the function's security group with
egress to the cluster's group on the auth mode's port only (9098 IAM, 9096
SCRAM, 9094 TLS) and the matching ingress rule on the cluster's group, the
execution role with AWSLambdaVPCAccessExecutionRole and the kafka-cluster
policy 'msklink policy generate' prints for the topics, the MSK_*
environment, a log group, optional SQS, function URL and EventBridge
triggers, and outputs for the function and the doctor invocation. Write SAM
templates into deploy/ (they find deploy/Makefile and the Go module from
there): sam build -t deploy/FILE && sam deploy --guided.`

func runDeploy(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("deploy: want a subcommand: template")
	}
	sub, rest := args[0], args[1:]
	fs := newFlagSet(e, "deploy "+sub, deployUsage)
	switch sub {
	case "template":
	case "-h", "-help", "--help", "help":
		return parseHelp(fs)
	default:
		return usagef("deploy: unknown subcommand %q: want template", sub)
	}
	var (
		p          deploytmpl.Params
		bootstrap  listFlag
		topics     listFlag
		auth       = string(kafkaconn.AuthIAM)
		format     = string(deploytmpl.FormatSAM)
		idempotent = true
		out        string
	)
	fs.StringVar(&p.ClusterARN, "cluster-arn", "", "the MSK cluster's ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)")
	fs.Var(&bootstrap, "bootstrap", "the cluster's private bootstrap brokers for the auth mode, host:port (comma-separated or repeated)")
	fs.Var(&topics, "topic", "a topic the function writes to (repeatable; the first is its default, MSK_TOPIC)")
	fs.StringVar(&auth, "auth", auth, "how the function authenticates: iam (port 9098), scram (9096) or tls (9094)")
	fs.BoolVar(&idempotent, "idempotent", idempotent, "idempotent producer (needs kafka-cluster:WriteDataIdempotently, which the policy then grants)")
	fs.StringVar(&format, "format", format, "sam (sam build, sam deploy) or cloudformation (the function's zip from S3, aws cloudformation deploy)")
	fs.StringVar(&out, "o", "", "write the template to FILE instead of stdout (for SAM, a file in deploy/)")
	pos, err := parseFlags(fs, rest)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("deploy template: unexpected argument %q", pos[0])
	}
	p.Bootstrap, p.Topics = bootstrap, topics
	p.Auth, p.Format, p.DisableIdempotence, p.Path = kafkaconn.Auth(auth), deploytmpl.Format(format), !idempotent, out
	b, err := deploytmpl.Render(p)
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
