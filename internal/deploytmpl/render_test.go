package deploytmpl

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/msklink/msklink/esm/eventfilter"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/internal/deploycheck"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/lambdafn"
	"github.com/msklink/msklink/lambdafn/kafkaesm"
)

var update = flag.Bool("update", false, "rewrite deploy/*.yaml from Render")

// The example cluster of docs/DEPLOYMENT.md and deploy/*.yaml.
const (
	exampleARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/11111111-2222-3333-4444-555555555555-3"
	exampleB1  = "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com"
	exampleB2  = "b-2.demo.abc123.c3.kafka.us-east-1.amazonaws.com"
)

func exampleParams(auth kafkaconn.Auth, f Format) Params {
	port, _ := Port(auth)
	if auth == "" {
		port = 9098
	}
	return Params{
		ClusterARN: exampleARN,
		Bootstrap:  []string{fmt.Sprintf("%s:%d", exampleB1, port), fmt.Sprintf("%s:%d", exampleB2, port)},
		Topics:     []string{"orders", "payments"},
		Auth:       auth,
		Format:     f,
	}
}

// variants are the templates the tests render: every format and auth
// mode, with and without idempotence.
func variants() map[string]Params {
	out := map[string]Params{}
	for _, f := range []Format{FormatSAM, FormatCloudFormation} {
		for _, a := range []kafkaconn.Auth{kafkaconn.AuthIAM, kafkaconn.AuthSCRAM, kafkaconn.AuthTLS} {
			out[fmt.Sprintf("%s-%s", f, a)] = exampleParams(a, f)
		}
		p := exampleParams(kafkaconn.AuthIAM, f)
		p.DisableIdempotence = true
		out[fmt.Sprintf("%s-iam-not-idempotent", f)] = p
		out[fmt.Sprintf("%s-consumer", f)] = consumerParams(f, "")
		out[fmt.Sprintf("%s-consumer-on-failure-topic", f)] = consumerParams(f, "orders-dlt")
		out[fmt.Sprintf("%s-consumer-filters", f)] = consumerFilterParams(f)
	}
	return out
}

// consumerParams is the consumer template (--esm) for the example cluster.
func consumerParams(f Format, onFailure string) Params {
	p := exampleParams(kafkaconn.AuthIAM, f)
	p.Topics = []string{"orders"}
	p.Bootstrap = nil // the mapping finds the brokers itself
	p.ESM = &ESM{Group: "billing", OnFailureTopic: onFailure}
	return p
}

// filterPatterns are the example filters of consumerFilterParams.
var filterPatterns = []string{
	`{"value": {"type": ["order"], "total": [{"numeric": [">", 100]}]}}`,
	`{"value": [{"anything-but": ["heartbeat"]}]}`,
}

// consumerFilterParams is the consumer template with FilterCriteria.
func consumerFilterParams(f Format) Params {
	p := consumerParams(f, "")
	c, err := eventfilter.Compile(filterPatterns...)
	if err != nil {
		panic(err)
	}
	p.ESM.Filters = c
	return p
}

func render(t *testing.T, p Params) (testutil.Template, []byte) {
	t.Helper()
	b, err := Render(p)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return testutil.ParseTemplate(t, b), b
}

// goldens are the checked-in templates and what renders them.
var goldens = map[string]Params{
	"publisher.yaml":     exampleParams(kafkaconn.AuthIAM, FormatSAM),
	"publisher-cfn.yaml": exampleParams(kafkaconn.AuthIAM, FormatCloudFormation),
	"consumer.yaml":      consumerParams(FormatSAM, "orders-dlt"),
	"consumer-cfn.yaml":  consumerParams(FormatCloudFormation, "orders-dlt"),
}

// TestCheckedInTemplates checks that deploy/*.yaml are Render's output for
// the example cluster, so what a user deploys by hand is what the
// generator writes (go test -run CheckedIn -update rewrites them).
func TestCheckedInTemplates(t *testing.T) {
	for name, p := range goldens {
		p.Path = "deploy/" + name
		want, err := Render(p)
		if err != nil {
			t.Fatal(err)
		}
		checkGolden(t, name, want, "Render", "CheckedIn")
	}
}

// checkGolden compares deploy/name with want, what renderer renders, or
// with -update writes want there; run is the -run pattern of the test
// that rewrites it.
func checkGolden(t *testing.T, name string, want []byte, renderer, run string) {
	t.Helper()
	path := filepath.Join("..", "..", "deploy", name)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s's output: run go test ./internal/deploytmpl -run %s -update", path, renderer, run)
	}
}

// sgRule is a security-group rule in a comparable form.
type sgRule struct {
	Direction string // ingress, egress
	Group     string // the group the rule belongs to (a Ref)
	Peer      string // the other group (a Ref), or a CIDR
	Protocol  string
	From, To  int
}

