package deploytmpl

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"text/template"

	"github.com/msklink/msklink/extension"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

// ExtensionFunctionID is the logical ID of the function in the extension
// templates; the layer's is MsklinkExtensionLayer (its Makefile target
// build-MsklinkExtensionLayer).
const ExtensionFunctionID = "ExtensionFunction"

// The runtimes RenderExtension deploys, with the example function of each.
var extensionRuntimes = map[string]struct{ dir, handler string }{
	"python3.13": {"examples/extension-python", "app.handler"},
	"nodejs22.x": {"examples/extension-node", "index.handler"},
}

// ExtensionRuntimes returns the runtimes RenderExtension takes.
func ExtensionRuntimes() []string { return []string{"python3.13", "nodejs22.x"} }

// RenderExtension renders the template that deploys a function on runtime
// (python3.13 or nodejs22.x: the examples/extension-python or
// examples/extension-node function) with the msklink extension as a layer
// (--extension --runtime): the layer, the function in the cluster's VPC
// with its security group (TCP 9098 to the cluster's group only) and the
// matching ingress rule, the execution role with
// AWSLambdaVPCAccessExecutionRole and the kafka-cluster policy for
// producing to the topics, the extension's MSK_* environment and a log
// group. p's Auth must be IAM (or empty): the extension signs IAM; ESM must
// be nil. Path defaults to deploy/extension-RUNTIME.yaml (-cfn with
// FormatCloudFormation). Errors are *ParamError.
func RenderExtension(p Params, runtime string) ([]byte, error) {
	rt, ok := extensionRuntimes[runtime]
	if !ok {
		return nil, &ParamError{"runtime", runtime, "use " + strings.Join(ExtensionRuntimes(), " or ") + " (the function beside the extension; any Lambda runtime works with the layer)"}
	}
	if p.ESM != nil {
		return nil, &ParamError{"esm", "", "--extension deploys a function that publishes through the extension; an event source mapping needs no extension"}
	}
	if p.Auth != "" && p.Auth != kafkaconn.AuthIAM {
		return nil, &ParamError{"auth", string(p.Auth), "the extension authenticates with IAM (port 9098): use --auth iam"}
	}
	if p.Path == "" {
		name := strings.SplitN(runtime, ".", 2)[0]
		name = strings.TrimRight(name, "0123456789")
		p.Path = "deploy/extension-" + name + ".yaml"
		if p.Format == FormatCloudFormation {
			p.Path = "deploy/extension-" + name + "-cfn.yaml"
		}
	}
	c, err := p.check()
	if err != nil {
		return nil, err
	}
	w := iampolicy.Workload{Produce: c.topics, Idempotent: !c.DisableIdempotence}
	pol := iampolicy.Generate(c.cluster, w)
	b, err := json.MarshalIndent(pol, "            ", "  ")
	if err != nil {
		return nil, fmt.Errorf("deploytmpl: the generated policy does not encode: %w", err)
	}
	m := extensionModel{
		SAM: c.Format == FormatSAM, Path: c.Path, Runtime: runtime, Handler: rt.handler, CodeDir: rt.dir,
		FunctionID: ExtensionFunctionID, ClusterARN: c.ClusterARN,
		ClusterARNPattern: "^" + regexp.QuoteMeta(c.ClusterARN) + "$",
		Bootstrap:         strings.Join(trimAll(c.Bootstrap), ","),
		BootstrapPattern:  `^[^,:\s]+:9098(,[^,:\s]+:9098)*$`,
		TopicList:         strings.Join(c.topics, ","),
		PolicyJSON:        string(b), PolicyCommand: c.produceCommand(),
	}
	m.Command = "msklink deploy template --extension --runtime " + runtime + " --cluster-arn " + c.ClusterARN +
		" --bootstrap " + m.Bootstrap
	for _, t := range c.topics {
		m.Command += " --topic " + t
	}
	if c.DisableIdempotence {
		m.Command += " --idempotent=false"
	}
	if c.Format != FormatSAM {
		m.Command += " --format " + string(c.Format)
	}
	m.Command += " -o " + c.Path
	m.Title = fmt.Sprintf("msklink extension: a %s function publishing to MSK cluster %s (IAM, port 9098) through the msklink Lambda extension", runtime, c.cluster.Name)
	texts := []string{
		fmt.Sprintf("msklink extension: %s function to MSK cluster %s, topics %s, through the msklink extension (IAM)", runtime, c.cluster.Name, m.TopicList),
		fmt.Sprintf("msklink extension: %s function to MSK cluster %s, %d topics, through the msklink extension (IAM)", runtime, c.cluster.Name, len(c.topics)),
	}
	m.Description = fit(maxTemplateDescription, texts...)
	m.FunctionDescription = fit(maxFunctionDescription, texts...)
	m.TopicsDescription = fmt.Sprintf("The topics the function may write to, comma-separated; the first (%s) is the example's default topic (MSK_TOPIC). The IAM policy was generated for them.", c.topics[0])
	m.Env = extensionEnv(c)
	var out bytes.Buffer
	if err := extensionTmpl().Execute(&out, m); err != nil {
		return nil, fmt.Errorf("deploytmpl: %w", err)
	}
	return out.Bytes(), nil
}

