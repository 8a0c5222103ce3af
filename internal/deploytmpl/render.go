package deploytmpl

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"text/template"

	"github.com/msklink/msklink/esm/eventfilter"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

// Format is the template's dialect.
type Format string

// The formats.
const (
	// FormatSAM is an AWS SAM template (Transform
	// AWS::Serverless-2016-10-31): `sam build` compiles the bootstrap with
	// deploy/Makefile and `sam deploy` uploads it. It must live in deploy/
	// (its Makefile and the Go module are found relative to it).
	FormatSAM Format = "sam"
	// FormatCloudFormation is the same stack in plain CloudFormation, what
	// the SAM template transforms to: the function's zip comes from S3
	// (CodeS3Bucket, CodeS3Key), for `aws cloudformation deploy`.
	FormatCloudFormation Format = "cloudformation"
)

// The logical IDs of the functions in the templates, and so the names of
// their Makefile targets (build-PublisherFunction, build-ConsumerFunction).
const (
	FunctionID         = "PublisherFunction" // cmd/msklink-lambda
	ConsumerFunctionID = "ConsumerFunction"  // examples/kafka-consumer
)

// Params are what the template is generated for. Field comments name the
// `msklink deploy template` flag of each.
type Params struct {
	// ClusterARN is the MSK cluster's ARN (--cluster-arn). Required.
	ClusterARN string
	// Bootstrap are the cluster's private bootstrap brokers for Auth,
	// host:port (--bootstrap). Required.
	Bootstrap []string
	// Topics are the topics the function writes to (--topic), the first
	// being its default topic (MSK_TOPIC). At least one.
	Topics []string
	// Auth is how the function authenticates (--auth): kafkaconn.AuthIAM
	// (default), AuthSCRAM or AuthTLS.
	Auth kafkaconn.Auth
	// DisableIdempotence turns the idempotent producer off
	// (--idempotent=false): MSK_IDEMPOTENT=false, and the policy lacks
	// kafka-cluster:WriteDataIdempotently.
	DisableIdempotence bool
	// Format is the dialect (--format). Default FormatSAM.
	Format Format
	// Path is where the template is written, for the commands in its
	// comments. Default deploy/publisher.yaml (SAM) or
	// deploy/publisher-cfn.yaml; deploy/consumer.yaml or
	// deploy/consumer-cfn.yaml with ESM.
	Path string

	// ESM, when set (--esm), makes the template deploy the consumer
	// function (examples/kafka-consumer, on package lambdafn/kafkaesm)
	// triggered by an MSK event source mapping on Topics[0], instead of
	// the publisher. IAM auth only; Bootstrap is then optional (the
	// mapping finds the brokers from the cluster ARN).
	ESM *ESM
}

// ESM is the event source mapping of the consumer template.
type ESM struct {
	// Group is the consumer group the mapping joins (--group; its
	// ConsumerGroupId). Required: the IAM policy names it.
	Group string
	// OnFailureTopic, if set (--on-failure-topic), is the Kafka
	// on-failure destination (kafka://TOPIC, the same cluster), with a
	// retry limit (MaximumRetryAttempts). The mapping is in provisioned
	// mode (ProvisionedPollerConfig) either way: Lambda honours a Kafka
	// mapping's partial batch responses, retry limits and on-failure
	// destinations in that mode only.
	OnFailureTopic string
	// FunctionName, if set (--function-name), is the function's name.
	// Default none: CloudFormation names the function after the stack, so
	// that the template deploys more than once in an account.
	FunctionName string
	// StartingPosition is the default of the StartingPosition parameter
	// (--starting-position): TRIM_HORIZON (default) or LATEST.
	StartingPosition string
	// BatchSize is the default of the BatchSize parameter (--batch-size).
	// Default 100.
	BatchSize int
	// Filters, if any (--filter, --filter-criteria), are the mapping's
	// FilterCriteria, validated by package eventfilter as Lambda would
	// (the value only, Lambda's operators and limits). They need no
	// permission of the execution role.
	Filters *eventfilter.Criteria
	// SchemaRegistry, if set (--schema-registry), is the mapping's
	// SchemaRegistryConfig (see SchemaRegistry); its permissions join the
	// role's policy.
	SchemaRegistry *SchemaRegistry
}

