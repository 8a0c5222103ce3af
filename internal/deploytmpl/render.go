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
	"text/template"

	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
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

// FunctionID is the logical ID of the publisher function in the template,
// and so the name of its Makefile target (build-PublisherFunction).
const FunctionID = "PublisherFunction"

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
	// deploy/publisher-cfn.yaml.
	Path string
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
		c.Path = "deploy/publisher.yaml"
		if c.Format == FormatCloudFormation {
			c.Path = "deploy/publisher-cfn.yaml"
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

	if len(c.Bootstrap) == 0 {
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
	return c, nil
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
	SAM, SCRAM, Publisher bool
	Title, Description    string
	FunctionDescription   string // with ${Topics}
	Command               string
	FunctionID, Role      string
	ZipTarget             string
	Port                  int
	BootstrapField        string
	Bootstrap             string
	BootstrapPattern      string
	TopicList             string
	TopicsDescription     string
	PolicyJSON            string
	PolicyCommand         string
	Env                   []envVar
}

//go:embed template.yaml.tmpl
var templateText string

var tmpl = template.Must(template.New("template.yaml").Delims("[[", "]]").Funcs(template.FuncMap{"q": quote}).Parse(templateText))

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
		Publisher:      true,
		FunctionID:     FunctionID,
		Role:           "publisher",
		ZipTarget:      "publisher.zip",
		Port:           c.port,
		BootstrapField: authPort[c.Auth].field,
		Bootstrap:      strings.Join(trimAll(c.Bootstrap), ","),
		TopicList:      strings.Join(c.topics, ","),
		Command:        c.command(),
	}
	m.BootstrapPattern = fmt.Sprintf(`^[^,:\s]+:%d(,[^,:\s]+:%d)*$`, c.port, c.port)
	m.Title = fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s (%s auth, port %d)", c.cluster.Name, c.Auth, c.port)
	m.Description = fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s, topics %s (%s, port %d)", c.cluster.Name, m.TopicList, c.Auth, c.port)
	m.FunctionDescription = fmt.Sprintf("msklink publisher: Lambda events to MSK cluster %s, topics ${Topics} (%s, port %d)", c.cluster.Name, c.Auth, c.port)
	m.TopicsDescription = fmt.Sprintf("The topics the function may write to, comma-separated; the first (%s) is its default topic (MSK_TOPIC). The IAM policy was generated for them.", c.topics[0])
	if c.Auth == kafkaconn.AuthIAM {
		pol, cmd := c.policy()
		b, err := json.MarshalIndent(pol, "            ", "  ")
		if err != nil {
			return nil, fmt.Errorf("deploytmpl: the generated policy does not encode: %w", err)
		}
		m.PolicyJSON, m.PolicyCommand = string(b), cmd
	}
	m.Env = c.env()
	var out bytes.Buffer
	if err := tmpl.Execute(&out, m); err != nil {
		return nil, fmt.Errorf("deploytmpl: %w", err)
	}
	return out.Bytes(), nil
}

// policy returns the function's kafka-cluster policy (IAM auth) and the
// `msklink policy generate` command that prints the same.
func (c checked) policy() (*iampolicy.Policy, string) {
	w := publisherWorkload(c.topics, !c.DisableIdempotence)
	cmd := fmt.Sprintf("msklink policy generate --cluster-arn %s --produce %s", c.ClusterARN, strings.Join(c.topics, ","))
	if w.Idempotent {
		cmd += " --idempotent"
	}
	return iampolicy.Generate(c.cluster, w), cmd + " --describe-topic-config"
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
	cmd := fmt.Sprintf("msklink deploy template --cluster-arn %s --bootstrap %s", c.ClusterARN, strings.Join(trimAll(c.Bootstrap), ","))
	for _, t := range c.topics {
		cmd += " --topic " + t
	}
	cmd += " --auth " + string(c.Auth)
	if c.DisableIdempotence {
		cmd += " --idempotent=false"
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
	if c.Auth == kafkaconn.AuthSCRAM {
		// Resolved by CloudFormation from the AmazonMSK_ secret at deploy
		// time (a dynamic reference).
		scramUser = `!Sub "{{resolve:secretsmanager:${ScramCredentialsArn}:SecretString:username}}"`
		scramPass = `!Sub "{{resolve:secretsmanager:${ScramCredentialsArn}:SecretString:password}}"`
	}
	dur := func(d interface{ String() string }) string { return quote(d.String()) }
	return []envVar{
		{"MSK_BOOTSTRAP_SERVERS", "!Ref BootstrapServers", ""},
		{"MSK_AUTH", "!Ref AuthMode", ""},
		{"MSK_REGION", quote(c.cluster.Region), "the cluster's region: IAM tokens are signed for it"},
		{"MSK_TOPIC", quote(c.topics[0]), "the default topic (SQS messages without a topic attribute, EventBridge)"},
		{"MSK_IAM_MECHANISM", mech, "OAUTHBEARER or AWS_MSK_IAM (iam)"},
		{"MSK_SCRAM_USERNAME", scramUser, "scram"},
		{"MSK_SCRAM_PASSWORD", scramPass, "scram"},
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