// extensionModel is what extension.yaml.tmpl is executed with.
type extensionModel struct {
	SAM                                     bool
	Path, Command, Runtime, Handler         string
	CodeDir, FunctionID                     string
	Title, Description, FunctionDescription string
	ClusterARN, ClusterARNPattern           string
	Bootstrap, BootstrapPattern, TopicList  string
	TopicsDescription                       string
	PolicyJSON, PolicyCommand               string
	Env                                     []envVar
}

//go:embed extension.yaml.tmpl
var extensionText string

var extensionTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("extension.yaml").Delims("[[", "]]").Funcs(template.FuncMap{"q": quote}).Parse(extensionText))
})

// extensionEnv is the environment the extension reads (package
// extension's FromEnv: the upstream's MSK_* of kafkaconn.FromEnv that
// apply to it, and its own MSK_PROXY_*), and the example's MSK_TOPIC.
func extensionEnv(c checked) []envVar {
	return []envVar{
		{"MSK_BOOTSTRAP_SERVERS", "!Ref BootstrapServers", "the extension's upstream; the function connects to 127.0.0.1:9092"},
		{"MSK_AUTH", quote("iam"), ""},
		{"MSK_REGION", quote(c.cluster.Region), "the cluster's region: IAM tokens are signed for it"},
		{"MSK_IAM_MECHANISM", quote(kafkaconn.MechanismOAuthBearer), "OAUTHBEARER or AWS_MSK_IAM"},
		{"MSK_TLS_CA_FILE", quote(""), "empty: the system pool, which trusts MSK's certificates"},
		{"MSK_ROLE_ARN", quote(""), "a role to assume for tokens: needs STS reachable, which this template does not open"},
		{"MSK_ROLE_EXTERNAL_ID", quote(""), ""},
		{"MSK_CLIENT_ID", quote(""), "empty: msklink-proxy"},
		{"MSK_DIAL_TIMEOUT", quote(kafkaconn.DefaultDialTimeout.String()), "a security group that drops packets shows as this timeout"},
		{"MSK_REQUEST_TIMEOUT", quote(kafkaconn.DefaultRequestTimeout.String()), ""},
		{"MSK_PROXY_LISTEN", quote(extension.DefaultListen), "the function's bootstrap_servers; brokers on 9093, 9094, ..."},
		{"MSK_PROXY_CHECK_AFTER", quote(extension.DefaultCheckAfter.String()), "an upstream connection silent this long is checked before use (freeze and thaw)"},
		{"MSK_PROXY_CHECK_TIMEOUT", quote(extension.DefaultCheckTimeout.String()), "a check's bound: the longest pause a client sees before a reconnect"},
		{"MSK_PROXY_INIT_TIMEOUT", quote(extension.DefaultInitTimeout.String()), "Init's bound on reaching MSK (Lambda allows 10 s for all of Init)"},
		{"MSK_PROXY_FAILURE_MEMORY", quote(extension.DefaultFailureMemory.String()), "a failed connect answers new client connections at once for this long"},
		{"MSK_PROXY_LOG_LEVEL", "!Ref ExtensionLogLevel", ""},
		{"MSK_TOPIC", quote(c.topics[0]), "the example function's default topic"},
	}
}