// SchemaRegistry is an event source mapping's SchemaRegistryConfig
// (https://docs.aws.amazon.com/lambda/latest/dg/services-consume-kafka-events.html).
type SchemaRegistry struct {
	// URI is a Glue registry's ARN or a Confluent registry's URL.
	URI string
	// AuthSecretARN is a Confluent registry's BASIC_AUTH secret, if any.
	AuthSecretARN string
	// EventRecordFormat is JSON (default) or SOURCE.
	EventRecordFormat string
	// Validate lists KEY and/or VALUE (SchemaValidationConfigs). Default
	// VALUE.
	Validate []string
}

// ParamError is a parameter that cannot make a working template: the flag
// it came from, its value and what to do.
type ParamError struct {
	Flag  string // the msklink deploy template flag, e.g. "topic"
	Value string
	Fix   string
}

func (e *ParamError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("--%s: %s", e.Flag, e.Fix)
	}
	return fmt.Sprintf("--%s %q: %s", e.Flag, e.Value, e.Fix)
}

// authPort is the port each supported auth mode is served on inside the
// VPC (MSK's private listeners), and the bootstrap string naming it.
var authPort = map[kafkaconn.Auth]struct {
	port  int
	field string
}{
	kafkaconn.AuthIAM:   {9098, "BootstrapBrokerStringSaslIam"},
	kafkaconn.AuthSCRAM: {9096, "BootstrapBrokerStringSaslScram"},
	kafkaconn.AuthTLS:   {9094, "BootstrapBrokerStringTls"},
}

// Port returns the MSK port the template opens for auth (9098 IAM, 9096
// SCRAM, 9094 TLS), and false for modes the template does not deploy.
func Port(auth kafkaconn.Auth) (int, bool) {
	p, ok := authPort[auth]
	return p.port, ok
}

// checked is Params after validation, with what follows from them.
type checked struct {
	Params
	cluster iampolicy.ClusterARN
	port    int
	topics  []string // deduplicated, in the given order
}

// check validates p: the first problem is returned as a *ParamError.
func (p Params) check() (checked, error) {
	c := checked{Params: p}
	if c.Auth == "" {
		c.Auth = kafkaconn.AuthIAM
	}
	if c.Format == "" {
		c.Format = FormatSAM
	}
	switch c.Format {
	case FormatSAM, FormatCloudFormation:
	default:
		return c, &ParamError{"format", string(c.Format), "use sam (sam build and sam deploy) or cloudformation (aws cloudformation deploy)"}
	}
	if c.Path == "" {
		c.Path = "deploy/" + c.role() + ".yaml"
		if c.Format == FormatCloudFormation {
			c.Path = "deploy/" + c.role() + "-cfn.yaml"
		}
	}

	if c.ClusterARN == "" {
		return c, &ParamError{"cluster-arn", "", "required: the MSK cluster's ARN, arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID (aws kafka list-clusters-v2)"}
	}
	arn, err := iampolicy.ParseClusterARN(c.ClusterARN)
	if err != nil {
		var ae *iampolicy.ARNError
		fix := err.Error()
		if errors.As(err, &ae) {
			fix = fmt.Sprintf("not an MSK cluster ARN: its %s %s; copy the ARN from aws kafka list-clusters-v2 (arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID)", ae.Field, ae.Reason)
		}
		return c, &ParamError{"cluster-arn", c.ClusterARN, fix}
	}
	c.cluster = arn

	switch c.Auth {
	case kafkaconn.AuthIAM, kafkaconn.AuthSCRAM, kafkaconn.AuthTLS:
	case kafkaconn.AuthPlaintext:
		return c, &ParamError{"auth", string(c.Auth), "MSK's plaintext listener (9092) has neither TLS nor authentication and the template does not open it: use iam (9098), or scram (9096) or tls (9094) if the cluster has them on"}
	case kafkaconn.AuthMTLS:
		return c, &ParamError{"auth", string(c.Auth), "mutual TLS (9094) needs a client certificate and key inside the function, which the template does not ship: use iam (9098), or scram (9096)"}
	default:
		return c, &ParamError{"auth", string(c.Auth), "unknown auth mode: use iam (port 9098), scram (9096) or tls (9094)"}
	}
	ap := authPort[c.Auth]
	c.port = ap.port

	if c.ESM != nil && c.Auth != kafkaconn.AuthIAM {
		return c, &ParamError{"auth", string(c.Auth), "--esm deploys an IAM-authenticated event source mapping (its role holds the kafka-cluster actions): use --auth iam; a SCRAM mapping needs the secret in SourceAccessConfigurations instead"}
	}
	if len(c.Bootstrap) == 0 && c.ESM == nil {
		return c, &ParamError{"bootstrap", "", fmt.Sprintf("required: the cluster's %s, host:%d,... (aws kafka get-bootstrap-brokers --cluster-arn %s)", ap.field, ap.port, c.ClusterARN)}
	}
	for _, b := range c.Bootstrap {
		if err := c.checkBroker(b, ap.field); err != nil {
			return c, err
		}
	}

	if len(c.Topics) == 0 {
		return c, &ParamError{"topic", "", "required: at least one topic the function writes to (the first is its default topic, MSK_TOPIC)"}
	}
	seen := map[string]bool{}
	for _, t := range c.Topics {
		if err := kafkaconn.CheckTopicName(t); err != nil {
			return c, &ParamError{"topic", t, fmt.Sprintf("Kafka would refuse it (%v): give the topic's exact name", err)}
		}
		if !seen[t] {
			seen[t] = true
			c.topics = append(c.topics, t)
		}
	}
	if c.ESM != nil {
		return c, c.checkESM()
	}
	return c, nil
}

