package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadFlagValues: a flag value that cannot work is a usage error (exit
// 2, as the README promises) that names the flag, in every command that
// takes it; it used to be exit 1 with kafkaconn's or iamauth's message.
func TestBadFlagValues(t *testing.T) {
	cleanAWSEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"produce", "--topic", "t", "--auth", "foo"}, `produce: --auth "foo": use iam, scram, tls, mtls or plaintext`},
		{[]string{"consume", "--topic", "t", "--auth", "foo"}, `consume: --auth "foo"`},
		{[]string{"doctor", "--bootstrap", "127.0.0.1:9098", "--auth", "foo"}, `doctor: --auth "foo"`},
		{[]string{"esm", "--topic", "t", "--function", "http://127.0.0.1:9000", "--auth", "foo"}, `esm: --auth "foo"`},
		{[]string{"proxy", "--auth", "foo"}, `proxy: --auth "foo"`},
		{[]string{"invoke", "--event", "-", "--auth", "foo"}, `invoke: --auth "foo"`},
		{[]string{"produce", "--topic", "t", "--iam-mechanism", "PLAIN"}, `produce: --iam-mechanism "PLAIN": use OAUTHBEARER or AWS_MSK_IAM`},
		{[]string{"consume", "--topic", "t", "--region", "mars"}, `consume: --region: iamauth: region "mars"`},
		{[]string{"token", "--region", "mars"}, `token: --region: iamauth: region "mars"`},
		{[]string{"produce", "--topic", "bad topic!"}, `produce: --topic: topic name "bad topic!"`},
		{[]string{"produce", "--topic", "t", "--dial-timeout", "-1s"}, `produce: --dial-timeout -1s must not be negative`},
		{[]string{"local", "--topic", "bad topic!"}, `invalid value "bad topic!" for flag -topic: topic name "bad topic!"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errOut, code := runCLI(t, "{}", tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errOut, tc.want)
			}
		})
	}
}

// TestLocalConfigErrors: msklink local --config names the file and, for
// JSON that does not parse, the line and column; an empty file says so (it
// used to say "EOF"); a kafka-cluster action that is a typo and a topic
// name Kafka refuses are errors (they were accepted in silence).
func TestLocalConfigErrors(t *testing.T) {
	cleanAWSEnv(t)
	for _, tc := range []struct {
		name, file string
		want       []string
	}{
		{"empty", "", []string{"bad.json: the file is empty"}},
		{"syntax", "{\n  \"topics\": [\n    {\"name\": \"orders\"}\n  ]\n  \"brokers\": 3\n}\n", []string{"bad.json:5:3: invalid character"}},
		{"action typo", `{"identities": [{"name": "app", "arn": "arn:aws:iam::000000000000:role/app", "access_key_id": "AKIAAPP0000000000000", "secret_access_key": "s",
			"policies": [{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kafka-cluster:Conect", "Resource": "*"}]}]}]}`,
			[]string{"bad.json: invalid config: ", `action "kafka-cluster:Conect" matches no kafka-cluster action`, "did you mean kafka-cluster:Connect?"}},
		{"topic name", `{"topics": [{"name": "bad topic!"}]}`, []string{"bad.json: invalid config: ", `topic name "bad topic!"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.json")
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, errOut, code := runCLI(t, "", "local", "--ephemeral", "--config", path, "--admin-addr", "")
			for _, w := range tc.want {
				if code != 1 || !strings.Contains(errOut, w) {
					t.Errorf("exit %d, stderr %q; want exit 1 and %q", code, errOut, w)
				}
			}
		})
	}
}