// sgRules collects every security-group rule of the template: the inline
// rules of AWS::EC2::SecurityGroup resources and the standalone
// SecurityGroupIngress / SecurityGroupEgress resources. A rule with a
// CIDR, a prefix list or an unresolvable group fails the test.
func sgRules(t *testing.T, tpl testutil.Template) []sgRule {
	t.Helper()
	ref := func(v any) string {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("security-group rule peer %v is not a Ref", v)
		}
		r, _ := m["Ref"].(string)
		return r
	}
	rule := func(dir, group string, p map[string]any) sgRule {
		r := sgRule{Direction: dir, Group: group, Protocol: fmt.Sprint(p["IpProtocol"])}
		r.From, _ = p["FromPort"].(int)
		r.To, _ = p["ToPort"].(int)
		for _, k := range []string{"CidrIp", "CidrIpv6", "DestinationPrefixListId", "SourcePrefixListId"} {
			if v, ok := p[k]; ok {
				r.Peer = fmt.Sprintf("%s %v", k, v)
			}
		}
		for _, k := range []string{"DestinationSecurityGroupId", "SourceSecurityGroupId"} {
			if v, ok := p[k]; ok {
				r.Peer = ref(v)
			}
		}
		return r
	}
	var out []sgRule
	for id, r := range tpl.Resources() {
		p, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::EC2::SecurityGroup":
			for dir, key := range map[string]string{"egress": "SecurityGroupEgress", "ingress": "SecurityGroupIngress"} {
				list, present := p[key].([]any)
				if dir == "egress" && !present {
					t.Errorf("%s has no SecurityGroupEgress: CloudFormation then keeps the default allow-all egress rule", id)
				}
				for _, x := range list {
					out = append(out, rule(dir, id, x.(map[string]any)))
				}
			}
		case "AWS::EC2::SecurityGroupIngress":
			out = append(out, rule("ingress", ref(p["GroupId"]), p))
		case "AWS::EC2::SecurityGroupEgress":
			out = append(out, rule("egress", ref(p["GroupId"]), p))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Direction < out[j].Direction })
	return out
}

// TestSecurityGroupRules renders every variant and checks that the
// security-group rules open exactly the auth mode's port between the
// function's group and the cluster's, in both directions, and nothing else,
// and that the function uses that group only. The consumer's function is
// not in the VPC: its event source mapping carries the cluster's group,
// which then admits itself on the port, and nothing else.
func TestSecurityGroupRules(t *testing.T) {
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			tpl, _ := render(t, p)
			port, ok := Port(p.Auth)
			if !ok {
				t.Fatalf("no port for %s", p.Auth)
			}
			want := []sgRule{
				{Direction: "egress", Group: "FunctionSecurityGroup", Peer: "ClusterSecurityGroupId", Protocol: "tcp", From: port, To: port},
				{Direction: "ingress", Group: "ClusterSecurityGroupId", Peer: "FunctionSecurityGroup", Protocol: "tcp", From: port, To: port},
			}
			if p.Auth == kafkaconn.AuthSCRAM {
				// Secrets Manager, for the SCRAM secret at Init.
				want = slices.Insert(want, 1, sgRule{Direction: "egress", Group: "FunctionSecurityGroup", Peer: "CidrIp 0.0.0.0/0", Protocol: "tcp", From: 443, To: 443})
			}
			if p.ESM != nil {
				want = []sgRule{{Direction: "ingress", Group: "ClusterSecurityGroupId", Peer: "ClusterSecurityGroupId", Protocol: "tcp", From: port, To: port}}
			}
			if got := sgRules(t, tpl); !reflect.DeepEqual(got, want) {
				t.Errorf("security-group rules:\n got %+v\nwant %+v", got, want)
			}
			if p.ESM != nil {
				if _, ok := tpl.Properties(ConsumerFunctionID)["VpcConfig"]; ok {
					t.Error("the consumer function is in the VPC: it does not connect to Kafka")
				}
				return
			}
			vpc, _ := tpl.Properties(FunctionID)["VpcConfig"].(map[string]any)
			if got := fmt.Sprint(vpc["SecurityGroupIds"]); got != "[map[Ref:FunctionSecurityGroup]]" {
				t.Errorf("function security groups %s, want the function's own only", got)
			}
			if got, _ := tpl.Default("BootstrapServers"); !strings.HasSuffix(got, fmt.Sprintf(":%d", port)) {
				t.Errorf("BootstrapServers default %q is not on port %d", got, port)
			}
		})
	}
}

