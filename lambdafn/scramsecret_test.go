package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

// TestSCRAMFromSecret starts the handler from the environment a SCRAM
// template gives it: no credentials, only MSK_SCRAM_SECRET_ARN. New reads
// the secret with a SigV4-signed GetSecretValue (from a local Secrets
// Manager endpoint, AWS_ENDPOINT_URL_SECRETS_MANAGER) and publishes over
// the emulator's SCRAM listener with it; the password is in no log line.
// A secret the role may not read fails New with the fix.
func TestSCRAMFromSecret(t *testing.T) {
	c, _ := startEmulator(t)
	user := c.SCRAMUsers()[0]
	const (
		region  = "us-east-1"
		granted = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_orders-AbCdEf"
		denied  = "arn:aws:secretsmanager:us-east-1:123456789012:secret:AmazonMSK_other-AbCdEf"
	)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		auth := r.Header.Get("Authorization")
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" || r.Header.Get("X-Amz-Security-Token") != "session" ||
			!strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/") || !strings.Contains(auth, "/"+region+"/secretsmanager/aws4_request") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"__type":"InvalidSignatureException","message":"unsigned request: %q"}`, auth)
			return
		}
		var in struct{ SecretId string }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.SecretId != granted {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"__type":"AccessDeniedException","Message":"not authorized to perform secretsmanager:GetSecretValue"}`)
			return
		}
		secret, _ := json.Marshal(map[string]string{"username": user.Username, "password": user.Password})
		json.NewEncoder(w).Encode(map[string]string{"ARN": granted, "Name": "AmazonMSK_orders", "SecretString": string(secret)})
	}))
	t.Cleanup(srv.Close)

	env := func(arn string) func(string) string {
		m := map[string]string{
			"MSK_BOOTSTRAP_SERVERS":            strings.Join(c.BootstrapAddrs(emulator.SCRAM), ","),
			"MSK_AUTH":                         "scram",
			"MSK_REGION":                       c.Region(),
			"MSK_TOPIC":                        testTopic,
			"MSK_TLS_CA_FILE":                  c.CAFile(),
			EnvSCRAMSecretARN:                  arn,
			"AWS_ENDPOINT_URL_SECRETS_MANAGER": srv.URL,
			"AWS_ACCESS_KEY_ID":                "AKIDTEST",
			"AWS_SECRET_ACCESS_KEY":            "test-secret-key",
			"AWS_SESSION_TOKEN":                "session",
		}
		return func(k string) string { return m[k] }
	}
	th := &testHandler{logs: &syncBuf{}, metrics: &syncBuf{}}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	h, err := New(ctx, WithGetenv(env(granted)), WithMetricsWriter(th.metrics), WithFunctionName("test-fn"),
		WithLogger(slog.New(slog.NewJSONHandler(th.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Close)
	th.Handler = h
	out, err := th.invoke(t, 10*time.Second, `{"records": [{"key": "k", "value": "over scram"}]}`)
	if err != nil || !strings.Contains(string(out), `"acked":1`) {
		t.Fatalf("invoke: %s, %v", out, err)
	}
	if calls.Load() != 1 {
		t.Errorf("%d GetSecretValue calls, want 1 (at Init)", calls.Load())
	}
	if strings.Contains(th.logs.String(), user.Password) {
		t.Error("the SCRAM password is in the logs")
	}

	_, err = New(ctx, WithGetenv(env(denied)), WithMetricsWriter(th.metrics), WithLogger(slog.New(slog.DiscardHandler)), WithWarmTimeout(0))
	if !errors.Is(err, ErrSCRAMSecret) || !strings.Contains(err.Error(), denied) || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "allow secretsmanager:GetSecretValue") {
		t.Errorf("denied secret: %v", err)
	}
	_, err = New(ctx, WithGetenv(env("AmazonMSK_orders")), WithMetricsWriter(th.metrics), WithLogger(slog.New(slog.DiscardHandler)), WithWarmTimeout(0))
	if !errors.Is(err, ErrSCRAMSecret) || !strings.Contains(err.Error(), "not a Secrets Manager secret ARN") {
		t.Errorf("bad ARN: %v", err)
	}
}
