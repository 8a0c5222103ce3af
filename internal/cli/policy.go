package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

const policyGenerateUsage = `--cluster-arn ARN [--produce T ...] [--consume T ... --group G] [--idempotent] [--describe-topic-config] [--transactional-id X] [--json]
--esm --cluster-arn ARN --topic T --group G [--on-failure-topic T2] [--function-name F] [--schema-registry URI [--schema-registry-secret ARN]] [--json]

Prints the least-privilege IAM policy for the workload (MSK's action
dependencies included: WriteData needs Connect and DescribeTopic, ReadData
needs AlterGroup on the group, ...). With --json, an object: "policy" the
policy document, "covers" each kafka-cluster action on each resource it
grants and why the workload needs it.
` + policyESMDoc

const policyCheckUsage = `--policy FILE ... --cluster-arn ARN [--produce T ...] [--consume T ... --group G] [--idempotent] [--describe-topic-config] [--transactional-id X] [--json]
--policy FILE ... --esm --cluster-arn ARN --topic T --group G [--on-failure-topic T2] [--function-name F] [--json]

Evaluates policy documents (an identity's attached policies) against the
workload and lists each action on each resource that is missing or
denied; exit 1 when one is.
` + policyESMDoc

const policyESMDoc = `
--esm is the execution role of a Lambda event source mapping (MSK trigger):
the consumer's kafka-cluster actions (Connect and
DescribeClusterDynamicConfiguration on the cluster, DescribeTopic and ReadData
on --topic, DescribeGroup and AlterGroup on --group, the mapping's UUID or its
ConsumerGroupId; DescribeTopic and WriteData on --on-failure-topic), plus
kafka:DescribeClusterV2 and kafka:GetBootstrapBrokers on the cluster, the ec2
network-interface actions and CloudWatch Logs (/aws/lambda/F), as AWS's
AWSLambdaMSKExecutionRole managed policy lists them. check evaluates all of it
and groups what is missing: Kafka data plane, MSK control plane, VPC
networking, logs (kafka:DescribeCluster instead of DescribeClusterV2 is a
warning: enough for a provisioned cluster, not a serverless one).
docs/DEPLOYMENT.md says why each statement is there.`

// listFlag is a repeatable flag; each value may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type workloadFlags struct {
	clusterARN                           string
	produce, consume, groups, txns, pols listFlag
	idempotent, topicConfig              bool

	// --esm: a Lambda event source mapping's execution role.
	esm                      bool
	topics                   listFlag
	onFailureTopic, function string
	// --schema-registry URI, --schema-registry-secret ARN (with --esm).
	registry, registrySecret string
}

func (w *workloadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&w.clusterARN, "cluster-arn", "", "the MSK cluster ARN (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)")
	fs.Var(&w.produce, "produce", "topic the client writes to (repeatable, or comma-separated)")
	fs.Var(&w.consume, "consume", "topic the client reads from (repeatable)")
	fs.Var(&w.groups, "group", "consumer group the client joins (repeatable)")
	fs.Var(&w.txns, "transactional-id", "transactional id the producer uses (repeatable)")
	fs.BoolVar(&w.idempotent, "idempotent", false, "the producer is idempotent (franz-go's and Java 3.0+'s default)")
	fs.BoolVar(&w.topicConfig, "describe-topic-config", false, "the client reads its topics' configuration (DescribeConfigs, as the msklink Lambda function does for max.message.bytes)")
	fs.BoolVar(&w.esm, "esm", false, "the execution role of a Lambda event source mapping (MSK trigger): needs --topic and --group")
	fs.Var(&w.topics, "topic", "with --esm: the topic the mapping consumes")
	fs.StringVar(&w.onFailureTopic, "on-failure-topic", "", "with --esm: the Kafka on-failure destination topic (kafka://TOPIC)")
	fs.StringVar(&w.function, "function-name", "", "with --esm: the function's name, to narrow the logs statement to /aws/lambda/NAME")
	fs.StringVar(&w.registry, "schema-registry", "", "with --esm: the mapping's SchemaRegistryURI, a Glue registry ARN (adds glue:GetRegistry, glue:GetSchemaVersion) or a Confluent URL")
	fs.StringVar(&w.registrySecret, "schema-registry-secret", "", "with --esm --schema-registry URL: the Secrets Manager secret ARN of its access config (adds secretsmanager:GetSecretValue)")
}

