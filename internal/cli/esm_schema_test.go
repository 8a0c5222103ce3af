package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/msklink/msklink/internal/schemareg"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

const cliOrderAvro = `{"type":"record","name":"Order","fields":[{"name":"id","type":"string"},{"name":"qty","type":"int"}]}`

// registerSchema registers schema under subject as a Confluent client
// does, and returns its id.
func registerSchema(t *testing.T, url, subject, typ, schema string) uint32 {
	t.Helper()
	return registerSchemaAuth(t, url, subject, typ, schema)
}

// registerSchemaAuth is registerSchema as alice:s3cret.
func registerSchemaAuth(t *testing.T, url, subject, typ, schema string) uint32 {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"schema": schema, "schemaType": typ})
	req, _ := http.NewRequest("POST", url+"/subjects/"+subject+"/versions", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	req.SetBasicAuth("alice", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct{ ID uint32 }
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != 200 || out.ID == 0 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	return out.ID
}

// TestLocalSchemaRegistry: msklink local serves a schema registry on
// loopback, in the ready file and the export lines.
func TestLocalSchemaRegistry(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready.json")
	stop := runInBackground(t, "local", "--ephemeral", "--ready-file", ready, "--log-format", "json")
	var r localReady
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(ready)
		if err == nil && json.Unmarshal(b, &r) == nil {
			break
		}
		if time.Now().After(deadline) {
			_, errOut, _ := stop()
			t.Fatalf("no ready file; stderr:\n%s", errOut)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.HasPrefix(r.SchemaRegistryURL, "http://127.0.0.1:") {
		t.Fatalf("schema_registry_url %q", r.SchemaRegistryURL)
	}
	id := registerSchema(t, r.SchemaRegistryURL, "orders-value", "AVRO", cliOrderAvro)
	resp, err := http.Get(r.SchemaRegistryURL + "/subjects")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if id != 1 || strings.TrimSpace(string(b)) != `["orders-value"]` {
		t.Errorf("id %d, subjects %s", id, b)
	}
	out, _, code := stop()
	if code != 0 || !strings.Contains(out, "export MSK_SCHEMA_REGISTRY_URL="+r.SchemaRegistryURL+"\n") {
		t.Errorf("exit %d, stdout:\n%s", code, out)
	}
}

// TestESMSchemaRegistryCommand: msklink esm --schema-registry (basic auth
// from MSK_SCHEMA_REGISTRY_AUTH) delivers an Avro record (hamba/avro's encoding, Confluent framing) as JSON, and gives
// up one whose schema id the registry lacks with SCHEMA_NOT_FOUND (--json).
func TestESMSchemaRegistryCommand(t *testing.T) {
	useEmulator(t, "orders")
	srv := schemareg.NewServer(schemareg.WithServerBasicAuth("alice", "s3cret"))
	hs := httptest.NewServer(srv)
	defer hs.Close()
	url := hs.URL
	id := registerSchemaAuth(t, url, "orders-value", "AVRO", cliOrderAvro)
	// The mapping authenticates from the environment: MSK_SCHEMA_REGISTRY_AUTH.
	t.Setenv("MSK_SCHEMA_REGISTRY_AUTH", "alice:s3cret")
	data, err := avro.Marshal(avro.MustParse(cliOrderAvro), map[string]any{"id": "o-1", "qty": 2})
	if err != nil {
		t.Fatal(err)
	}
	framed := func(id uint32, data []byte) []byte {
		return append(binary.BigEndian.AppendUint32([]byte{0}, id), data...)
	}
	cfg, err := kafkaconn.FromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.RecordPartitioner(kgo.ManualPartitioner())))
	if err != nil {
		t.Fatal(err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: framed(id, data)}, &kgo.Record{Topic: "orders", Value: framed(42, data)}).FirstErr()
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	f := newInvokeAPI(t, func(map[string]any) string { return "null" })
	stop := runInBackground(t, "esm", "--topic", "orders", "--function", f.url, "--starting-position", "TRIM_HORIZON",
		"--batching-window", "100ms", "--schema-registry", url, "--event-record-format", "json", "--json")
	deadline := time.Now().Add(60 * time.Second)
	for len(f.got()) < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	out, errOut, code := stop()
	if got := f.got(); len(got) != 1 || got[0] != `{"id":"o-1","qty":2}` || code != 0 {
		t.Fatalf("function got %q; exit %d\nstderr:\n%s", got, code, errOut)
	}
	if !strings.Contains(out, `"type":"given_up"`) || !strings.Contains(out, `"condition":"SCHEMA_NOT_FOUND"`) || !strings.Contains(out, "schema id 42") {
		t.Errorf("stdout lacks the record given up:\n%s", out)
	}
}

