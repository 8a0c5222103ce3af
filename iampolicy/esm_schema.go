package iampolicy

import (
	"fmt"
	"strings"
)

// SchemaRegistryAccess is what an event source mapping's schema registry
// (SchemaRegistryConfig) needs of its execution role.
type SchemaRegistryAccess struct {
	// URI is the SchemaRegistryURI: an AWS Glue registry's ARN
	// (arn:aws:glue:REGION:ACCOUNT:registry/NAME), or a Confluent
	// registry's URL.
	URI string
	// SecretARN is the Secrets Manager secret of a Confluent registry's
	// access config (BASIC_AUTH and the other types), if any.
	SecretARN string
}

// The statements of a schema registry's permissions.
const (
	glueGetRegistry               = "glue:GetRegistry"
	glueGetSchemaVersion          = "glue:GetSchemaVersion"
	secretsGetSecretValue         = "secretsmanager:GetSecretValue"
	esmStatementSchemaRegistry    = "SchemaRegistry"
	esmStatementSchemaRegistryKey = "SchemaRegistrySecret"
)

// Validate reports a URI that is neither a Glue registry ARN nor an
// http(s) URL, a Glue registry with a secret, and a secret that is not a
// Secrets Manager ARN.
func (a SchemaRegistryAccess) Validate() error {
	glue := strings.HasPrefix(a.URI, "arn:")
	switch {
	case glue && !isGlueRegistryARN(a.URI):
		return fmt.Errorf("%w: schema registry %q: a Glue registry's ARN is arn:aws:glue:REGION:ACCOUNT:registry/NAME", ErrInvalidESMWorkload, a.URI)
	case !glue && !strings.HasPrefix(a.URI, "https://") && !strings.HasPrefix(a.URI, "http://"):
		return fmt.Errorf("%w: schema registry %q: give a Glue registry's ARN or a Confluent registry's URL", ErrInvalidESMWorkload, a.URI)
	case glue && a.SecretARN != "":
		return fmt.Errorf("%w: a Glue schema registry takes no secret: Lambda reaches it with the execution role (glue:GetRegistry, glue:GetSchemaVersion)", ErrInvalidESMWorkload)
	case a.SecretARN != "" && !strings.HasPrefix(a.SecretARN, "arn:") || a.SecretARN != "" && !strings.Contains(a.SecretARN, ":secretsmanager:"):
		return fmt.Errorf("%w: schema registry secret %q: give the Secrets Manager secret's ARN", ErrInvalidESMWorkload, a.SecretARN)
	}
	return nil
}

func isGlueRegistryARN(s string) bool {
	p := strings.SplitN(s, ":", 6)
	return len(p) == 6 && p[2] == "glue" && p[3] != "" && p[4] != "" && strings.HasPrefix(p[5], "registry/") && len(p[5]) > len("registry/")
}

// statements returns the schema registry's statements: for a Glue
// registry, glue:GetRegistry on the registry and glue:GetSchemaVersion on
// it and its schemas; for a Confluent registry with a secret,
// secretsmanager:GetSecretValue on the secret
// (https://docs.aws.amazon.com/lambda/latest/dg/services-consume-kafka-events.html;
// API_KafkaSchemaRegistryAccessConfig.html: "If you're working with an AWS
// Glue schema registry, don't provide authentication details ... ensure
// that your execution role has the required permissions").
func (a SchemaRegistryAccess) statements() []Statement {
	if isGlueRegistryARN(a.URI) {
		p := strings.SplitN(a.URI, ":", 6)
		name := strings.TrimPrefix(p[5], "registry/")
		schemas := strings.Join(p[:5], ":") + ":schema/" + name + "/*"
		return []Statement{{Sid: esmStatementSchemaRegistry, Effect: Allow,
			Action: []string{glueGetRegistry, glueGetSchemaVersion}, Resource: []string{a.URI, schemas}}}
	}
	if a.SecretARN != "" {
		return []Statement{{Sid: esmStatementSchemaRegistryKey, Effect: Allow,
			Action: []string{secretsGetSecretValue}, Resource: []string{a.SecretARN}}}
	}
	return nil
}
