package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/msklink/msklink/internal/testutil"
)

// cleanAWSEnv leaves the AWS SDK nothing to find: no credentials, no
// region, no config files, no instance metadata.
func cleanAWSEnv(t *testing.T) { testutil.IsolateAWS(t) }

func runCLI(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	err := Run(context.Background(), args, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), ExitCode(err)
}

// TestTokenCommand: with test credentials in the environment and no
// network, "msklink token" prints a token that aws-sdk-go-v2's own SigV4
// presigner (an independent implementation) signs identically, and
// "token inspect" round-trips it.
func TestTokenCommand(t *testing.T) {
	cleanAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	out, errOut, code := runCLI(t, "", "token", "--region", "us-west-2", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Token       string `json:"token"`
		Expires     string `json:"expires"`
		ExpiresMs   int64  `json:"expires_ms"`
		Region      string `json:"region"`
		AccessKeyID string `json:"access_key_id"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if got.Region != "us-west-2" || got.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || got.ExpiresMs == 0 {
		t.Errorf("json: %+v", got)
	}
	raw, err := base64.RawURLEncoding.DecodeString(got.Token)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(string(raw))
	q := u.Query()
	if q.Get("Action") != "kafka-cluster:Connect" || q.Get("X-Amz-Expires") != "900" || u.Host != "kafka.us-west-2.amazonaws.com" {
		t.Errorf("token URL %s", u)
	}
	at, _ := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
	req, _ := http.NewRequest("GET", "https://kafka.us-west-2.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Expires=900", nil)
	creds := aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), creds, req, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "kafka-cluster", "us-west-2", at)
	if err != nil {
		t.Fatal(err)
	}
	su, _ := url.Parse(signed)
	if su.Query().Get("X-Amz-Signature") != q.Get("X-Amz-Signature") {
		t.Errorf("signature differs from the SDK presigner's")
	}
	if at.Add(900*time.Second).UnixMilli() != got.ExpiresMs {
		t.Errorf("expires_ms %d, want signing time + 900 s", got.ExpiresMs)
	}

	// Round trip through inspect, from an argument and from stdin.
	out, errOut, code = runCLI(t, "", "token", "inspect", "--json", got.Token)
	if code != 0 {
		t.Fatalf("inspect exit %d: %s", code, errOut)
	}
	var info struct {
		Region      string `json:"region"`
		AccessKeyID string `json:"access_key_id"`
		Expired     bool   `json:"expired"`
	}
	json.Unmarshal([]byte(out), &info)
	if info.Region != "us-west-2" || info.AccessKeyID != "AKIAIOSFODNN7EXAMPLE" || info.Expired {
		t.Errorf("inspect: %s", out)
	}
	out, _, code = runCLI(t, got.Token+"\n", "token", "inspect", "-")
	if code != 0 || !strings.Contains(out, "us-west-2") || strings.Contains(out, "wJalr") {
		t.Errorf("inspect from stdin (exit %d): %s", code, out)
	}
}

func TestTokenCommandErrors(t *testing.T) {
	cleanAWSEnv(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no credentials", []string{"token", "--region", "us-east-1"}, 1, "AWS_ACCESS_KEY_ID"},
		{"unknown profile", []string{"token", "--region", "us-east-1", "--profile", "nope"}, 1, `profile "nope" not found`},
		{"no region", []string{"token"}, 1, "no AWS region"},
		{"bad region", []string{"token", "--region", "Virginia"}, 2, `--region: iamauth: region "Virginia" is not an AWS region`}, // a usage error
		{"bad flag", []string{"token", "--bogus"}, 2, "-bogus"},
		{"external id alone", []string{"token", "--external-id", "x"}, 2, "--role-arn"},
		{"malformed token", []string{"token", "inspect", "abc"}, 1, "malformed"},
		{"inspect without token", []string{"token", "inspect"}, 2, "TOKEN"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"no command", nil, 2, "no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, "", tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errOut, tc.code, tc.want)
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n"); code == 1 && lines > 0 {
				t.Errorf("error is not one line: %q", errOut)
			}
		})
	}
}

func TestHelpAndVersion(t *testing.T) {
	if out, _, code := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "msklink ") {
		t.Errorf("version: %d %q", code, out)
	}
	if out, _, code := runCLI(t, "", "help"); code != 0 || !strings.Contains(out, "token") {
		t.Errorf("help: %d %q", code, out)
	}
	if out, _, code := runCLI(t, "", "token", "-h"); code != 0 || !strings.Contains(out, "--region") {
		t.Errorf("token -h: %d %q", code, out)
	}
}