// TestESMSchemaRegistryUsage: bad schema registry flags are usage errors
// naming the flag and the fix.
func TestESMSchemaRegistryUsage(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("MSK_BOOTSTRAP_SERVERS", "127.0.0.1:9098")
	t.Setenv("MSK_REGION", "us-east-1")
	base := []string{"esm", "--topic", "orders", "--function", "http://127.0.0.1:9000"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--schema-registry", "arn:aws:glue:us-east-1:123456789012:registry/r"}, "AWS Glue cannot be reached from here"},
		{[]string{"--schema-registry", "127.0.0.1:8081"}, "give an http(s) URL"},
		{[]string{"--schema-registry", "http://127.0.0.1:8081", "--event-record-format", "AVRO"}, "--event-record-format AVRO: use JSON or SOURCE"},
		{[]string{"--schema-registry", "http://127.0.0.1:8081", "--schema-validation", "HEADERS"}, `--schema-validation: schema validation attribute "HEADERS"`},
		{[]string{"--schema-registry", "http://127.0.0.1:8081", "--schema-registry-auth", "nopass"}, "give USER:PASSWORD"},
	} {
		_, errOut, code := runCLI(t, "", append(base, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestSchemaRegistryPolicyAndTemplate: policy generate --esm and deploy
// template --esm carry the schema registry's permissions and config.
func TestSchemaRegistryPolicyAndTemplate(t *testing.T) {
	cleanAWSEnv(t)
	esmArgs := []string{"--esm", "--cluster-arn", "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd-1234", "--topic", "orders", "--group", "billing"}
	glue := "arn:aws:glue:us-east-1:123456789012:registry/shop"
	out, errOut, code := runCLI(t, "", append([]string{"policy", "generate", "--schema-registry", glue}, esmArgs...)...)
	if code != 0 || !strings.Contains(out, `"glue:GetSchemaVersion"`) || !strings.Contains(out, `"arn:aws:glue:us-east-1:123456789012:schema/shop/*"`) {
		t.Errorf("policy generate: exit %d %s\n%s", code, errOut, out)
	}
	secret := "arn:aws:secretsmanager:us-east-1:123456789012:secret:sr-1"
	out, errOut, code = runCLI(t, "", append([]string{"deploy", "template", "--schema-registry", "https://sr.example.com", "--schema-registry-secret", secret}, esmArgs...)...)
	if code != 0 || !strings.Contains(out, "SchemaRegistryConfig:") || !strings.Contains(out, "secretsmanager:GetSecretValue") {
		t.Errorf("deploy template: exit %d %s\n%s", code, errOut, out)
	}
	for _, args := range [][]string{
		{"policy", "generate", "--cluster-arn", "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd-1234", "--consume", "orders", "--group", "g", "--schema-registry", glue},
		{"deploy", "template", "--cluster-arn", "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd-1234", "--topic", "orders", "--bootstrap", "b-1.shop.abcd.c3.kafka.us-east-1.amazonaws.com:9098", "--schema-registry", glue},
		append([]string{"policy", "generate", "--schema-registry", glue, "--schema-registry-secret", secret}, esmArgs...),
	} {
		if _, errOut, code := runCLI(t, "", args...); code != 2 || !strings.Contains(errOut, "schema") {
			t.Errorf("%v: exit %d, stderr %s", args, code, errOut)
		}
	}
}
