package iamauth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func lookupOf(ids ...Identity) Lookup {
	return func(akid string) (Identity, bool) {
		for _, id := range ids {
			if id.AccessKeyID == akid {
				return id, true
			}
		}
		return Identity{}, false
	}
}

var (
	longTerm  = Identity{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: SecretKey(testCreds.SecretAccessKey), ARN: "arn:aws:iam::000000000000:user/admin"}
	temporary = Identity{AccessKeyID: testTemp.AccessKeyID, SecretAccessKey: SecretKey(testTemp.SecretAccessKey), SessionToken: SessionToken(testTemp.SessionToken), ARN: "arn:aws:sts::000000000000:assumed-role/fn/session"}
)

func rewriteToken(t *testing.T, tok Token, from, to string) string {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(string(tok))
	s := strings.Replace(string(raw), from, to, 1)
	if s == string(raw) {
		t.Fatalf("%q not in token", from)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

func TestVerify(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	good, _ := NewToken(testCreds, "us-east-1", at, "test")
	temp, _ := NewToken(testTemp, "us-east-1", at, "test")
	west, _ := NewToken(testCreds, "us-west-2", at, "test")
	wrongSecret, _ := NewToken(aws.Credentials{AccessKeyID: testCreds.AccessKeyID, SecretAccessKey: "not-the-secret"}, "us-east-1", at, "")
	unknown, _ := NewToken(aws.Credentials{AccessKeyID: "AKIAUNKNOWN000000000", SecretAccessKey: "x"}, "us-east-1", at, "")
	noSession, _ := NewToken(aws.Credentials{AccessKeyID: testTemp.AccessKeyID, SecretAccessKey: testTemp.SecretAccessKey}, "us-east-1", at, "")
	lookup := lookupOf(longTerm, temporary)
	expiring := longTerm
	expiring.Expires = at.Add(time.Minute)

	for _, tc := range []struct {
		name   string
		token  string
		now    time.Time
		lookup Lookup
		opts   []VerifyOpt
		want   Check // "" = accepted
	}{
		{"ok", string(good), at.Add(time.Minute), lookup, []VerifyOpt{ExpectRegion("us-east-1")}, ""},
		{"ok temporary", string(temp), at, lookup, nil, ""},
		{"ok at skew edge", string(good), at.Add(-5 * time.Minute), lookup, nil, ""},
		{"ok just before expiry", string(good), at.Add(899 * time.Second), lookup, nil, ""},
		{"other region", string(west), at, lookup, []VerifyOpt{ExpectRegion("us-east-1")}, CheckRegion},
		{"expired", string(good), at.Add(900 * time.Second), lookup, nil, CheckExpired},
		{"credentials expired", string(good), at.Add(2 * time.Minute), lookupOf(expiring), nil, CheckExpired},
		{"clock skew", string(good), at.Add(-6 * time.Minute), lookup, nil, CheckNotYetValid},
		{"wrong secret", string(wrongSecret), at, lookup, nil, CheckSignature},
		{"unknown key", string(unknown), at, lookup, nil, CheckUnknownKey},
		{"missing session token", string(noSession), at, lookup, nil, CheckSessionToken},
		{"altered action", rewriteToken(t, good, "kafka-cluster%3AConnect", "kafka-cluster%3AWriteData"), at, lookup, nil, CheckAction},
		{"altered expiry", rewriteToken(t, good, "X-Amz-Expires=900", "X-Amz-Expires=901"), at, lookup, nil, CheckSignature},
		{"altered host", rewriteToken(t, good, "kafka.us-east-1", "kafka.us-west-2"), at, lookup, nil, CheckHost},
		{"empty", "", at, lookup, nil, CheckMalformed},
		{"not base64", "%%%", at, lookup, nil, CheckMalformed},
		{"not a url", base64.RawURLEncoding.EncodeToString([]byte("hello")), at, lookup, nil, CheckMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Verify(tc.token, tc.lookup, tc.now, tc.opts...)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if p.AccessKeyID == "" || p.ARN == "" || p.Region != "us-east-1" || !p.SignedAt.Equal(at) {
					t.Errorf("principal %+v", p)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) || ve.Check != tc.want {
				t.Fatalf("got %v, want check %s", err, tc.want)
			}
			for _, secret := range []string{testCreds.SecretAccessKey, testTemp.SecretAccessKey, testTemp.SessionToken} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a secret: %v", err)
				}
			}
		})
	}
}