// evaluator parses the template b once and returns evaluate: v, a value
// of b, with its intrinsic functions evaluated against the parameters'
// defaults, as msklink deploy check evaluates them (the policy's
// resources are expressions of the parameters).
func evaluator(t *testing.T, b []byte) (evaluate func(v any) any) {
	t.Helper()
	tpl, err := deploycheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return func(v any) any {
		t.Helper()
		e, err := deploycheck.Evaluate(tpl, v)
		if err != nil {
			t.Fatalf("evaluating %v: %v", v, err)
		}
		return e
	}
}

// policies returns every IAM policy document the template gives the
// function's role (inline and AWS::IAM::RolePolicy / Policy resources),
// evaluated against the parameters' defaults.
func policies(t *testing.T, tpl testutil.Template, b []byte) map[string]map[string]any {
	t.Helper()
	evaluate := evaluator(t, b)
	out := map[string]map[string]any{}
	for id, r := range tpl.Resources() {
		p, _ := r["Properties"].(map[string]any)
		switch r["Type"] {
		case "AWS::IAM::Role":
			list, _ := p["Policies"].([]any)
			for _, x := range list {
				m := x.(map[string]any)
				out[id+"/"+fmt.Sprint(m["PolicyName"])], _ = evaluate(m["PolicyDocument"]).(map[string]any)
			}
		case "AWS::IAM::RolePolicy", "AWS::IAM::Policy":
			out[id], _ = evaluate(p["PolicyDocument"]).(map[string]any)
		}
	}
	return out
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}

// TestRolePolicy checks the role of every variant: no action with a
// wildcard (kafka-cluster or other), no kafka-cluster action on resource
// "*", only AWSLambdaVPCAccessExecutionRole as a managed policy, and for
// IAM auth the kafka-cluster policy equal to iampolicy.Generate's for the
// workload (and none for SCRAM and TLS, which MSK does not authorize
// with IAM).
func TestRolePolicy(t *testing.T) {
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			tpl, b := render(t, p)
			pols := policies(t, tpl, b)
			for id, doc := range pols {
				sts, _ := doc["Statement"].([]any)
				for i, s := range sts {
					st := s.(map[string]any)
					if _, ok := st["NotAction"]; ok {
						t.Errorf("%s statement %d uses NotAction", id, i)
					}
					for _, a := range strs(st["Action"]) {
						if strings.Contains(a, "*") {
							t.Errorf("%s statement %d allows the wildcard action %q", id, i, a)
						}
						if strings.HasPrefix(a, "kafka-cluster:") && slices.Contains(strs(st["Resource"]), "*") {
							t.Errorf("%s statement %d allows %s on every resource", id, i, a)
						}
					}
				}
			}
			evaluate := evaluator(t, b)
			role := evaluate(tpl.Properties("FunctionRole")).(map[string]any)
			arn, err := iampolicy.ParseClusterARN(p.ClusterARN)
			if err != nil {
				t.Fatal(err)
			}
			if p.ESM != nil {
				if m, ok := role["ManagedPolicyArns"]; ok {
					t.Errorf("the consumer's role has managed policies %v", m)
				}
				doc, ok := pols["FunctionRole/msk-event-source-mapping"]
				if !ok || len(pols) != 1 {
					t.Fatalf("policies %v, want msk-event-source-mapping only", pols)
				}
				// GenerateESM's, but for the logs statement, which names the
				// template's own log group (no fixed function name).
				w := iampolicy.ESMWorkload{Topics: p.Topics, Group: p.ESM.Group, OnFailureTopic: p.ESM.OnFailureTopic}
				want := iampolicy.GenerateESM(arn, w)
				logGroup := evaluate(map[string]any{"Fn::GetAtt": []any{"LogGroup", "Arn"}}).(string)
				for i := range want.Statements {
					if want.Statements[i].Sid == "Logs" {
						want.Statements[i].Resource = []string{logGroup}
					}
				}
				if got, want := jsonOf(t, doc), jsonOf(t, want); got != want {
					t.Errorf("event source mapping policy:\n got %s\nwant %s", got, want)
				}
				if name, ok := tpl.Properties(ConsumerFunctionID)["FunctionName"]; ok {
					t.Errorf("function name %v: a fixed name deploys once per account", name)
				}
				return
			}
			if got := fmt.Sprint(role["ManagedPolicyArns"]); got != "[arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]" {
				t.Errorf("managed policies %s", got)
			}
			names := []string{"FunctionRole/async-on-failure"}
			if p.Auth == kafkaconn.AuthIAM {
				names = append(names, "FunctionRole/kafka-cluster")
			}
			if p.Auth == kafkaconn.AuthSCRAM {
				names = append(names, "FunctionRole/scram-secret")
			}
			names = append(names, "SqsPolicy") // the optional SQS trigger's
			if got := slices.Sorted(maps.Keys(pols)); !slices.Equal(got, names) {
				t.Errorf("policies %v, want %v", got, names)
			}
			doc, ok := pols["FunctionRole/kafka-cluster"]
			if p.Auth != kafkaconn.AuthIAM {
				if ok {
					t.Errorf("%s auth has a kafka-cluster policy: MSK authorizes it with Kafka ACLs, not IAM", p.Auth)
				}
				return
			}
			if !ok {
				t.Fatalf("no kafka-cluster policy; policies: %v", pols)
			}
			want := iampolicy.Generate(arn, iampolicy.Workload{Produce: p.Topics, Idempotent: !p.DisableIdempotence, DescribeTopicConfig: true})
			if got, want := jsonOf(t, doc), jsonOf(t, want); got != want {
				t.Errorf("kafka-cluster policy:\n got %s\nwant %s", got, want)
			}
			// And it suffices for the workload: nothing missing.
			parsed, err := iampolicy.Parse([]byte(jsonOf(t, doc)))
			if err != nil {
				t.Fatal(err)
			}
			if f := iampolicy.Check([]*iampolicy.Policy{parsed}, arn, iampolicy.Workload{Produce: p.Topics, Idempotent: !p.DisableIdempotence, DescribeTopicConfig: true}); len(f) > 0 {
				t.Errorf("the policy lacks %v", f)
			}
		})
	}
}

