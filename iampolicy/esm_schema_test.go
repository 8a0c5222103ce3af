package iampolicy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestGenerateESMSchemaRegistry: a Glue registry adds glue:GetRegistry and
// glue:GetSchemaVersion on it and its schemas; a Confluent registry its
// secret's GetSecretValue, and nothing without one; bad values are
// refused naming the fix.
func TestGenerateESMSchemaRegistry(t *testing.T) {
	cluster, err := ParseClusterARN("arn:aws:kafka:eu-west-1:123456789012:cluster/shop/abcd-1234")
	if err != nil {
		t.Fatal(err)
	}
	base := ESMWorkload{Topics: []string{"orders"}, Group: "g"}
	for _, tc := range []struct {
		name      string
		access    SchemaRegistryAccess
		sid       string
		actions   []string
		resources []string
		invalid   string
	}{
		{name: "glue", access: SchemaRegistryAccess{URI: "arn:aws:glue:eu-west-1:123456789012:registry/shop"}, sid: "SchemaRegistry",
			actions:   []string{"glue:GetRegistry", "glue:GetSchemaVersion"},
			resources: []string{"arn:aws:glue:eu-west-1:123456789012:registry/shop", "arn:aws:glue:eu-west-1:123456789012:schema/shop/*"}},
		{name: "confluent with a secret", access: SchemaRegistryAccess{URI: "https://sr.example.com", SecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sr-1"},
			sid: "SchemaRegistrySecret", actions: []string{"secretsmanager:GetSecretValue"}, resources: []string{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:sr-1"}},
		{name: "confluent without auth", access: SchemaRegistryAccess{URI: "http://sr.internal:8081"}},
		{name: "glue with a secret", access: SchemaRegistryAccess{URI: "arn:aws:glue:eu-west-1:123456789012:registry/shop", SecretARN: "arn:aws:secretsmanager:eu-west-1:1:secret:x"}, invalid: "takes no secret"},
		{name: "not a registry ARN", access: SchemaRegistryAccess{URI: "arn:aws:glue:eu-west-1:123456789012:schema/shop/orders"}, invalid: "arn:aws:glue:REGION:ACCOUNT:registry/NAME"},
		{name: "not a URL", access: SchemaRegistryAccess{URI: "sr.example.com"}, invalid: "Confluent registry's URL"},
		{name: "not a secret", access: SchemaRegistryAccess{URI: "https://sr", SecretARN: "my-secret"}, invalid: "Secrets Manager secret's ARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := base
			a := tc.access
			w.SchemaRegistry = &a
			err := w.Validate()
			if tc.invalid != "" {
				if !errors.Is(err, ErrInvalidESMWorkload) || !strings.Contains(err.Error(), tc.invalid) {
					t.Fatalf("Validate: %v, want %q", err, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := GenerateESM(cluster, w)
			without := GenerateESM(cluster, base)
			if tc.sid == "" {
				if len(p.Statements) != len(without.Statements) {
					t.Fatalf("statements added for a registry without auth: %+v", p.Statements)
				}
				return
			}
			if len(p.Statements) != len(without.Statements)+1 {
				t.Fatalf("%d statements, want %d", len(p.Statements), len(without.Statements)+1)
			}
			s := p.Statements[len(p.Statements)-1]
			if s.Sid != tc.sid || !slices.Equal(s.Action, tc.actions) || !slices.Equal(s.Resource, tc.resources) {
				t.Errorf("statement %+v", s)
			}
		})
	}
}