func TestVerifyPayload(t *testing.T) {
	at := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	const host = "b-1.demo.abc.c3.kafka.us-east-1.amazonaws.com"
	pl, err := NewPayload(testCreds, "us-east-1", host, at, "")
	if err != nil {
		t.Fatal(err)
	}
	lookup := lookupOf(longTerm)
	if _, err := VerifyPayload(pl, host, lookup, at); err != nil {
		t.Fatalf("rejected: %v", err)
	}
	var ve *VerifyError
	if _, err := VerifyPayload(pl, "b-2.other", lookup, at); !errors.As(err, &ve) || ve.Check != CheckHost {
		t.Errorf("other broker: %v", err)
	}
	if _, err := VerifyPayload(pl, host, lookup, at, ExpectRegion("eu-west-1")); !errors.As(err, &ve) || ve.Check != CheckRegion {
		t.Errorf("other region: %v", err)
	}
	if _, err := VerifyPayload(bytes.Replace(pl, []byte("2020_10_22"), []byte("2019"), 1), host, lookup, at); !errors.As(err, &ve) || ve.Check != CheckMalformed {
		t.Errorf("bad version: %v", err)
	}
	if _, err := VerifyPayload([]byte("{"), host, lookup, at); !errors.As(err, &ve) || ve.Check != CheckMalformed {
		t.Errorf("bad json: %v", err)
	}
}

func TestInspect(t *testing.T) {
	at := time.Now().UTC().Truncate(time.Second)
	tok, _ := NewToken(testTemp, "ap-south-1", at, "my-agent/1")
	info, err := Inspect(string(tok))
	if err != nil {
		t.Fatal(err)
	}
	want := TokenInfo{Host: "kafka.ap-south-1.amazonaws.com", Region: "ap-south-1", Action: ConnectAction, AccessKeyID: testTemp.AccessKeyID,
		SignedAt: at, Expires: at.Add(TokenLifetime), UserAgent: "my-agent/1", HasSessionToken: true}
	if info != want {
		t.Errorf("Inspect:\n got %+v\nwant %+v", info, want)
	}
	old, _ := NewToken(testCreds, "ap-south-1", at.Add(-time.Hour), "")
	if info, _ := Inspect(string(old)); !info.Expired {
		t.Errorf("an hour-old token is not expired")
	}
	for _, bad := range []string{"", "!!", base64.RawURLEncoding.EncodeToString([]byte("https://kafka.us-east-1.amazonaws.com/?Action=x"))} {
		if _, err := Inspect(bad); err == nil {
			t.Errorf("Inspect(%q): no error", bad)
		}
	}
}

func TestSecretsRedactedInLogs(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	tok, _ := NewToken(testTemp, "us-east-1", time.Now(), "")
	log.Info("x", "token", tok, "secret", SecretKey(testTemp.SecretAccessKey), "session", SessionToken(testTemp.SessionToken), "identity", temporary)
	out := buf.String()
	for _, secret := range []string{string(tok), testTemp.SecretAccessKey, testTemp.SessionToken} {
		if strings.Contains(out, secret) {
			t.Errorf("log line leaks a secret: %s", out)
		}
	}
	if !strings.Contains(out, "REDACTED") {
		t.Errorf("no redaction marker in %s", out)
	}
}

func FuzzInspect(f *testing.F) {
	tok, _ := NewToken(testTemp, "us-east-1", time.Unix(1e9, 0), "")
	f.Add(string(tok))
	f.Add("")
	f.Add("aHR0cHM6Ly9rYWZrYS51cy1lYXN0LTEuYW1hem9uYXdzLmNvbS8_")
	f.Fuzz(func(t *testing.T, s string) {
		Inspect(s)
	})
}

func FuzzVerify(f *testing.F) {
	at := time.Unix(1.7e9, 0)
	tok, _ := NewToken(testCreds, "us-east-1", at, "")
	pl, _ := NewPayload(testCreds, "us-east-1", "h", at, "")
	f.Add(string(tok), pl)
	f.Add("", []byte("{}"))
	lookup := lookupOf(longTerm, temporary)
	f.Fuzz(func(t *testing.T, s string, payload []byte) {
		p, err := Verify(s, lookup, at)
		if err == nil && p.AccessKeyID != longTerm.AccessKeyID {
			t.Fatalf("accepted a token of %q", p.AccessKeyID)
		}
		VerifyPayload(payload, "h", lookup, at)
	})
}
