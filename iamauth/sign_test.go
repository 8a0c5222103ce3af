package iamauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	signer "github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	franzaws "github.com/twmb/franz-go/pkg/sasl/aws"
)

var (
	testCreds = aws.Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
	testTemp  = aws.Credentials{AccessKeyID: "ASIAIOSFODNN7EXAMPLE", SecretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
		SessionToken: "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+Test/Token==", CanExpire: true}
)

func decodeURL(t *testing.T, tok string) *url.URL {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("token is not raw base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestTokenMatchesAWSSigner signs with AWS's signer library and with ours
// for the same credentials and instant, and compares the tokens: every
// query field, and the whole URL once the User-Agent values are aligned.
func TestTokenMatchesAWSSigner(t *testing.T) {
	for _, tc := range []struct {
		name   string
		creds  aws.Credentials
		region string
	}{
		{"long-term", testCreds, "us-west-2"},
		{"session token", testTemp, "eu-central-1"},
		{"china", testCreds, "cn-north-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			theirs, expMs, err := signer.GenerateAuthTokenFromCredentialsProvider(context.Background(), tc.region,
				credentials.StaticCredentialsProvider{Value: tc.creds})
			if err != nil {
				t.Fatal(err)
			}
			tu := decodeURL(t, theirs)
			at, err := time.Parse(amzDateFormat, tu.Query().Get("X-Amz-Date"))
			if err != nil {
				t.Fatal(err)
			}
			ours, err := NewToken(tc.creds, tc.region, at, "")
			if err != nil {
				t.Fatal(err)
			}
			ou := decodeURL(t, string(ours))
			tq, oq := tu.Query(), ou.Query()
			if len(tq) != len(oq) {
				t.Errorf("field count: AWS %d, ours %d", len(tq), len(oq))
			}
			for k, v := range tq {
				if k == "User-Agent" {
					continue
				}
				if oq.Get(k) != v[0] {
					t.Errorf("%s: AWS %q, ours %q", k, v[0], oq.Get(k))
				}
			}
			// Byte for byte, with their User-Agent in ours.
			aligned := strings.Replace(ou.String(), "User-Agent="+url.QueryEscape(oq.Get("User-Agent")), "User-Agent="+url.QueryEscape(tq.Get("User-Agent")), 1)
			if aligned != tu.String() {
				t.Errorf("URLs differ:\nAWS  %s\nours %s", tu, aligned)
			}
			info, err := Inspect(string(ours))
			if err != nil {
				t.Fatal(err)
			}
			if info.Expires.UnixMilli() != expMs {
				t.Errorf("expiry: AWS %d ms, ours %d ms", expMs, info.Expires.UnixMilli())
			}
		})
	}
}

// TestSignatureIndependent checks our signature against aws-sdk-go-v2's
// SigV4 presigner, an implementation written independently of ours.
func TestSignatureIndependent(t *testing.T) {
	at := time.Date(2026, 11, 28, 12, 34, 56, 0, time.UTC)
	for _, c := range []aws.Credentials{testCreds, testTemp} {
		tok, err := NewToken(c, "us-west-2", at, "")
		if err != nil {
			t.Fatal(err)
		}
		u := decodeURL(t, string(tok))
		req, _ := http.NewRequest(http.MethodGet, "https://kafka.us-west-2.amazonaws.com/?Action=kafka-cluster%3AConnect&X-Amz-Expires=900", nil)
		signed, _, err := v4.NewSigner().PresignHTTP(context.Background(), c, req, emptySHA256, "kafka-cluster", "us-west-2", at)
		if err != nil {
			t.Fatal(err)
		}
		su, _ := url.Parse(signed)
		if got, want := u.Query().Get("X-Amz-Signature"), su.Query().Get("X-Amz-Signature"); got != want || got == "" {
			t.Errorf("signature %q, SDK presigner %q", got, want)
		}
	}
}