// parseESM reads the --esm flags.
func (w *workloadFlags) parseESM(cmd string) (iampolicy.ClusterARN, iampolicy.ESMWorkload, error) {
	var esm iampolicy.ESMWorkload
	if w.clusterARN == "" {
		return iampolicy.ClusterARN{}, esm, usagef("%s: --cluster-arn is required", cmd)
	}
	arn, err := iampolicy.ParseClusterARN(w.clusterARN)
	if err != nil {
		return arn, esm, usagef("%s: %v", cmd, err)
	}
	if len(w.produce)+len(w.consume)+len(w.txns) > 0 || w.idempotent || w.topicConfig {
		return arn, esm, usagef("%s: --esm describes the mapping with --topic, --group and --on-failure-topic; drop --produce, --consume, --idempotent, --describe-topic-config and --transactional-id", cmd)
	}
	if len(w.groups) > 1 {
		return arn, esm, usagef("%s: --esm takes one --group (the mapping's UUID or its ConsumerGroupId)", cmd)
	}
	if err := checkPolicyTopics(cmd, "topic", w.topics); err != nil {
		return arn, esm, err
	}
	if w.onFailureTopic != "" {
		if err := checkPolicyTopics(cmd, "on-failure-topic", []string{w.onFailureTopic}); err != nil {
			return arn, esm, err
		}
	}
	esm = iampolicy.ESMWorkload{Topics: w.topics, OnFailureTopic: w.onFailureTopic, FunctionName: w.function}
	if len(w.groups) == 1 {
		esm.Group = w.groups[0]
	}
	if w.registry != "" || w.registrySecret != "" {
		esm.SchemaRegistry = &iampolicy.SchemaRegistryAccess{URI: w.registry, SecretARN: w.registrySecret}
	}
	if err := esm.Validate(); err != nil {
		return arn, esm, usagef("%s --esm: %v", cmd, strings.TrimPrefix(err.Error(), iampolicy.ErrInvalidESMWorkload.Error()+": "))
	}
	return arn, esm, nil
}

func (w *workloadFlags) parse(cmd string) (iampolicy.ClusterARN, iampolicy.Workload, error) {
	var wl iampolicy.Workload
	if w.clusterARN == "" {
		return iampolicy.ClusterARN{}, wl, usagef("%s: --cluster-arn is required", cmd)
	}
	arn, err := iampolicy.ParseClusterARN(w.clusterARN)
	if err != nil {
		return arn, wl, usagef("%s: %v", cmd, err)
	}
	if len(w.produce)+len(w.consume)+len(w.groups)+len(w.txns) == 0 && !w.idempotent {
		return arn, wl, usagef("%s: describe the workload: --produce T, --consume T --group G, --idempotent, --transactional-id X", cmd)
	}
	if len(w.topics) > 0 || w.onFailureTopic != "" || w.function != "" || w.registry != "" || w.registrySecret != "" {
		return arn, wl, usagef("%s: --topic, --on-failure-topic, --function-name and --schema-registry go with --esm (for another consumer use --consume T --group G)", cmd)
	}
	if len(w.consume) > 0 && len(w.groups) == 0 {
		return arn, wl, usagef("%s: --consume needs --group (consumers read as a group; MSK checks AlterGroup)", cmd)
	}
	if err := checkPolicyTopics(cmd, "produce", w.produce); err != nil {
		return arn, wl, err
	}
	if err := checkPolicyTopics(cmd, "consume", w.consume); err != nil {
		return arn, wl, err
	}
	wl = iampolicy.Workload{Produce: w.produce, Consume: w.consume, Groups: w.groups, Idempotent: w.idempotent, TransactionalIDs: w.txns, DescribeTopicConfig: w.topicConfig}
	return arn, wl, nil
}

// checkPolicyTopics applies Kafka's topic name rules to the topics of a
// policy's workload, IAM's wildcards '*' and '?' allowed (a prefix
// pattern such as orders-*): a policy for a name Kafka refuses grants
// nothing any client can use.
func checkPolicyTopics(cmd, flag string, topics []string) error {
	for _, t := range topics {
		bare := strings.NewReplacer("*", "", "?", "").Replace(t)
		if bare == "" && t != "" {
			continue // "*": every topic
		}
		if err := kafkaconn.CheckTopicName(bare); err != nil {
			return usagef("%s: --%s %q: %v", cmd, flag, t, err)
		}
	}
	return nil
}

func runPolicyGenerate(ctx context.Context, e *env, args []string) error {
	return runPolicy(ctx, e, "generate", policyGenerateUsage, args)
}

func runPolicyCheck(ctx context.Context, e *env, args []string) error {
	return runPolicy(ctx, e, "check", policyCheckUsage, args)
}

