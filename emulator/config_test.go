package emulator

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{
		"region": "eu-west-1", "account_id": "123456789012", "cluster_name": "demo",
		"cluster_uuid": "0b7c1a5e-1111-2222-3333-444455556666-2",
		"identities": [{"name": "app", "arn": "arn:aws:iam::123456789012:role/app",
			"access_key_id": "AKIAAPP0000000000000", "secret_access_key": "s", "expires": "2030-01-01T00:00:00Z",
			"policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kafka-cluster:*", "Resource": "*"}]}]}],
		"scram_users": [{"username": "u", "password": "p"}],
		"topics": [{"name": "orders", "partitions": 6}, {"name": "x"}],
		"session_max_lifetime": "1h", "limits": {"new_connections_per_second": 100, "idle_timeout": 600}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	cfg.fill()
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	if got := cfg.clusterARN(); got != "arn:aws:kafka:eu-west-1:123456789012:cluster/demo/0b7c1a5e-1111-2222-3333-444455556666-2" {
		t.Errorf("ARN %s", got)
	}
	if cfg.Topics[1].Partitions != 3 || cfg.SCRAMUsers[0].Mechanism != "SCRAM-SHA-512" ||
		time.Duration(cfg.SessionMaxLifetime) != time.Hour || time.Duration(cfg.Limits.IdleTimeout) != 10*time.Minute {
		t.Errorf("%+v", cfg)
	}
	if _, err := ParseConfig([]byte(`{"regoin": "x"}`)); err == nil || !strings.Contains(err.Error(), "regoin") {
		t.Errorf("unknown field: %v", err)
	}
	bad := Config{Region: "mars", AccountID: "1", Identities: []Identity{{Name: "x"}}}
	bad.fill()
	err = bad.validate()
	for _, w := range []string{"region", "account_id", "access_key_id"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("validate: %v lacks %s", err, w)
		}
	}
}

func TestBadPolicyRejectedAtStart(t *testing.T) {
	_, err := Start(context.Background(), Ephemeral(), WithIdentity(Identity{Name: "c", ARN: "arn:aws:iam::000000000000:user/c",
		AccessKeyID: "AKIAC000000000000000", SecretAccessKey: "s",
		Policies: []json.RawMessage{json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]}`)}}))
	if err == nil || !strings.Contains(err.Error(), "Condition") {
		t.Fatalf("got %v", err)
	}
}

func TestUserCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gen, err := newCerts(dir, []string{"127.0.0.1"}, "", "", "", "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert := gen.server.Certificates[0]
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pemBlock("CERTIFICATE", der)...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key")
	os.WriteFile(certFile, certPEM, 0o600)
	os.WriteFile(keyFile, pemBlock("PRIVATE KEY", keyDER), 0o600)
	cfg := DefaultConfig()
	cfg.CertFile, cfg.KeyFile, cfg.CAFile = certFile, keyFile, gen.caFile
	c, _ := startCluster(t, WithConfig(cfg), Ephemeral(), WithListeners(TLS))
	if c.CAFile() != gen.caFile || c.Bootstrap(Plaintext) != "" {
		t.Fatalf("CA %s, plaintext %q", c.CAFile(), c.Bootstrap(Plaintext))
	}
	nc, err := tls.Dial("tcp", c.BootstrapAddrs(TLS)[0], &tls.Config{RootCAs: c.CAPool()})
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// TestConfigErrors: a config file's errors name the file and, for JSON
// that does not parse, the line; an empty file says so (not "EOF"); an
// IAM action that matches no kafka-cluster action (a typo, which IAM
// accepts and which grants nothing) and a topic name Kafka refuses are
// errors, not accepted in silence.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"config.json: the file is empty"}},
		{"blank", "\n  \n", []string{"config.json: the file is empty"}},
		{"syntax", "{\n  \"region\": \"us-east-1\",\n  \"brokers\": 3,,\n}\n", []string{"config.json:3:16: ", "invalid character ','"}},
		{"unknown field", "{\n  \"region\": \"us-east-1\",\n  \"regoin\": \"x\"\n}", []string{"config.json:3:3: ", `unknown field "regoin"`}},
		{"wrong type", "{\n  \"topics\": [\n    {\"name\": \"orders\", \"partitions\": \"six\"}\n  ]\n}", []string{"config.json:3:", "topics.partitions", "string"}},
		{"truncated", "{\n  \"region\": \"us-east-1\"", []string{"config.json:2:", "unexpected end"}},
		{"two objects", "{}\n{}\n", []string{"config.json:2:1: ", "after the config object"}},
		{"action typo", `{"identities": [{"name": "app", "arn": "arn:aws:iam::000000000000:role/app", "access_key_id": "AKIAAPP0000000000000", "secret_access_key": "s",
			"policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kafka-cluster:Conect", "kafka-cluster:DescribeTopic"], "Resource": "*"}]}]}]}`,
			[]string{"config.json: ", `identity "app" policy 1: action "kafka-cluster:Conect" matches no kafka-cluster action`, "did you mean kafka-cluster:Connect?"}},
		{"topic name", `{"topics": [{"name": "bad topic!"}]}`, []string{"config.json: ", `topic name "bad topic!" has ' '`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