// TestPayloadMatchesFranzGo compares our AWS_MSK_IAM payload with
// franz-go's sasl/aws for the same credentials, host and instant.
func TestPayloadMatchesFranzGo(t *testing.T) {
	const host = "b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com"
	mech := franzaws.Auth{AccessKey: testTemp.AccessKeyID, SecretKey: testTemp.SecretAccessKey, SessionToken: testTemp.SessionToken}.AsManagedStreamingIAMMechanism()
	_, theirs, err := mech.Authenticate(context.Background(), host+":9098")
	if err != nil {
		t.Fatal(err)
	}
	var tm map[string]string
	if err := json.Unmarshal(theirs, &tm); err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(amzDateFormat, tm["x-amz-date"])
	ours, err := NewPayload(testTemp, "us-east-1", host, at, "")
	if err != nil {
		t.Fatal(err)
	}
	var om map[string]string
	if err := json.Unmarshal(ours, &om); err != nil {
		t.Fatal(err)
	}
	if len(om) != len(tm) {
		t.Errorf("keys: franz-go %d, ours %d", len(tm), len(om))
	}
	for k, v := range tm {
		if k != "user-agent" && om[k] != v {
			t.Errorf("%s: franz-go %q, ours %q", k, v, om[k])
		}
	}
	lookup := lookupOf(Identity{AccessKeyID: testTemp.AccessKeyID, SecretAccessKey: SecretKey(testTemp.SecretAccessKey), SessionToken: SessionToken(testTemp.SessionToken)})
	if _, err := VerifyPayload(theirs, host, lookup, at.Add(time.Minute), ExpectRegion("us-east-1")); err != nil {
		t.Errorf("franz-go's payload does not verify: %v", err)
	}
}

func TestRegionFromHost(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com", "us-east-1"},
		{"b-2.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098", "us-east-1"},
		{"b-1-public.demo.abc.c3.kafka.eu-west-2.amazonaws.com.", "eu-west-2"},
		{"boot-abc.c1.kafka-serverless.ap-southeast-2.amazonaws.com", "ap-southeast-2"},
		{"vpce-0123-abc.kafka.us-west-2.vpce.amazonaws.com", "us-west-2"},
		{"b-1.x.y.c2.kafka.cn-north-1.amazonaws.com.cn", "cn-north-1"},
		{"b-1.us-west-2-test.abc.c3.kafka.us-east-1.amazonaws.com", "us-east-1"}, // the Java signer's bug
		{"b-1.x.y.c3.kafka.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
		{"us-east-1.example.com", ""},
		{"127.0.0.1:9098", ""},
		{"amazonaws.com", ""},
		{"kafka.notaregion.amazonaws.com", ""},
	} {
		got, ok := RegionFromHost(tc.host)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("RegionFromHost(%q) = %q, %v; want %q", tc.host, got, ok, tc.want)
		}
	}
}

func TestValidateRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-central-2", "us-gov-west-1", "cn-northwest-1", "il-central-1"} {
		if err := ValidateRegion(r); err != nil {
			t.Errorf("%s: %v", r, err)
		}
	}
	for _, r := range []string{"", "us-east", "US-EAST-1", "useast1", "us-east-1 ", "kafka"} {
		if err := ValidateRegion(r); err == nil {
			t.Errorf("%q: no error", r)
		}
	}
}

func TestNewTokenBadInput(t *testing.T) {
	at := time.Now()
	if _, err := NewToken(aws.Credentials{}, "us-east-1", at, ""); err != ErrNoCredentials {
		t.Errorf("empty credentials: %v", err)
	}
	if _, err := NewToken(testCreds, "", at, ""); err != ErrNoRegion {
		t.Errorf("empty region: %v", err)
	}
	if _, err := NewToken(testCreds, "mars-1", at, ""); err == nil || !strings.Contains(err.Error(), `"mars-1"`) {
		t.Errorf("bad region: %v", err)
	}
}
