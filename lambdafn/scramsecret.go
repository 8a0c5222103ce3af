package lambdafn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/msklink/msklink/kafkaconn"
)

// EnvSCRAMSecretARN names the Secrets Manager secret (AmazonMSK_..., keys
// username and password) the function reads its SCRAM credentials from
// at Init, so that they never sit in its configuration, where
// lambda:GetFunctionConfiguration shows them in plain text.
const EnvSCRAMSecretARN = "MSK_SCRAM_SECRET_ARN"

// secretTimeout bounds the GetSecretValue call at Init.
const secretTimeout = 10 * time.Second

// ErrSCRAMSecret is wrapped by the errors of reading the SCRAM secret.
var ErrSCRAMSecret = errors.New("lambdafn: reading the SCRAM secret")

// scramFromSecret reads the username and password of the AmazonMSK_
// secret arn with Secrets Manager's GetSecretValue, signed (SigV4) with
// the credentials Lambda puts in the environment. AWS_ENDPOINT_URL_SECRETS_MANAGER,
// the SDK's variable, overrides the endpoint. Errors name the secret and
// the fix, never its value.
func scramFromSecret(ctx context.Context, getenv func(string) string, client *http.Client, arn string) (string, kafkaconn.Password, error) {
	fail := func(format string, args ...any) (string, kafkaconn.Password, error) {
		return "", "", fmt.Errorf("%w %s: %s", ErrSCRAMSecret, arn, fmt.Sprintf(format, args...))
	}
	parts := strings.SplitN(arn, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "secretsmanager" || parts[5] != "secret" {
		return fail("%s is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:AmazonMSK_...)", EnvSCRAMSecretARN)
	}
	region := parts[3]
	endpoint := getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER")
	if endpoint == "" {
		suffix := "amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			suffix = "amazonaws.com.cn"
		}
		endpoint = "https://secretsmanager." + region + "." + suffix
	}
	creds := aws.Credentials{AccessKeyID: getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"), SessionToken: getenv("AWS_SESSION_TOKEN")}
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return fail("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), where Lambda puts the role's")
	}
	body, _ := json.Marshal(map[string]string{"SecretId": arn})
	ctx, cancel := context.WithTimeout(ctx, secretTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return fail("endpoint %q: %v", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "secretsmanager", region, time.Now()); err != nil {
		return fail("signing the request: %v", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fail("%v: the function's subnets need a route to Secrets Manager (an interface VPC endpoint for secretsmanager, or a NAT gateway) and its security group egress on TCP 443", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fail("reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
			Msg     string `json:"Message"`
		}
		json.Unmarshal(b, &e)
		if e.Message == "" {
			e.Message = e.Msg
		}
		fix := ""
		switch {
		case strings.Contains(e.Type, "AccessDenied"):
			fix = ": allow secretsmanager:GetSecretValue on the secret in the execution role, and kms:Decrypt on its key"
		case strings.Contains(e.Type, "ResourceNotFound"):
			fix = ": check " + EnvSCRAMSecretARN
		}
		return fail("GetSecretValue: HTTP %d %s %s%s", resp.StatusCode, e.Type, e.Message, fix)
	}
	var out struct{ SecretString string }
	if err := json.Unmarshal(b, &out); err != nil || out.SecretString == "" {
		return fail("GetSecretValue answered without a SecretString: an MSK SCRAM secret is text")
	}
	var up struct{ Username, Password string }
	if err := json.Unmarshal([]byte(out.SecretString), &up); err != nil || up.Username == "" || up.Password == "" {
		return fail(`the secret is not {"username": "...", "password": "..."}, the form MSK reads for SCRAM`)
	}
	return up.Username, kafkaconn.Password(up.Password), nil
}