// checkESM validates the event source mapping of the consumer template and
// fills its defaults (c.ESM is then c's own copy).
func (c *checked) checkESM() error {
	e := *c.ESM
	c.ESM = &e
	if len(c.topics) != 1 {
		return &ParamError{"topic", strings.Join(c.topics, ","), "an MSK event source mapping consumes one topic: give one --topic (deploy another stack for another topic)"}
	}
	if e.Group == "" {
		return &ParamError{"group", "", "required with --esm: the consumer group the mapping joins (its ConsumerGroupId), which the IAM policy names"}
	}
	// Lambda's own rules for the names, stricter than Kafka's: the
	// mapping's Topics match ^[^.][a-zA-Z0-9._-]+, and the destination
	// kafka://TOPIC is at least 12 characters with the same first-letter
	// rule (the CloudFormation schema of AWS::Lambda::EventSourceMapping;
	// API_OnFailure.html).
	if t := c.topics[0]; len(t) < 2 || t[0] == '.' {
		return &ParamError{"topic", t, "an MSK event source mapping refuses it: its topics have at least 2 characters, the first not '.'"}
	}
	if !validName(e.Group, 200, "-/*:_+=.@") || strings.Contains(e.Group, "*") {
		return &ParamError{"group", e.Group, "not a consumer group id the mapping takes: up to 200 letters, digits and -/:_+=.@"}
	}
	if e.OnFailureTopic != "" {
		if err := kafkaconn.CheckTopicName(e.OnFailureTopic); err != nil {
			return &ParamError{"on-failure-topic", e.OnFailureTopic, fmt.Sprintf("Kafka would refuse it (%v): give the destination topic's exact name", err)}
		}
		if len(e.OnFailureTopic) < 4 || e.OnFailureTopic[0] == '.' {
			return &ParamError{"on-failure-topic", e.OnFailureTopic, "Lambda refuses it as a destination: kafka://TOPIC takes a topic of at least 4 characters, the first not '.'; use such a topic on the cluster"}
		}
		if e.OnFailureTopic == c.topics[0] {
			return &ParamError{"on-failure-topic", e.OnFailureTopic, "it is the topic the mapping consumes, which Lambda rejects (failed records would loop): use another topic on the cluster"}
		}
	}
	if e.FunctionName != "" && !validName(e.FunctionName, 64, "-_") {
		return &ParamError{"function-name", e.FunctionName, "not a Lambda function name: up to 64 letters, digits, - and _"}
	}
	switch e.StartingPosition {
	case "":
		e.StartingPosition = "TRIM_HORIZON"
	case "TRIM_HORIZON", "LATEST":
	default:
		return &ParamError{"starting-position", e.StartingPosition, "use TRIM_HORIZON (the topic's oldest records) or LATEST (only new ones)"}
	}
	switch {
	case e.BatchSize == 0:
		e.BatchSize = 100
	case e.BatchSize < 1 || e.BatchSize > 10000:
		return &ParamError{"batch-size", strconv.Itoa(e.BatchSize), "an MSK mapping takes 1 to 10000 records per batch"}
	}
	if r := e.SchemaRegistry; r != nil {
		rc := *r
		e.SchemaRegistry = &rc
		if err := rc.check(); err != nil {
			return err
		}
	}
	w := c.esmWorkload()
	if err := w.Validate(); err != nil {
		return &ParamError{"esm", "", err.Error()}
	}
	return nil
}

