package deploytmpl

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsumerSchemaRegistry: with a schema registry the mapping carries
// SchemaRegistryConfig in AmazonManagedKafkaEventSourceConfig, and the
// role the registry's permissions: Glue's actions for a Glue registry, the
// secret's GetSecretValue for a Confluent one with basic auth.
func TestConsumerSchemaRegistry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reg       SchemaRegistry
		want      string // the SchemaRegistryConfig, as JSON
		statement string
	}{
		{"glue", SchemaRegistry{URI: "arn:aws:glue:us-east-1:123456789012:registry/shop"},
			`{"EventRecordFormat":"JSON","SchemaRegistryURI":"arn:aws:glue:us-east-1:123456789012:registry/shop","SchemaValidationConfigs":[{"Attribute":"VALUE"}]}`,
			`"Action":["glue:GetRegistry","glue:GetSchemaVersion"]`},
		{"confluent basic auth", SchemaRegistry{URI: "https://sr.example.com", AuthSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:sr-1", EventRecordFormat: "source", Validate: []string{"KEY", "value"}},
			`{"AccessConfigs":[{"Type":"BASIC_AUTH","URI":"arn:aws:secretsmanager:us-east-1:123456789012:secret:sr-1"}],"EventRecordFormat":"SOURCE","SchemaRegistryURI":"https://sr.example.com","SchemaValidationConfigs":[{"Attribute":"KEY"},{"Attribute":"VALUE"}]}`,
			`"Action":["secretsmanager:GetSecretValue"],"Effect":"Allow","Resource":["arn:aws:secretsmanager:us-east-1:123456789012:secret:sr-1"]`},
	} {
		for _, f := range []Format{FormatSAM, FormatCloudFormation} {
			t.Run(fmt.Sprintf("%s/%s", tc.name, f), func(t *testing.T) {
				p := consumerParams(f, "orders-dlt")
				reg := tc.reg
				p.ESM.SchemaRegistry = &reg
				tpl, b := render(t, p)
				kc, _ := tpl.Properties("ConsumerTrigger")["AmazonManagedKafkaEventSourceConfig"].(map[string]any)
				got, _ := json.Marshal(kc["SchemaRegistryConfig"])
				if string(got) != tc.want {
					t.Errorf("SchemaRegistryConfig %s, want %s", got, tc.want)
				}
				all, _ := json.Marshal(policies(t, tpl, b))
				if !strings.Contains(string(all), tc.statement) {
					t.Errorf("the role's policies lack %s:\n%s", tc.statement, all)
				}
				if reg.EventRecordFormat != tc.reg.EventRecordFormat {
					t.Error("Render changed the caller's SchemaRegistry")
				}
			})
		}
	}
	for _, tc := range []struct {
		reg  SchemaRegistry
		flag string
	}{
		{SchemaRegistry{URI: "https://sr", EventRecordFormat: "AVRO"}, "event-record-format"},
		{SchemaRegistry{URI: "https://sr", Validate: []string{"HEADERS"}}, "schema-validation"},
		{SchemaRegistry{URI: "arn:aws:glue:us-east-1:123456789012:registry/shop", AuthSecretARN: "arn:aws:secretsmanager:us-east-1:1:secret:x"}, "schema-registry-secret"},
		{SchemaRegistry{URI: "sr.example.com"}, "esm"},
	} {
		p := consumerParams(FormatSAM, "")
		reg := tc.reg
		p.ESM.SchemaRegistry = &reg
		_, err := Render(p)
		var pe *ParamError
		if !errors.As(err, &pe) || pe.Flag != tc.flag {
			t.Errorf("%+v: %v, want a ParamError for --%s", tc.reg, err, tc.flag)
		}
	}
}

// TestConsumerSchemaRegistryValidates: the consumer templates with a Glue
// and a Confluent registry pass AWS's CloudFormation validator (and
// cfn-lint, where installed): SchemaRegistryConfig sits where the
// resource's schema has it, in AmazonManagedKafkaEventSourceConfig.
func TestConsumerSchemaRegistryValidates(t *testing.T) {
	validator(t)
	dir := t.TempDir()
	var files []string
	for i, reg := range []SchemaRegistry{
		{URI: "arn:aws:glue:us-east-1:123456789012:registry/shop", Validate: []string{"KEY", "VALUE"}},
		{URI: "https://sr.example.com", AuthSecretARN: "arn:aws:secretsmanager:us-east-1:123456789012:secret:sr-1", EventRecordFormat: "SOURCE"},
	} {
		for _, f := range []Format{FormatSAM, FormatCloudFormation} {
			p := consumerParams(f, "orders-dlt")
			p.ESM.SchemaRegistry = &reg
			_, b := render(t, p)
			name := filepath.Join(dir, fmt.Sprintf("%s-%d.yaml", f, i))
			if err := os.WriteFile(name, b, 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
		}
	}
	for f, r := range validate(t, files...) {
		if r.Status != "OK" {
			t.Errorf("%s: analysis %s", f, r.Status)
		}
		for _, d := range r.problems() {
			t.Errorf("%s:%d: %s %s %s: %s", f, d.Line, d.Severity, d.RuleID, d.Path, d.Message)
		}
	}
	if bin, err := exec.LookPath("cfn-lint"); err == nil {
		out, err := exec.Command(bin, append([]string{"--format", "parseable", "--"}, files...)...).CombinedOutput()
		if err != nil {
			t.Errorf("cfn-lint: %v\n%s", err, out)
		}
	}
}
