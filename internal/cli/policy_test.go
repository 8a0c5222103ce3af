package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const testClusterARN = "arn:aws:kafka:us-east-1:123456789012:cluster/demo/0b7c1a5e-1111-2222-3333-444455556666-2"

func TestPolicyCommand(t *testing.T) {
	out, errOut, code := runCLI(t, "", "policy", "generate", "--cluster-arn", testClusterARN, "--produce", "orders", "--consume", "events", "--group", "g1", "--idempotent")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"kafka-cluster:Connect", "kafka-cluster:WriteData", "kafka-cluster:WriteDataIdempotently", "kafka-cluster:ReadData", "kafka-cluster:AlterGroup",
		"topic/demo/0b7c1a5e-1111-2222-3333-444455556666-2/orders", "group/demo/0b7c1a5e-1111-2222-3333-444455556666-2/g1"} {
		if !strings.Contains(out, want) {
			t.Errorf("generated policy lacks %s:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	full := filepath.Join(dir, "full.json")
	os.WriteFile(full, []byte(out), 0o600)

	// The generated policy passes its own check.
	args := []string{"policy", "check", "--policy", full, "--cluster-arn", testClusterARN, "--produce", "orders", "--consume", "events", "--group", "g1", "--idempotent"}
	if out, errOut, code := runCLI(t, "", args...); code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("check of generated policy: exit %d\n%s%s", code, out, errOut)
	}

	// A policy without WriteDataIdempotently, with a Deny on ReadData.
	partial := filepath.Join(dir, "partial.json")
	os.WriteFile(partial, []byte(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["kafka-cluster:Connect","kafka-cluster:DescribeTopic","kafka-cluster:WriteData","kafka-cluster:ReadData","kafka-cluster:AlterGroup","kafka-cluster:DescribeGroup"],"Resource":"*"},
		{"Sid":"NoRead","Effect":"Deny","Action":"kafka-cluster:ReadData","Resource":"*"}]}`), 0o600)
	args[3] = partial
	out, _, code = runCLI(t, "", args...)
	if code != 1 || !strings.Contains(out, "missing  kafka-cluster:WriteDataIdempotently") || !strings.Contains(out, "denied   kafka-cluster:ReadData") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	out, _, code = runCLI(t, "", append(args, "--json")...)
	var res struct {
		OK      bool `json:"ok"`
		Missing []struct {
			Action       string `json:"action"`
			ExplicitDeny bool   `json:"explicit_deny"`
		} `json:"missing"`
	}
	if code != 1 || json.Unmarshal([]byte(out), &res) != nil || res.OK || len(res.Missing) != 2 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}

	for _, bad := range [][]string{
		{"policy"},
		{"policy", "frobnicate"},
		{"policy", "generate", "--produce", "orders"},
		{"policy", "generate", "--cluster-arn", "arn:nope", "--produce", "orders"},
		{"policy", "generate", "--cluster-arn", testClusterARN},
		{"policy", "generate", "--cluster-arn", testClusterARN, "--consume", "events"},
		{"policy", "check", "--cluster-arn", testClusterARN, "--produce", "orders"},
	} {
		if _, errOut, code := runCLI(t, "", bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, code, errOut)
		}
	}
}

// TestPolicyTopicNames: policy generate and check refuse a topic name
// Kafka refuses (exit 2, naming the flag and the rule), and take IAM's
// wildcards in a name (a prefix pattern such as orders-*).
func TestPolicyTopicNames(t *testing.T) {
	cleanAWSEnv(t)
	cluster := []string{"--cluster-arn", "arn:aws:kafka:us-east-1:123456789012:cluster/shop/abcd-1234"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--produce", "bad topic!"}, 2, `--produce "bad topic!"`},
		{[]string{"--consume", "a/b", "--group", "g"}, 2, `--consume "a/b"`},
		{[]string{"--esm", "--topic", "..", "--group", "g"}, 2, `--topic ".."`},
		{[]string{"--esm", "--topic", "orders", "--group", "g", "--on-failure-topic", "dlt topic"}, 2, `--on-failure-topic "dlt topic"`},
		{[]string{"--produce", "orders-*"}, 0, `orders-*`},
		{[]string{"--produce", "*"}, 0, `"kafka-cluster:WriteData"`},
	} {
		args := append(append([]string{"policy", "generate"}, cluster...), tc.args...)
		out, errOut, code := runCLI(t, "", args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("%v: exit %d, want %d with %q\nstdout: %s\nstderr: %s", tc.args, code, tc.code, tc.want, out, errOut)
		}
	}
}