// validName reports whether s is 1 to max ASCII letters, digits and the
// bytes of extra.
func validName(s string, max int, extra string) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(extra, r)) {
			return false
		}
	}
	return true
}

// role is "publisher" or "consumer" (--esm).
func (c checked) role() string {
	if c.ESM != nil {
		return "consumer"
	}
	return "publisher"
}

// esmWorkload is the consumer template's event source mapping, for
// iampolicy.GenerateESM.
func (c checked) esmWorkload() iampolicy.ESMWorkload {
	w := iampolicy.ESMWorkload{Topics: c.topics, Group: c.ESM.Group, OnFailureTopic: c.ESM.OnFailureTopic, FunctionName: c.ESM.FunctionName}
	if r := c.ESM.SchemaRegistry; r != nil {
		w.SchemaRegistry = &iampolicy.SchemaRegistryAccess{URI: r.URI, SecretARN: r.AuthSecretARN}
	}
	return w
}

// checkBroker checks one bootstrap broker against the auth mode: the
// private listener's port exactly, since the security-group rules open
// that port only; then kafkaconn's rules (host:port form, MSK Serverless,
// the cluster's region).
func (c checked) checkBroker(b, field string) error {
	if _, portStr, err := net.SplitHostPort(strings.TrimSpace(b)); err == nil && !strings.Contains(b, "://") {
		port, _ := strconv.Atoi(portStr)
		modes, msk := kafkaconn.PortAuth(port)
		switch {
		case port == c.port:
		case port == c.port+100:
			return &ParamError{"bootstrap", b, fmt.Sprintf("port %d is MSK's public-access listener, which a function in the VPC does not use: give the private bootstrap string (%s, port %d)", port, field, c.port)}
		case port >= 14001 && port <= 14100:
			return &ParamError{"bootstrap", b, fmt.Sprintf("port %d is multi-VPC private connectivity, which this template does not set up: give the cluster's own bootstrap string (%s, port %d)", port, field, c.port)}
		case msk:
			return &ParamError{"bootstrap", b, fmt.Sprintf("port %d is MSK's %s port, but --auth is %s: give the cluster's %s (port %d), or --auth %s", port, modes[0], c.Auth, field, c.port, modes[0])}
		default:
			return &ParamError{"bootstrap", b, fmt.Sprintf("port %d is not MSK's %s port: the security-group rules open %d only; give the cluster's %s", port, c.Auth, c.port, field)}
		}
	}
	cfg := kafkaconn.Config{Brokers: []string{b}, Auth: c.Auth, Region: c.cluster.Region,
		// Credentials only kafkaconn needs to see: they are the function's
		// business (the SCRAM secret), not the template's.
		SCRAMUsername: "-", SCRAMPassword: "-"}
	if _, err := cfg.Validate(); err != nil {
		for _, e := range unjoin(err) {
			var ce *kafkaconn.ConfigError
			if errors.As(e, &ce) && (ce.Field == "brokers" || ce.Field == "auth" || ce.Field == "region") {
				fix := ce.Fix
				if ce.Field == "region" {
					fix = fmt.Sprintf("the broker is in another region than the cluster ARN (%s): use the bootstrap string of that cluster", c.cluster.Region)
				}
				return &ParamError{"bootstrap", b, fix}
			}
		}
	}
	return nil
}

// envVar is one variable of the function's environment, its value as
// YAML text.
type envVar struct {
	Name, Value, Comment string
}