// jsonOf is v's JSON with map keys sorted, for comparing documents.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(x)
	return string(b)
}

// functionEnvNames returns the MSK_* variables the function reads, from
// the code itself: every name kafkaconn.FromEnv and lambdafn.New ask
// getenv for (Lambda sets the AWS_* ones).
func functionEnvNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	rec := func(k string) string { seen[k] = true; return "" }
	if _, err := kafkaconn.FromEnv(rec); err != nil {
		t.Fatal(err)
	}
	n := len(seen)
	// lambdafn.New reads its own variables, then FromEnv, then fails
	// validating the empty configuration.
	if _, err := lambdafn.New(context.Background(), lambdafn.WithGetenv(rec), lambdafn.WithWarmTimeout(0)); err == nil {
		t.Fatal("lambdafn.New without brokers succeeded")
	}
	if len(seen) <= n {
		t.Fatalf("lambdafn.New read no variable of its own: %v", seen)
	}
	var out []string
	for k := range seen {
		if strings.HasPrefix(k, "MSK_") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) < 20 {
		t.Fatalf("only %d MSK_ variables found: %v", len(out), out)
	}
	return out
}

// consumerEnvNames returns the MSK_* variables the consumer function
// reads: every name kafkaesm.New asks getenv for.
func consumerEnvNames(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	if _, err := kafkaesm.New(func(context.Context, kafkaesm.Record) error { return nil }, kafkaesm.WithGetenv(func(k string) string { seen[k] = true; return "" })); err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range seen {
		if strings.HasPrefix(k, "MSK_") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("kafkaesm read no MSK_ variable: %v", seen)
	}
	return out
}

// TestEnvironmentMatchesFromEnv checks the function's environment in every
// variant: each variable the function reads is set, none it does not
// read, and kafkaconn takes the values (FromEnv, Validate) as they are.
func TestEnvironmentMatchesFromEnv(t *testing.T) {
	publisher, consumer := functionEnvNames(t), consumerEnvNames(t)
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			tpl, b := render(t, p)
			id, want := FunctionID, publisher
			if p.ESM != nil {
				id, want = ConsumerFunctionID, consumer
			}
			env, _ := tpl.Properties(id)["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			var got []string
			values := map[string]string{}
			evaluate := evaluator(t, b)
			for k, v := range vars {
				got = append(got, k)
				if k == "MSK_SCRAM_SECRET_ARN" && p.Auth == kafkaconn.AuthSCRAM {
					values[k] = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_orders-AbCdEf" // a parameter without a default
					continue
				}
				e := evaluate(v)
				s, ok := e.(string)
				if !ok {
					s = fmt.Sprint(e)
				}
				values[k] = s
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("environment variables:\n got %v\nwant %v (what the function's packages read)", got, want)
			}
			if p.ESM != nil {
				if values[kafkaesm.EnvReportBatchItemFailures] != "true" {
					t.Errorf("%s = %q: the mapping reports batch item failures", kafkaesm.EnvReportBatchItemFailures, values[kafkaesm.EnvReportBatchItemFailures])
				}
				if _, err := kafkaesm.New(func(context.Context, kafkaesm.Record) error { return nil }, kafkaesm.WithGetenv(func(k string) string { return values[k] })); err != nil {
					t.Errorf("kafkaesm.New with the template's environment: %v", err)
				}
				return
			}
			cfg, err := kafkaconn.FromEnv(func(k string) string { return values[k] })
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if p.Auth == kafkaconn.AuthSCRAM {
				if cfg.SCRAMUsername != "" || cfg.SCRAMPassword != "" || values["MSK_SCRAM_SECRET_ARN"] == "" {
					t.Errorf("SCRAM credentials in the environment, or no secret to read them from at Init: %v", values)
				}
				cfg.SCRAMUsername, cfg.SCRAMPassword = "from-the-secret", "at-init" // what lambdafn.New reads
			}
			if _, err := cfg.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			if cfg.Auth != p.Auth || cfg.Topic != p.Topics[0] || cfg.DisableIdempotence != p.DisableIdempotence || strings.Join(cfg.Brokers, ",") != strings.Join(p.Bootstrap, ",") {
				t.Errorf("config %+v does not match %+v", cfg, p)
			}
		})
	}
}

