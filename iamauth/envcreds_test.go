package iamauth

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestEnvConfig(t *testing.T) {
	env := map[string]string{"AWS_ACCESS_KEY": "AKIDLEGACY", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "tok"}
	cfg, source, err := envConfig(func(k string) string { return env[k] }, &providerConfig{}, "eu-west-1")
	if err != nil || source != envSource || cfg.Region != "eu-west-1" {
		t.Fatalf("%v %q %q", err, source, cfg.Region)
	}
	c, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != "AKIDLEGACY" || c.SecretAccessKey != "secret" || c.SessionToken != "tok" {
		t.Fatalf("%+v %v", c, err)
	}

	// Missing credentials surface on the Provider's first retrieval, with
	// the environment named as their source.
	cfg, source, _ = envConfig(func(string) string { return "" }, &providerConfig{}, "eu-west-1")
	p := &Provider{creds: cfg.Credentials, source: source}
	if _, err := p.Credentials(context.Background()); !errors.Is(err, ErrNoCredentials) || !strings.Contains(err.Error(), envSource) {
		t.Fatalf("got %v, want ErrNoCredentials from %s", err, envSource)
	}

	// A profile cannot be honoured: the error says why and what to do.
	_, _, err = envConfig(func(string) string { return "" }, &providerConfig{profile: "dev"}, "")
	if err == nil || !strings.Contains(err.Error(), `profile "dev"`) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("got %v", err)
	}
}
