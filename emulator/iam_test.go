package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/msklink/msklink/iamauth"
)

func staticCreds(ak, sk, st string) aws.CredentialsProvider {
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk, SessionToken: st, Source: "test"}, nil
	})
}

func provider(t testing.TB, c *Cluster, ak, sk string) *iamauth.Provider {
	t.Helper()
	p, err := iamauth.New(context.Background(), iamauth.WithRegion(c.Region()), iamauth.WithCredentialsProvider(staticCreds(ak, sk, "")))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func iamOpts(c *Cluster, m sasl.Mechanism) []kgo.Opt {
	return []kgo.Opt{kgo.SeedBrokers(c.BootstrapAddrs(IAM)...), kgo.DialTLSConfig(tlsConfig(c)), kgo.SASL(m)}
}

func TestRoundTripIAMOAuth(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t)
	p := provider(t, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	roundTrip(t, iamOpts(c, p.OAuth())...)
	assertNoSecrets(t, lb.String())
	if !strings.Contains(lb.String(), `"decision":"allow"`) {
		t.Errorf("no allow decision logged:\n%s", lb)
	}
}

func TestRoundTripIAMMSKIAM(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t)
	p := provider(t, c, DefaultAccessKeyID, DefaultSecretAccessKey)
	roundTrip(t, iamOpts(c, p.MSKIAM())...)
	assertNoSecrets(t, lb.String())
}

func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	for _, s := range []string{DefaultSecretAccessKey, DefaultSCRAMPassword, "secret-2"} {
		if strings.Contains(logs, s) {
			t.Errorf("log contains a secret %q", s[:4])
		}
	}
}

// ping connects with m and returns the first error.
func ping(t *testing.T, c *Cluster, m sasl.Mechanism) error {
	t.Helper()
	cl, err := kgo.NewClient(append(iamOpts(c, m), kgo.RequestRetries(0), kgo.DisableClientMetrics())...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

func TestIAMAuthenticationFailures(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t)
	good := aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: DefaultSecretAccessKey}
	tok := func(creds aws.Credentials, region string, at time.Time) sasl.Mechanism {
		tk, err := iamauth.NewToken(creds, region, at, "test")
		if err != nil {
			t.Fatal(err)
		}
		return oauth.Auth{Token: string(tk)}.AsMechanism()
	}
	now := time.Now()
	for _, tc := range []struct {
		name  string
		m     sasl.Mechanism
		check string
	}{
		{"other region", tok(good, "eu-west-1", now), "region"},
		{"expired", tok(good, "us-east-1", now.Add(-20*time.Minute)), "expired"},
		{"wrong secret", tok(aws.Credentials{AccessKeyID: DefaultAccessKeyID, SecretAccessKey: "wrong"}, "us-east-1", now), "signature"},
		{"unknown key", tok(aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"}, "us-east-1", now), "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ping(t, c, tc.m)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) {
				t.Fatalf("got %v, want SASL_AUTHENTICATION_FAILED", err)
			}
			if !strings.Contains(err.Error(), "Access denied") {
				t.Errorf("error %q lacks MSK's Access denied", err)
			}
		})
	}
	logs := lb.String()
	for _, w := range []string{"region", "expired", "signature", "unknown"} {
		if !strings.Contains(logs, w) {
			t.Errorf("audit log lacks %q", w)
		}
	}
	assertNoSecrets(t, logs)
}

func TestIAMMissingConnect(t *testing.T) {
	t.Parallel()
	c, lb := startCluster(t, WithIdentity(Identity{Name: "noconnect", ARN: "arn:aws:iam::000000000000:user/noconnect",
		AccessKeyID: "AKIANOCONNECT0000000", SecretAccessKey: "secret-2",
		Policies: []json.RawMessage{json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kafka-cluster:Connect","Resource":"*"}]}`)}}))
	err := ping(t, c, provider(t, c, "AKIANOCONNECT0000000", "secret-2").OAuth())
	if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.HasSuffix(err.Error(), "]: Access denied") {
		t.Fatalf("got %v, want MSK's Access denied", err)
	}
	// The reason is the emulator's to tell, in its log, not the client's.
	if !strings.Contains(lb.String(), "not authorized to perform kafka-cluster:Connect") {
		t.Errorf("the log does not name the missing Connect permission:\n%s", lb)
	}
	assertNoSecrets(t, lb.String())
}

// policyCluster starts a cluster with one extra identity "limited" with the
// given policy and returns a producing client for it.
func policyClient(t *testing.T, policy string, opts ...kgo.Opt) (*kgo.Client, *logBuf) {
	t.Helper()
	c, lb := startCluster(t, WithIdentity(Identity{Name: "limited", ARN: "arn:aws:iam::000000000000:user/limited",
		AccessKeyID: "AKIALIMITED000000000", SecretAccessKey: "secret-2", Policies: []json.RawMessage{json.RawMessage(policy)}}))
	cl, err := kgo.NewClient(append(append(iamOpts(c, provider(t, c, "AKIALIMITED000000000", "secret-2").OAuth()),
		kgo.DisableClientMetrics(), kgo.ProducerLinger(0), kgo.RecordRetries(1), kgo.RequestRetries(1)), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, lb
}

func produceErr(cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("x")}).FirstErr()
}

func TestIAMAuthorization(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, policy string
		opts         []kgo.Opt
		want         error
		log          string
	}{
		{"no WriteData",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kafka-cluster:WriteData","Resource":"*"}]}`,
			nil, kerr.TopicAuthorizationFailed, `"action":"kafka-cluster:WriteData"`},
		{"no WriteDataIdempotently",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","NotAction":"kafka-cluster:WriteDataIdempotently","Resource":"*"}]}`,
			nil, kerr.ClusterAuthorizationFailed, `"action":"kafka-cluster:WriteDataIdempotently"`},
		{"deny statement",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kafka-cluster:*","Resource":"*"},
			  {"Sid":"NoWrites","Effect":"Deny","Action":"kafka-cluster:WriteData","Resource":"arn:aws:kafka:*:*:topic/local/*/t"}]}`,
			[]kgo.Opt{kgo.DisableIdempotentWrite()}, kerr.TopicAuthorizationFailed, `NoWrites`},
		{"allowed",
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kafka-cluster:Connect","kafka-cluster:DescribeTopic","kafka-cluster:WriteData","kafka-cluster:WriteDataIdempotently"],"Resource":"*"}]}`,
			nil, nil, `"decision":"allow"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cl, lb := policyClient(t, tc.policy, tc.opts...)
			err := produceErr(cl)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("produce: got %v, want %v", err, tc.want)
			}
			logs := lb.String()
			if !strings.Contains(logs, tc.log) {
				t.Errorf("log lacks %s:\n%s", tc.log, logs)
			}
			if tc.want != nil && !strings.Contains(logs, `"decision":"deny"`) {
				t.Errorf("no deny line")
			}
			assertNoSecrets(t, logs)
		})
	}
}