// model is what the template text is executed with.
type model struct {
	checked
	SAM, SCRAM          bool
	Publisher, Consumer bool
	Title, Description  string
	FunctionDescription string
	Command             string
	FunctionID, Role    string
	ZipTarget           string
	Port                int
	BootstrapField      string
	Bootstrap           string
	BootstrapPattern    string
	TopicList           string
	TopicsDescription   string
	PolicyName          string
	PolicyYAML          string // the PolicyDocument, its resources expressions of the parameters
	PolicyCommand       string
	Env                 []envVar
}

//go:embed template.yaml.tmpl
var templateText string

// tmpl parses the template on first use, not when the msklink command
// starts, whatever its subcommand.
var tmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("template.yaml").Delims("[[", "]]").Funcs(template.FuncMap{"q": quote}).Parse(templateText))
})

// Render validates p and returns the template. Errors are *ParamError.
func Render(p Params) ([]byte, error) {
	c, err := p.check()
	if err != nil {
		return nil, err
	}
	m := model{
		checked:        c,
		SAM:            c.Format == FormatSAM,
		SCRAM:          c.Auth == kafkaconn.AuthSCRAM,
		Publisher:      c.ESM == nil,
		Consumer:       c.ESM != nil,
		FunctionID:     FunctionID,
		Role:           c.role(),
		ZipTarget:      c.role() + ".zip",
		Port:           c.port,
		BootstrapField: authPort[c.Auth].field,
		Bootstrap:      strings.Join(trimAll(c.Bootstrap), ","),
		TopicList:      strings.Join(c.topics, ","),
		Command:        c.command(),
	}
	m.BootstrapPattern = fmt.Sprintf(`^[^,:\s]+:%d(,[^,:\s]+:%d)*$`, c.port, c.port)
	if m.Consumer {
		m.FunctionID = ConsumerFunctionID
		m.Title = fmt.Sprintf("msklink consumer: an MSK event source mapping on topic %s of cluster %s (IAM, port %d) invoking examples/kafka-consumer", c.topics[0], c.cluster.Name, c.port)
		m.Description = fit(maxTemplateDescription, fmt.Sprintf("msklink consumer: records of topic %s on MSK cluster %s, group %s, to Lambda", c.topics[0], c.cluster.Name, c.ESM.Group))
		m.FunctionDescription = fit(maxFunctionDescription,
			fmt.Sprintf("msklink consumer: records of topic %s on MSK cluster %s, group %s", c.topics[0], c.cluster.Name, c.ESM.Group),
			fmt.Sprintf("msklink consumer: records of topic %s on MSK cluster %s", c.topics[0], c.cluster.Name))
		m.TopicsDescription = "The topic the event source mapping consumes; the role's policy follows it."
	} else {
		m.Title = fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s (%s auth, port %d)", c.cluster.Name, c.Auth, c.port)
		// Every topic if they fit, else their number and the default one.
		texts := []string{
			fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s, topics %s (%s, port %d)", c.cluster.Name, m.TopicList, c.Auth, c.port),
			fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s, %d topics, default %s (%s, port %d)", c.cluster.Name, len(c.topics), c.topics[0], c.Auth, c.port),
		}
		m.Description = fit(maxTemplateDescription, texts...)
		m.FunctionDescription = fit(maxFunctionDescription, texts...)
		m.TopicsDescription = fmt.Sprintf("The %d topic(s) the function may write to, comma-separated; the first is its default topic (MSK_TOPIC). The role's policy grants each; for another number of topics, generate the template again.", len(c.topics))
	}
	if c.Auth == kafkaconn.AuthIAM {
		pol, exprs, cmd := c.policy()
		m.PolicyYAML, m.PolicyCommand = exprs.policyYAML(pol, 12), cmd
		m.PolicyName = "kafka-cluster"
		if m.Consumer {
			m.PolicyName = "msk-event-source-mapping"
		}
	}
	m.Env = c.env()
	var out bytes.Buffer
	if err := tmpl().Execute(&out, m); err != nil {
		return nil, fmt.Errorf("deploytmpl: %w", err)
	}
	return out.Bytes(), nil
}