// TestBadParams checks that each input that cannot make a working
// template is refused with one line naming the value and the fix.
func TestBadParams(t *testing.T) {
	ok := exampleParams(kafkaconn.AuthIAM, FormatSAM)
	with := func(f func(*Params)) Params { p := ok; f(&p); return p }
	for _, c := range []struct {
		name string
		p    Params
		want []string // substrings of the error
	}{
		{"no cluster", with(func(p *Params) { p.ClusterARN = "" }), []string{"--cluster-arn", "required", "list-clusters-v2"}},
		{"ARN of another service", with(func(p *Params) { p.ClusterARN = "arn:aws:kinesis:us-east-1:123456789012:stream/orders" }), []string{`--cluster-arn "arn:aws:kinesis:`, `service is "kinesis"`, "arn:aws:kafka:REGION:ACCOUNT:cluster/NAME/UUID"}},
		{"ARN without uuid", with(func(p *Params) { p.ClusterARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo" }), []string{`"arn:aws:kafka:us-east-1:123456789012:cluster/demo"`, "cluster/<name>/<uuid>"}},
		{"short account", with(func(p *Params) { p.ClusterARN = "arn:aws:kafka:us-east-1:1234:cluster/demo/u-1" }), []string{`"1234" is not a 12-digit account ID`}},
		{"topic with a space", with(func(p *Params) { p.Topics = []string{"orders", "new orders"} }), []string{`--topic "new orders"`, "Kafka would refuse it", "ASCII letters"}},
		{"topic with a wildcard", with(func(p *Params) { p.Topics = []string{"orders-*"} }), []string{`--topic "orders-*"`, "exact name"}},
		{"topic too long", with(func(p *Params) { p.Topics = []string{strings.Repeat("t", 250)} }), []string{"250 characters", "249"}},
		{"topic ..", with(func(p *Params) { p.Topics = []string{".."} }), []string{`--topic ".."`}},
		{"no topic", with(func(p *Params) { p.Topics = nil }), []string{"--topic", "required"}},
		{"plaintext", with(func(p *Params) { p.Auth = kafkaconn.AuthPlaintext }), []string{`--auth "plaintext"`, "9092", "use iam (9098)"}},
		{"mtls", with(func(p *Params) { p.Auth = kafkaconn.AuthMTLS }), []string{`--auth "mtls"`, "client certificate", "use iam"}},
		{"unknown auth", with(func(p *Params) { p.Auth = "sasl" }), []string{`--auth "sasl"`, "use iam (port 9098), scram (9096) or tls (9094)"}},
		{"scram port with iam", with(func(p *Params) { p.Bootstrap = []string{exampleB1 + ":9096"} }), []string{`--bootstrap "` + exampleB1 + `:9096"`, "scram port", "BootstrapBrokerStringSaslIam (port 9098), or --auth scram"}},
		{"public iam port", with(func(p *Params) { p.Bootstrap = []string{exampleB1 + ":9198"} }), []string{":9198", "public-access", "BootstrapBrokerStringSaslIam, port 9098"}},
		{"not an MSK port", with(func(p *Params) { p.Bootstrap = []string{exampleB1 + ":9093"} }), []string{":9093", "not MSK's iam port", "open 9098 only"}},
		{"no port", with(func(p *Params) { p.Bootstrap = []string{exampleB1} }), []string{`--bootstrap "` + exampleB1 + `"`, "add the port", exampleB1 + ":9098"}},
		{"scheme", with(func(p *Params) { p.Bootstrap = []string{"SASL_SSL://" + exampleB1 + ":9098"} }), []string{"remove the scheme SASL_SSL://"}},
		{"other region", with(func(p *Params) { p.Bootstrap = []string{"b-1.demo.abc123.c3.kafka.eu-west-1.amazonaws.com:9098"} }), []string{"eu-west-1", "another region than the cluster ARN (us-east-1)"}},
		{"serverless with scram", with(func(p *Params) {
			p.Auth = kafkaconn.AuthSCRAM
			p.Bootstrap = []string{"boot-abcd.c1.kafka-serverless.us-east-1.amazonaws.com:9096"}
		}), []string{"MSK Serverless", "iam"}},
		{"no bootstrap", with(func(p *Params) { p.Bootstrap = nil }), []string{"--bootstrap", "required", "BootstrapBrokerStringSaslIam", "get-bootstrap-brokers --cluster-arn " + exampleARN}},
		{"bad format", with(func(p *Params) { p.Format = "terraform" }), []string{`--format "terraform"`, "use sam", "cloudformation"}},
		{"esm without group", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{} }), []string{"--group: required with --esm", "ConsumerGroupId"}},
		{"esm two topics", with(func(p *Params) { p.ESM = &ESM{Group: "g"} }), []string{`--topic "orders,payments"`, "one topic"}},
		{"esm loop", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{Group: "g", OnFailureTopic: "orders"} }), []string{`--on-failure-topic "orders"`, "loop"}},
		{"esm bad destination", with(func(p *Params) {
			p.Topics = []string{"orders"}
			p.ESM = &ESM{Group: "g", OnFailureTopic: "kafka://dlt"}
		}), []string{`--on-failure-topic "kafka://dlt"`, "exact name"}},
		{"esm one-character topic", with(func(p *Params) { p.Topics = []string{"x"}; p.ESM = &ESM{Group: "g"} }), []string{`--topic "x"`, "at least 2 characters", "not '.'"}},
		{"esm topic starting with a dot", with(func(p *Params) { p.Topics = []string{".orders"}; p.ESM = &ESM{Group: "g"} }), []string{`--topic ".orders"`, "not '.'"}},
		{"esm short destination", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{Group: "g", OnFailureTopic: "dlt"} }), []string{`--on-failure-topic "dlt"`, "at least 4 characters", "kafka://"}},
		{"esm destination starting with a dot", with(func(p *Params) {
			p.Topics = []string{"orders"}
			p.ESM = &ESM{Group: "g", OnFailureTopic: ".orders-dlt"}
		}), []string{`--on-failure-topic ".orders-dlt"`, "not '.'"}},
		{"esm scram", with(func(p *Params) {
			p.Topics = []string{"orders"}
			p.Auth = kafkaconn.AuthSCRAM
			p.ESM = &ESM{Group: "g"}
		}), []string{`--auth "scram"`, "--esm", "use --auth iam"}},
		{"esm function name", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{Group: "g", FunctionName: "my fn"} }), []string{`--function-name "my fn"`, "64 letters"}},
		{"esm starting position", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{Group: "g", StartingPosition: "EARLIEST"} }), []string{`--starting-position "EARLIEST"`, "TRIM_HORIZON"}},
		{"esm batch size", with(func(p *Params) { p.Topics = []string{"orders"}; p.ESM = &ESM{Group: "g", BatchSize: 20000} }), []string{`--batch-size "20000"`, "1 to 10000"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Render(c.p)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

// TestConsumerMappingErrorHandling checks the consumer's event source
// mapping in every variant: it reports batch item failures (and the
// function's environment agrees), so it must be in provisioned mode, the
// only mode whose Kafka mappings honour partial batch responses, retry
// limits and on-failure destinations (Lambda developer guide,
// kafka-scaling-modes.html, "Advanced error handling and performance
// features": "For Kafka event source mappings with provisioned mode
// enabled ..."; kafka-retry-configurations.html). In on-demand mode
// Lambda refuses the mapping or, worse, reads the function's
// batchItemFailures answer as a success and commits the failed records.
func TestConsumerMappingErrorHandling(t *testing.T) {
	for name, p := range variants() {
		if p.ESM == nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tpl, _ := render(t, p)
			m := tpl.Properties("ConsumerTrigger")
			if got := fmt.Sprint(m["FunctionResponseTypes"]); got != "[ReportBatchItemFailures]" {
				t.Fatalf("FunctionResponseTypes %s", got)
			}
			pc, ok := m["ProvisionedPollerConfig"].(map[string]any)
			if !ok {
				t.Fatalf("the mapping reports batch item failures in on-demand mode (no ProvisionedPollerConfig): Lambda honours them in provisioned mode only")
			}
			for _, k := range []string{"MinimumPollers", "MaximumPollers"} {
				if v, ok := tpl.ResolveString(pc[k]); !ok || v == "" {
					t.Errorf("ProvisionedPollerConfig.%s = %v: want a parameter with a default", k, pc[k])
				}
			}
			_, hasDest := m["DestinationConfig"]
			if hasDest != (p.ESM.OnFailureTopic != "") {
				t.Errorf("DestinationConfig present %v, on-failure topic %q", hasDest, p.ESM.OnFailureTopic)
			}
			// The retry settings are parameters with Lambda's defaults: no
			// record is dropped unless the deployer says so.
			for k, want := range map[string]string{"MaximumRetryAttempts": "-1", "MaximumRecordAgeInSeconds": "-1", "BisectBatchOnFunctionError": "false"} {
				if v, ok := tpl.ResolveString(m[k]); !ok || v != want {
					t.Errorf("%s = %v (%q), want a parameter with Lambda's default %s", k, m[k], v, want)
				}
			}
		})
	}
}

