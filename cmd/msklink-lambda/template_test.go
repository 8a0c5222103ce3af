package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/deploycheck"
	"github.com/msklink/msklink/internal/deploytmpl"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRIETemplateFunction deploys the SAM template's function as far as a
// laptop can: it renders the template for the emulator's cluster, builds
// the bootstrap with the template's own build method (deploy/Makefile's
// build-<LogicalId> target, run from the module root as sam build does),
// gives the emulator an identity holding only the template's kafka-cluster
// policy, and runs the binary under AWS's Runtime Interface Emulator with
// the template's environment. Only the two values that name the real
// deployment change: the bootstrap brokers (the emulator's) and the CA
// bundle (the emulator's private CA; MSK's certificates need none). Records
// to the template's topics are acked and read back, a topic outside the
// template is refused, and the doctor invocation of the template's output
// passes.
func TestRIETemplateFunction(t *testing.T) {
	rieBinary(t)
	cfg := emulator.DefaultConfig()
	clusterARN := fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s", cfg.Region, cfg.AccountID, cfg.ClusterName, cfg.ClusterUUID)
	topics := []string{"orders", "payments"}
	b, err := deploytmpl.Render(deploytmpl.Params{
		ClusterARN: clusterARN,
		// Stands for the cluster's bootstrap string; replaced by the
		// emulator's ephemeral addresses below.
		Bootstrap: []string{fmt.Sprintf("b-1.%s.abc123.c3.kafka.%s.amazonaws.com:9098", cfg.ClusterName, cfg.Region)},
		Topics:    topics,
	})
	if err != nil {
		t.Fatal(err)
	}
	tpl := testutil.ParseTemplate(t, b)
	evaluate := templateEvaluator(t, b)

	// The function resource and what it says about the binary.
	var fnID string
	var fn map[string]any
	for id, r := range tpl.Resources() {
		if r["Type"] == "AWS::Serverless::Function" {
			fnID, fn = id, r
		}
	}
	props := tpl.Properties(fnID)
	meta, _ := fn["Metadata"].(map[string]any)
	if meta["BuildMethod"] != "makefile" || props["Handler"] != "bootstrap" || props["Runtime"] != "provided.al2023" {
		t.Fatalf("function %s: metadata %v, handler %v, runtime %v", fnID, meta, props["Handler"], props["Runtime"])
	}
	bootstrap := buildWithMakefile(t, "build-"+fnID)

	// The emulator, with an identity allowed exactly the template's policy.
	var policy json.RawMessage
	pols, _ := tpl.Properties("FunctionRole")["Policies"].([]any)
	for _, p := range pols {
		if m := p.(map[string]any); m["PolicyName"] == "kafka-cluster" {
			if policy, err = json.Marshal(evaluate(m["PolicyDocument"])); err != nil {
				t.Fatal(err)
			}
		}
	}
	if policy == nil {
		t.Fatal("the template's role has no kafka-cluster policy")
	}
	const keyID, secret = "AKIAMSKLINKPUBLISHER", "publisher-secret-key-for-the-template-test"
	c, _ := startEmulator(t,
		emulator.WithTopic("orders", 3), emulator.WithTopic("payments", 1), emulator.WithTopic("other", 1),
		emulator.WithIdentity(emulator.Identity{Name: "publisher", ARN: "arn:aws:iam::" + cfg.AccountID + ":role/msklink-publisher",
			AccessKeyID: keyID, SecretAccessKey: secret, Policies: []json.RawMessage{policy}}))
	if c.ClusterARN() != clusterARN {
		t.Fatalf("emulator cluster %s, template for %s", c.ClusterARN(), clusterARN)
	}

	// The template's environment, as Lambda would set it.
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	deployment := map[string]string{"MSK_BOOTSTRAP_SERVERS": c.Bootstrap(emulator.IAM), "MSK_TLS_CA_FILE": c.CAFile()}
	var extra []string
	for k, v := range vars {
		s, ok := evaluate(v).(string)
		if !ok {
			t.Fatalf("%s = %v: not a string", k, v)
		}
		if d, ok := deployment[k]; ok {
			s = d
		}
		extra = append(extra, k+"="+s)
	}
	sort.Strings(extra)
	t.Logf("template environment: %v", extra)
	timeout, _ := tpl.Default("Timeout")
	var timeoutSec int
	fmt.Sscan(timeout, &timeoutSec)
	extra = append(extra, "AWS_ACCESS_KEY_ID="+keyID, "AWS_SECRET_ACCESS_KEY="+secret)
	r := testutil.StartRIE(t, bootstrap, timeoutSec, extra...)

	// Records to the default topic and the template's other topic.
	out, _ := r.Invoke(t, directPayload("a1", "a2"), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 2 {
		t.Fatalf("default topic: %s", out)
	}
	out, _ = r.Invoke(t, []byte(`{"topic":"payments","records":[{"key":"p","value":"p1"}]}`), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("payments: %s", out)
	}
	// A topic the template's policy does not name: refused by the cluster.
	out, _ = r.Invoke(t, []byte(`{"topic":"other","records":[{"value":"x"}]}`), 30*time.Second)
	if d := decodeDirect(t, out); d.Acked != 0 || d.Failed != 1 || !strings.Contains(string(out), "TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("a topic outside the policy: %s", out)
	}

	// The doctor, as the template's DoctorCommand output invokes it.
	outputs, _ := tpl["Outputs"].(map[string]any)
	doctorCmd := fmt.Sprint(outputs["DoctorCommand"])
	if !strings.Contains(doctorCmd, `--payload '{"msklink":"doctor"}'`) {
		t.Fatalf("DoctorCommand output: %s", doctorCmd)
	}
	out, _ = r.Invoke(t, []byte(`{"msklink":"doctor"}`), 60*time.Second)
	var rep struct {
		OK      bool
		Cause   string
		Summary string
	}
	if err := json.Unmarshal(out, &rep); err != nil || !rep.OK {
		t.Errorf("doctor with the template's environment and policy: %s", out)
	}
	t.Logf("doctor: ok=%v cause=%q: %s", rep.OK, rep.Cause, rep.Summary)

	// The policy lets the function read its topics' configuration (the
	// size and partition checks before sending).
	if out := r.Output.String(); strings.Contains(out, `"topic lookup failed; skipping the size and partition checks","topic":"orders"`) {
		t.Errorf("the function could not read its topic's configuration with the template's policy:\n%s", out)
	}

	// Read back with the admin identity.
	admin := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), TLSCAFile: c.CAFile(), Region: c.Region(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	opts, err := kafkaconn.ClientOpts(context.Background(), admin)
	if err != nil {
		t.Fatal(err)
	}
	got := testutil.ConsumeN(t, append(opts, kgo.ConsumeTopics(topics...)), 3, 15*time.Second, 300*time.Millisecond)
	var values []string
	for _, rec := range got {
		values = append(values, rec.Topic+"="+string(rec.Value))
	}
	sort.Strings(values)
	if strings.Join(values, " ") != "orders=a1 orders=a2 payments=p1" {
		t.Errorf("read back %v", values)
	}
}

// templateEvaluator returns a function giving a value of template b as
// CloudFormation computes it for the parameters' defaults (the policy's
// resources and MSK_TOPIC are expressions of them).
func templateEvaluator(t *testing.T, b []byte) func(v any) any {
	t.Helper()
	parsed, err := deploycheck.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return func(v any) any {
		t.Helper()
		e, err := deploycheck.Evaluate(parsed, v)
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		return e
	}
}

// buildWithMakefile runs deploy/Makefile's target as sam build runs it
// (the module root as the working directory, ARTIFACTS_DIR set), for this
// machine's architecture so that RIE can run it, and returns the bootstrap.
func buildWithMakefile(t *testing.T, target string) string {
	t.Helper()
	testutil.LookTool(t, "make", "apt-get install make")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "make", "-f", filepath.Join("deploy", "Makefile"), target, "ARTIFACTS_DIR="+dir, "GOARCH="+runtime.GOARCH)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	bin := filepath.Join(dir, "bootstrap")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("make %s built no bootstrap: %v", target, err)
	}
	return bin
}