// policy returns the function's policy (IAM auth) for placeholder names,
// how to write its resources as expressions of the parameters, and the
// `msklink policy generate` command that prints it for the parameters'
// defaults: the publisher's kafka-cluster actions, or the consumer's event
// source mapping role (--esm).
func (c checked) policy() (*iampolicy.Policy, policyExprs, string) {
	if c.ESM != nil {
		w := c.esmWorkload()
		cmd := fmt.Sprintf("msklink policy generate --esm --cluster-arn %s --topic %s --group %s", c.ClusterARN, c.topics[0], w.Group)
		if w.OnFailureTopic != "" {
			cmd += " --on-failure-topic " + w.OnFailureTopic
		}
		if r := w.SchemaRegistry; r != nil {
			cmd += " --schema-registry " + r.URI
			if r.SecretARN != "" {
				cmd += " --schema-registry-secret " + r.SecretARN
			}
		}
		// The registry's resources (a Glue registry, a secret) are the
		// user's own ARNs, written as they are.
		ph := iampolicy.ESMWorkload{Topics: []string{phTopic + "0"}, Group: phGroup, SchemaRegistry: w.SchemaRegistry}
		if w.OnFailureTopic != "" {
			ph.OnFailureTopic = phOnFailure
		}
		exprs := policyExprs{topic: func(int) string { return "Topics" }}
		return iampolicy.GenerateESM(placeholderCluster, ph), exprs, cmd
	}
	ph := make([]string, len(c.topics))
	for i := range ph {
		ph[i] = fmt.Sprintf("%s%d", phTopic, i)
	}
	exprs := policyExprs{topic: func(i int) string { return fmt.Sprintf("!Select [%d, !Ref Topics]", i) }}
	return iampolicy.Generate(placeholderCluster, publisherWorkload(ph, !c.DisableIdempotence)), exprs, c.produceCommand() + " --describe-topic-config"
}

// produceCommand is the `msklink policy generate` command for producing
// to c's topics, idempotently unless c.DisableIdempotence.
func (c checked) produceCommand() string {
	cmd := fmt.Sprintf("msklink policy generate --cluster-arn %s --produce %s", c.ClusterARN, strings.Join(c.topics, ","))
	if !c.DisableIdempotence {
		cmd += " --idempotent"
	}
	return cmd
}

// publisherWorkload is what the msklink Lambda function does on the
// cluster: write the topics (idempotently by default) and read their
// configuration (lambdafn checks record sizes against max.message.bytes
// and partitions against the topic before sending).
func publisherWorkload(topics []string, idempotent bool) iampolicy.Workload {
	return iampolicy.Workload{Produce: topics, Idempotent: idempotent, DescribeTopicConfig: true}
}

// command is the msklink command line that renders c, for the header.
func (c checked) command() string {
	cmd := "msklink deploy template --cluster-arn " + c.ClusterARN
	if len(c.Bootstrap) > 0 {
		cmd += " --bootstrap " + strings.Join(trimAll(c.Bootstrap), ",")
	}
	for _, t := range c.topics {
		cmd += " --topic " + t
	}
	cmd += " --auth " + string(c.Auth)
	if c.DisableIdempotence {
		cmd += " --idempotent=false"
	}
	if e := c.ESM; e != nil {
		cmd += " --esm --group " + e.Group
		if e.OnFailureTopic != "" {
			cmd += " --on-failure-topic " + e.OnFailureTopic
		}
		if e.FunctionName != "" {
			cmd += " --function-name " + e.FunctionName
		}
		if e.StartingPosition != "TRIM_HORIZON" {
			cmd += " --starting-position " + e.StartingPosition
		}
		if e.BatchSize != 100 {
			cmd += " --batch-size " + strconv.Itoa(e.BatchSize)
		}
	}
	if c.Format != FormatSAM {
		cmd += " --format " + string(c.Format)
	}
	return cmd + " -o " + c.Path
}