// TestConsumerFilterCriteria: the mapping carries the filters as given,
// each a pattern Lambda takes, and none without filters; the role's policy
// is the same with and without (filtering needs no permission).
func TestConsumerFilterCriteria(t *testing.T) {
	for _, f := range []Format{FormatSAM, FormatCloudFormation} {
		tpl, _ := render(t, consumerFilterParams(f))
		fc, ok := tpl.Properties("ConsumerTrigger")["FilterCriteria"].(map[string]any)
		if !ok {
			t.Fatalf("%s: no FilterCriteria on the mapping", f)
		}
		var got []string
		for _, x := range fc["Filters"].([]any) {
			got = append(got, x.(map[string]any)["Pattern"].(string))
		}
		if !slices.Equal(got, filterPatterns) {
			t.Errorf("%s: patterns %q; want %q", f, got, filterPatterns)
		}
		c, err := eventfilter.Compile(got...)
		if err != nil || c.Len() != len(filterPatterns) {
			t.Errorf("%s: the template's patterns do not compile: %v", f, err)
		}
		plain, _ := render(t, consumerParams(f, ""))
		if _, ok := plain.Properties("ConsumerTrigger")["FilterCriteria"]; ok {
			t.Errorf("%s: FilterCriteria without filters", f)
		}
		if a, b := fmt.Sprint(tpl.Properties("FunctionRole")), fmt.Sprint(plain.Properties("FunctionRole")); a != b {
			t.Errorf("%s: the role differs with filters:\n%s\n%s", f, a, b)
		}
	}
}