// TestRIEConsumerTemplateFunction runs the consumer template's function
// (--esm) as the template deploys it: built by its Makefile target, under
// RIE with the template's environment, invoked with the MSK event its
// event source mapping would send for the template's cluster and topic.
// The mapping reports batch item failures (FunctionResponseTypes), and the
// function's environment must agree: the record that is not an order comes
// back in the partial batch response, the others are committed.
func TestRIEConsumerTemplateFunction(t *testing.T) {
	rieBinary(t)
	const clusterARN = "arn:aws:kafka:us-east-1:123456789012:cluster/shop/11111111-2222-3333-4444-555555555555-1"
	b, err := deploytmpl.Render(deploytmpl.Params{ClusterARN: clusterARN, Topics: []string{"orders"},
		ESM: &deploytmpl.ESM{Group: "billing", OnFailureTopic: "orders-dlt"}})
	if err != nil {
		t.Fatal(err)
	}
	tpl := testutil.ParseTemplate(t, b)
	evaluate := templateEvaluator(t, b)
	mapping := tpl.Properties("ConsumerTrigger")
	if fmt.Sprint(mapping["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" {
		t.Fatalf("mapping %v", mapping)
	}
	bootstrap := buildWithMakefile(t, "build-"+deploytmpl.ConsumerFunctionID)
	props := tpl.Properties(deploytmpl.ConsumerFunctionID)
	env, _ := props["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	var extra []string
	for k, v := range vars {
		s, ok := evaluate(v).(string)
		if !ok {
			t.Fatalf("%s = %v: not a string", k, v)
		}
		extra = append(extra, k+"="+s)
	}
	extra = append(extra, "AWS_LAMBDA_FUNCTION_NAME="+fmt.Sprint(props["FunctionName"]))
	r := testutil.StartRIE(t, bootstrap, 10, extra...)

	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	topic, _ := tpl.Default("Topics")
	rec := func(part, off int, value string) string {
		return fmt.Sprintf(`{"topic":%q,"partition":%d,"offset":%d,"timestamp":1700000000000,"timestampType":"CREATE_TIME","value":%q,"headers":[]}`, topic, part, off, b64(value))
	}
	event := fmt.Sprintf(`{"eventSource":"aws:kafka","eventSourceArn":%q,"bootstrapServers":"b-1.shop.abc123.c2.kafka.us-east-1.amazonaws.com:9098","records":{%q:[%s,%s],%q:[%s]}}`,
		clusterARN, topic+"-0", rec(0, 7, `{"id":"o-7","items":2}`), rec(0, 8, "not an order"), topic+"-1", rec(1, 3, `{"id":"o-3","items":1}`))
	out, _ := r.Invoke(t, []byte(event), 30*time.Second)
	if want := `{"batchItemFailures":[{"itemIdentifier":{"partition":"orders-0","offset":8}}]}`; string(out) != want {
		t.Fatalf("response %s, want %s", out, want)
	}
}