// env returns the function's environment: every variable kafkaconn.FromEnv
// and lambdafn read (a test derives that list from them), set to what the
// template decides or to the default.
func (c checked) env() []envVar {
	idem := "true"
	if c.DisableIdempotence {
		idem = "false"
	}
	mech, scramUser, scramPass := quote(""), quote(""), quote("")
	if c.Auth == kafkaconn.AuthIAM {
		mech = quote(kafkaconn.MechanismOAuthBearer)
	}
	scramSecret := quote("")
	if c.Auth == kafkaconn.AuthSCRAM {
		// The function reads the AmazonMSK_ secret at Init: the
		// credentials never reach its configuration.
		scramSecret = "!Ref ScramCredentialsArn"
	}
	dur := func(d interface{ String() string }) string { return quote(d.String()) }
	if c.ESM != nil {
		// Package kafkaesm's variables: the function does not connect to
		// Kafka, the mapping does.
		return []envVar{
			{kafkaesm.EnvReportBatchItemFailures, quote("true"), "matches the mapping's FunctionResponseTypes: only failed records are retried"},
			{kafkaesm.EnvDeadlineMargin, dur(kafkaesm.DefaultDeadlineMargin), "answer this long before the deadline: unprocessed records fail, not time out"},
			{kafkaesm.EnvPartitionConcurrency, quote(strconv.Itoa(kafkaesm.DefaultPartitionConcurrency)), "partitions processed at once, each in order"},
		}
	}
	return []envVar{
		{"MSK_BOOTSTRAP_SERVERS", "!Ref BootstrapServers", ""},
		{"MSK_AUTH", "!Ref AuthMode", ""},
		{"MSK_REGION", quote(c.cluster.Region), "the cluster's region: IAM tokens are signed for it"},
		{"MSK_TOPIC", "!Select [0, !Ref Topics]", "the default topic (SQS messages without a topic attribute, EventBridge)"},
		{"MSK_IAM_MECHANISM", mech, "OAUTHBEARER or AWS_MSK_IAM (iam)"},
		{"MSK_SCRAM_USERNAME", scramUser, "empty: read from MSK_SCRAM_SECRET_ARN at Init"},
		{"MSK_SCRAM_PASSWORD", scramPass, "empty: never in the environment"},
		{"MSK_SCRAM_SECRET_ARN", scramSecret, "scram: the AmazonMSK_ secret, read at Init"},
		{"MSK_TLS_CA_FILE", quote(""), "empty: the system pool, which trusts MSK's certificates"},
		{"MSK_TLS_CERT_FILE", quote(""), "mtls only"},
		{"MSK_TLS_KEY_FILE", quote(""), "mtls only"},
		{"MSK_ROLE_ARN", quote(""), "a role to assume for tokens: needs STS reachable, which this template does not open"},
		{"MSK_ROLE_EXTERNAL_ID", quote(""), ""},
		{"MSK_CLIENT_ID", quote(""), "empty: msklink-<function name>"},
		{"MSK_ACKS", quote("all"), "the idempotent producer needs all"},
		{"MSK_IDEMPOTENT", quote(idem), "true needs kafka-cluster:WriteDataIdempotently (in the policy above)"},
		{"MSK_COMPRESSION", quote("none"), "none, gzip, snappy, lz4, zstd"},
		{"MSK_LINGER", quote("0s"), "no batching delay: Lambda waits for the acks"},
		{"MSK_DIAL_TIMEOUT", dur(kafkaconn.DefaultDialTimeout), "a security group that drops packets shows as this timeout"},
		{"MSK_REQUEST_TIMEOUT", dur(kafkaconn.DefaultRequestTimeout), ""},
		{"MSK_DELIVERY_TIMEOUT", quote("0s"), "0: the invocation's deadline bounds each record"},
		{"MSK_EVENT_SOURCE", quote(""), "empty: detected from each event"},
		{"MSK_DIRECT_ERRORS", quote("false"), "true: direct invokes with records not acked fail (for asynchronous invokes)"},
	}
}

// The longest descriptions CloudFormation and Lambda take: a template's
// Description (CloudFormation's template anatomy) and a function's
// (API_CreateFunction), in bytes.
const (
	maxTemplateDescription = 1024
	maxFunctionDescription = 256
)

// fit returns the first of texts that is at most max bytes long, or else
// the last one cut to max bytes, ending in "...".
func fit(max int, texts ...string) string {
	for _, s := range texts {
		if len(s) <= max {
			return s
		}
	}
	return strings.ToValidUTF8(texts[len(texts)-1][:max-3], "") + "..."
}

// quote returns s as a YAML double-quoted scalar (JSON's string syntax is
// a subset of it).
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

func trimAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.TrimSpace(s)
	}
	return out
}

// unjoin returns the errors joined in err (errors.Join), or err itself.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