// runPolicy runs policy generate or check (sub).
func runPolicy(ctx context.Context, e *env, sub, usage string, rest []string) error {
	fs := newFlagSet(e, "policy "+sub, usage)
	var w workloadFlags
	w.register(fs)
	asJSON := false
	fs.BoolVar(&asJSON, "json", false, map[string]string{
		"generate": "print the policy and the permissions it grants as JSON",
		"check":    "print the findings as JSON",
	}[sub])
	if sub == "check" {
		fs.Var(&w.pols, "policy", "IAM policy document (JSON file) attached to the identity (repeatable)")
	}
	pos, err := parseFlags(fs, rest)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("policy %s: unexpected argument %q", sub, pos[0])
	}
	var (
		arn iampolicy.ClusterARN
		wl  iampolicy.Workload
		esm iampolicy.ESMWorkload
		gen *iampolicy.Policy
	)
	if w.esm {
		arn, esm, err = w.parseESM("policy " + sub)
		if err != nil {
			return err
		}
		gen = iampolicy.GenerateESM(arn, esm)
	} else {
		arn, wl, err = w.parse("policy " + sub)
		if err != nil {
			return err
		}
		gen = iampolicy.Generate(arn, wl)
	}
	if sub == "generate" {
		if asJSON {
			return writePolicyJSON(e, gen, iampolicy.Requirements(arn, wl))
		}
		b, err := json.MarshalIndent(gen, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
		return nil
	}

	if len(w.pols) == 0 {
		return usagef("policy check: --policy FILE is required")
	}
	var pols []*iampolicy.Policy
	var unknown []string
	for _, f := range w.pols {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("policy check: %w", err)
		}
		p, err := iampolicy.Parse(b)
		if err != nil {
			return fmt.Errorf("policy check: %s: %w", f, err)
		}
		for _, a := range p.UnknownActions() {
			unknown = append(unknown, fmt.Sprintf("%s: %q matches no kafka-cluster action", f, a))
		}
		pols = append(pols, p)
	}
	// One list for both modes: a plain workload's findings are all of
	// the Kafka data plane.
	var findings []iampolicy.ESMFinding
	if w.esm {
		for _, f := range iampolicy.CheckESM(pols, arn, esm) {
			if f.Missing() {
				findings = append(findings, f)
				continue
			}
			unknown = append(unknown, fmt.Sprintf("%s on %s is not allowed, only %s: enough for a provisioned cluster, not a serverless one (and AWS plans to drop %s from AWSLambdaMSKExecutionRole): allow %s", f.Action, f.Resource, f.AllowedBy, f.AllowedBy, f.Action))
		}
	} else {
		for _, f := range iampolicy.Check(pols, arn, wl) {
			findings = append(findings, iampolicy.ESMFinding{Finding: f, Part: iampolicy.ESMKafkaDataPlane})
		}
	}
	if asJSON {
		type missing struct {
			Action       string `json:"action"`
			Resource     string `json:"resource"`
			Why          string `json:"why"`
			Part         string `json:"part"`
			Decision     string `json:"decision"`
			ExplicitDeny bool   `json:"explicit_deny"`
		}
		out := struct {
			OK       bool      `json:"ok"`
			Missing  []missing `json:"missing"`
			Warnings []string  `json:"warnings"`
		}{OK: len(findings) == 0, Missing: []missing{}, Warnings: unknown}
		if out.Warnings == nil {
			out.Warnings = []string{}
		}
		for _, f := range findings {
			out.Missing = append(out.Missing, missing{string(f.Action), f.Resource, f.Why, string(f.Part), f.Decision.String(), f.ExplicitlyDenied()})
		}
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		var b strings.Builder
		for _, u := range unknown {
			fmt.Fprintf(&b, "warning: %s\n", u)
		}
		var parts []string
		for _, f := range findings {
			indent := ""
			if w.esm {
				// Grouped by part (CheckESM's order): a heading per part.
				if p := string(f.Part); len(parts) == 0 || parts[len(parts)-1] != p {
					parts = append(parts, p)
					fmt.Fprintf(&b, "%s:\n", p)
				}
				indent = "  "
			}
			verb := "missing"
			if f.ExplicitlyDenied() {
				verb = "denied "
			}
			fmt.Fprintf(&b, "%s%s  %s on %s (%s): %s\n", indent, verb, f.Action, f.Resource, f.Why, f.Decision.String())
		}
		switch {
		case len(findings) == 0:
			b.WriteString("OK: the policies allow every action the workload needs\n")
		case w.esm:
			fmt.Fprintf(&b, "\n%d permission(s) missing: %s. msklink policy generate --esm with the same flags prints a policy that grants them (or attach AWSLambdaMSKExecutionRole for all but the Kafka data plane)\n", len(findings), strings.Join(parts, ", "))
		default:
			fmt.Fprintf(&b, "\n%d permission(s) missing: msklink policy generate with the same workload flags prints a policy that grants them\n", len(findings))
		}
		fmt.Fprint(e.stdout, b.String())
	}
	if len(findings) > 0 {
		return errProblem
	}
	return nil
}

// writePolicyJSON prints policy generate --json: the policy document and
// the kafka-cluster permissions it grants, each with why the workload
// needs it.
func writePolicyJSON(e *env, p *iampolicy.Policy, reqs []iampolicy.Requirement) error {
	type grant struct {
		Action   string `json:"action"`
		Resource string `json:"resource"`
		Why      string `json:"why"`
	}
	out := struct {
		Policy *iampolicy.Policy `json:"policy"`
		Covers []grant           `json:"covers"`
	}{Policy: p, Covers: []grant{}}
	for _, r := range reqs {
		out.Covers = append(out.Covers, grant{string(r.Action), r.Resource, r.Why})
	}
	return writeJSON(e.stdout, out)
}