// TestSqsBatchSizeFitsWindow checks the optional SQS trigger of every
// publisher variant: Lambda refuses an SQS mapping with a batch size over
// 10 and no batching window of at least 1 s ("when you set BatchSize to a
// value greater than 10, you must set MaximumBatchingWindowInSeconds to at
// least 1", API_CreateEventSourceMapping), and FIFO queues take 10 at most,
// so without a window the SqsBatchSize parameter must stop at 10.
func TestSqsBatchSizeFitsWindow(t *testing.T) {
	for name, p := range variants() {
		if p.ESM != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			tpl, _ := render(t, p)
			trigger := tpl.Properties("SqsTrigger")
			if ref, _ := trigger["BatchSize"].(map[string]any); ref["Ref"] != "SqsBatchSize" {
				t.Fatalf("SqsTrigger BatchSize %v", trigger["BatchSize"])
			}
			if w, ok := trigger["MaximumBatchingWindowInSeconds"]; ok {
				t.Fatalf("SqsTrigger has a batching window %v: check SqsBatchSize against it", w)
			}
			params, _ := tpl["Parameters"].(map[string]any)
			bs, _ := params["SqsBatchSize"].(map[string]any)
			if max, ok := bs["MaxValue"].(int); !ok || max > 10 {
				t.Errorf("SqsBatchSize MaxValue %v without a batching window: Lambda refuses an SQS batch size over 10 without one", bs["MaxValue"])
			}
		})
	}
}

