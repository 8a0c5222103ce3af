package iamauth

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	signer "github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/internal/testutil"
)

// countingCreds counts Retrieve calls and hands out creds that expire at
// expires (never when zero).
type countingCreds struct {
	calls   atomic.Int32
	expires time.Time
}

func (c *countingCreds) Retrieve(context.Context) (aws.Credentials, error) {
	c.calls.Add(1)
	v := testCreds
	if !c.expires.IsZero() {
		v.CanExpire, v.Expires = true, c.expires
	}
	return v, nil
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func newClock(t time.Time) *fakeClock        { return &fakeClock{t: t} }

func TestProviderCachesAndRenews(t *testing.T) {
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	clock := newClock(start)
	creds := &countingCreds{}
	p, err := New(context.Background(), WithRegion("us-east-1"), WithCredentialsProvider(creds), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t1, exp1, err := p.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !exp1.Equal(start.Add(TokenLifetime)) {
		t.Errorf("expiry %s, want %s", exp1, start.Add(TokenLifetime))
	}
	clock.Advance(11 * time.Minute) // under 4/5 of 15 minutes
	if t2, _, _ := p.Token(ctx); t2 != t1 {
		t.Errorf("token re-signed before renewal time")
	}
	clock.Advance(2 * time.Minute) // past 12 minutes
	t3, exp3, _ := p.Token(ctx)
	if t3 == t1 || !exp3.Equal(start.Add(13*time.Minute+TokenLifetime)) {
		t.Errorf("token not renewed at 13 minutes (expiry %s)", exp3)
	}
	if _, err := Verify(string(t3), lookupOf(longTerm), clock.Now()); err != nil {
		t.Errorf("renewed token does not verify: %v", err)
	}
	if n := creds.calls.Load(); n != 1 {
		t.Errorf("credentials retrieved %d times, want once (cached)", n)
	}
}

// TestProviderBoundedByCredentials: a token must not be used past its
// credentials' expiry (the disconnects other signers cause when ECS or
// Lambda credentials rotate).
func TestProviderBoundedByCredentials(t *testing.T) {
	start := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	clock := newClock(start)
	creds := &countingCreds{expires: start.Add(5 * time.Minute)}
	p, err := New(context.Background(), WithRegion("us-east-1"), WithCredentialsProvider(creds), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	_, exp, err := p.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The credentials cache renews a minute early, so the token's life
	// ends a minute before the credentials'.
	if want := creds.expires.Add(-time.Minute); !exp.Equal(want) {
		t.Errorf("token expiry %s, want %s (credentials' expiry less a minute)", exp, want)
	}
	clock.Advance(3*time.Minute + 30*time.Second)
	creds.expires = start.Add(time.Hour)
	p.Token(context.Background())
	if _, exp, _ := p.Token(context.Background()); !exp.Equal(start.Add(3*time.Minute + 30*time.Second + TokenLifetime)) {
		t.Errorf("after rotation, expiry %s", exp)
	}
}

func TestProviderRegion(t *testing.T) {
	testutil.IsolateAWS(t)
	static := credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")
	ctx := context.Background()
	p, err := New(ctx, WithBrokerHost("b-1.x.y.c3.kafka.eu-west-1.amazonaws.com:9098"), WithCredentialsProvider(static))
	if err != nil || p.Region() != "eu-west-1" {
		t.Errorf("from host: %v %v", p, err)
	}
	t.Setenv("AWS_REGION", "ap-northeast-1")
	if p, err := New(ctx, WithBrokerHost("127.0.0.1:9098"), WithCredentialsProvider(static)); err != nil || p.Region() != "ap-northeast-1" {
		t.Errorf("from AWS_REGION: %v", err)
	}
	t.Setenv("AWS_REGION", "")
	if _, err := New(ctx, WithCredentialsProvider(static)); !errors.Is(err, ErrNoRegion) {
		t.Errorf("no region: %v", err)
	}
	if _, err := New(ctx, WithRegion("useast1"), WithCredentialsProvider(static)); err == nil || !strings.Contains(err.Error(), "useast1") {
		t.Errorf("bad region: %v", err)
	}
}

func TestProviderCredentialErrors(t *testing.T) {
	dir := testutil.IsolateAWS(t)
	ctx := context.Background()
	if _, err := New(ctx, WithRegion("us-east-1"), WithProfile("nope")); err == nil || !strings.Contains(err.Error(), `profile "nope" not found`) {
		t.Errorf("unknown profile: %v", err)
	}
	p, err := New(ctx, WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.Token(ctx)
	var ce *CredentialsError
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("no credentials: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "credentials"), []byte("[dev]\naws_access_key_id = AKIADEV\naws_secret_access_key = devsecret\n"), 0o600)
	p, err = New(ctx, WithRegion("us-east-1"), WithProfile("dev"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := p.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info, _ := Inspect(string(tok)); info.AccessKeyID != "AKIADEV" {
		t.Errorf("profile dev: access key %q", info.AccessKeyID)
	}
}

// BenchmarkToken measures a cached token fetch: what every new connection
// pays.
func BenchmarkToken(b *testing.B) {
	p, _ := New(context.Background(), WithRegion("us-east-1"), WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")))
	ctx := context.Background()
	p.Token(ctx)
	b.ReportAllocs()
	for b.Loop() {
		p.Token(ctx)
	}
}

// BenchmarkNewToken measures a fresh signature.
func BenchmarkNewToken(b *testing.B) {
	at := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		NewToken(testTemp, "us-east-1", at, "")
	}
}

// BenchmarkSignerGoProvider is AWS's signer with a static credentials
// provider: its cheapest path, comparable to BenchmarkNewToken.
func BenchmarkSignerGoProvider(b *testing.B) {
	ctx := context.Background()
	prov := credentials.StaticCredentialsProvider{Value: testTemp}
	b.ReportAllocs()
	for b.Loop() {
		signer.GenerateAuthTokenFromCredentialsProvider(ctx, "us-east-1", prov)
	}
}

// BenchmarkSignerGoDefaultChain is AWS's signer as most users call it: it
// loads the AWS config on every call.
func BenchmarkSignerGoDefaultChain(b *testing.B) {
	setTestEnv(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := signer.GenerateAuthToken(ctx, "us-east-1"); err != nil {
			b.Fatal(err)
		}
	}
}

// setTestEnv leaves tb an AWS environment with no config files and the
// test credentials in the environment variables.
func setTestEnv(tb testing.TB) {
	for k, v := range testutil.EmptyAWSEnv(tb.TempDir()) {
		tb.Setenv(k, v)
	}
	tb.Setenv("AWS_ACCESS_KEY_ID", testCreds.AccessKeyID)
	tb.Setenv("AWS_SECRET_ACCESS_KEY", testCreds.SecretAccessKey)
}