// TestDescriptionsFitLimits renders templates for the longest names the
// generator takes (topics of 249 characters, a group of 200, a cluster
// name of 64) and checks the descriptions CloudFormation and Lambda bound:
// the template's at most 1024 bytes (CloudFormation's template anatomy,
// "Description"), the function's at most 256 (API_CreateFunction), the
// role's at most 1000 (API_CreateRole); each a literal or a pinned
// parameter, so that the length checked is the length deployed.
func TestDescriptionsFitLimits(t *testing.T) {
	long := func(c byte, n int) string { return strings.Repeat(string(c), n) }
	arn := "arn:aws:kafka:us-east-1:123456789012:cluster/" + long('c', 64) + "/11111111-2222-3333-4444-555555555555-3"
	pub := Params{ClusterARN: arn, Bootstrap: []string{exampleB1 + ":9098"}}
	for i := range 8 {
		pub.Topics = append(pub.Topics, long(byte('a'+i), 249))
	}
	cons := Params{ClusterARN: arn, Topics: []string{long('t', 249)},
		ESM: &ESM{Group: long('g', 200), OnFailureTopic: long('d', 249), FunctionName: "orders-consumer"}}
	short := exampleParams(kafkaconn.AuthIAM, FormatSAM)
	for name, p := range map[string]Params{"publisher": pub, "consumer": cons, "short": short} {
		for _, f := range []Format{FormatSAM, FormatCloudFormation} {
			p.Format = f
			t.Run(name+"-"+string(f), func(t *testing.T) {
				tpl, _ := render(t, p)
				// resolve returns v as deployed: a literal, a parameter's
				// default, or a Sub of parameters (their defaults).
				resolve := func(v any) string {
					t.Helper()
					if m, ok := v.(map[string]any); ok && m["Fn::Sub"] != nil {
						s, _ := m["Fn::Sub"].(string)
						for _, name := range regexp.MustCompile(`\$\{([^}]*)\}`).FindAllStringSubmatch(s, -1) {
							d, ok := tpl.Default(name[1])
							if !ok {
								t.Errorf("description %v: ${%s} is not a parameter with a default", v, name[1])
							}
							s = strings.ReplaceAll(s, name[0], d)
						}
						return s
					}
					s, ok := tpl.ResolveString(v)
					if !ok {
						t.Errorf("description %v is not a literal, a parameter or a Sub of parameters", v)
					}
					return s
				}
				check := func(what string, v any, max int) {
					t.Helper()
					s := resolve(v)
					if len(s) > max || s == "" {
						t.Errorf("%s is %d bytes, want 1 to %d: %q", what, len(s), max, s)
					}
				}
				check("the template's Description", tpl["Description"], 1024)
				id := FunctionID
				if p.ESM != nil {
					id = ConsumerFunctionID
				}
				check("the function's Description", tpl.Properties(id)["Description"], 256)
				check("the role's Description", tpl.Properties("FunctionRole")["Description"], 1000)
				if name == "short" && !strings.Contains(resolve(tpl.Properties(id)["Description"]), "orders,payments") {
					t.Errorf("the function's Description no longer names its topics: %v", tpl.Properties(id)["Description"])
				}
			})
		}
	}
}

// TestConsumerTimeout checks that the consumer's Timeout parameter stops
// at 14 minutes: "event source mappings for Amazon MSK ... only support
// functions with maximum timeout limits of 14 minutes" (Lambda developer
// guide, with-msk-configure.html), where the publisher may take Lambda's 15.
func TestConsumerTimeout(t *testing.T) {
	for name, p := range variants() {
		t.Run(name, func(t *testing.T) {
			tpl, _ := render(t, p)
			params, _ := tpl["Parameters"].(map[string]any)
			timeout, _ := params["Timeout"].(map[string]any)
			want := 900
			if p.ESM != nil {
				want = 840
			}
			if got, _ := timeout["MaxValue"].(int); got != want {
				t.Errorf("Timeout MaxValue %v, want %d", timeout["MaxValue"], want)
			}
		})
	}
}

// TestMakefileBuildsTemplateArchitecture checks that each function's
// Makefile target, as sam build runs it (from a copy of the module, the
// caller's environment passed through), compiles for the architecture the
// template declares, even when the environment says otherwise: sam build
// exports the user's environment to make, and a GOARCH=amd64 left in a
// shell would otherwise build a bootstrap the arm64 function cannot run.
func TestMakefileBuildsTemplateArchitecture(t *testing.T) {
	testutil.LookTool(t, "make", "apt-get install make")
	makefile, err := filepath.Abs(filepath.Join("..", "..", "deploy", "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []Params{exampleParams(kafkaconn.AuthIAM, FormatSAM), consumerParams(FormatSAM, "")} {
		tpl, _ := render(t, p)
		for id, r := range tpl.Resources() {
			if r["Type"] != "AWS::Serverless::Function" {
				continue
			}
			arch := fmt.Sprint(tpl.Properties(id)["Architectures"])
			goarch := map[string]string{"[arm64]": "arm64", "[x86_64]": "amd64"}[arch]
			if goarch == "" {
				t.Fatalf("%s: Architectures %s", id, arch)
			}
			// A dry run from a directory holding a go.mod, as sam build's
			// scratch copy does.
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module github.com/msklink/msklink\n"), 0o644)
			cmd := exec.Command("make", "--dry-run", "--makefile", makefile, "build-"+id, "ARTIFACTS_DIR="+filepath.Join(dir, "out"))
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "GOARCH=amd64", "GOOS=darwin")
			if goarch == "amd64" {
				cmd.Env = append(os.Environ(), "GOARCH=arm64", "GOOS=darwin")
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			if !strings.Contains(string(out), "GOOS=linux GOARCH="+goarch+" go build") || !strings.Contains(string(out), "cd "+dir+" &&") {
				t.Errorf("build-%s for Architectures %s, with GOARCH and GOOS of another machine in the environment:\n%s", id, arch, out)
			}
		}
	}
}
