package emulator_test

// Interop tests: each a produce-then-consume round trip over real sockets
// with a client someone else wrote: kcat (librdkafka) and kafka-python from
// Debian, IBM's sarama, and franz-go (in the package's own tests); and the
// failures as each of them shows MSK's exact messages.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/internal/testutil"
)

func startInterop(t *testing.T) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("interop", 3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestKcat(t *testing.T) {
	testutil.NeedTool(t, "/usr/bin/kcat", "apt-get install kcat")
	c := startInterop(t)
	scram := c.SCRAMUsers()[0]
	for _, tc := range []struct {
		name string
		kind emulator.ListenerKind
		args []string
	}{
		{"TLS", emulator.TLS, []string{"-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + c.CAFile()}},
		{"SCRAM", emulator.SCRAM, []string{"-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + c.CAFile(),
			"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username=" + scram.Username, "-X", "sasl.password=" + scram.Password}},
		{"plaintext", emulator.Plaintext, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Metadata lists every broker at this listener's advertised address.
			got := testutil.KcatRoundTrip(t, c.Bootstrap(tc.kind), "interop", tc.name, tc.args...)
			want := c.BootstrapAddrs(tc.kind)
			sort.Strings(want)
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("kcat sees brokers %v, want %v", got, want)
			}
		})
	}
}

// msklinkBinary builds cmd/msklink once per test binary.
var msklinkBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "msklink-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "msklink")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/msklink/msklink/cmd/msklink").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// cliToken runs `msklink token` with the given credentials, as a
// kafka-python user would to get a token.
func cliToken(t *testing.T, region, akid, secret string) string {
	t.Helper()
	bin, err := msklinkBinary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "token", "--region", region)
	cmd.Env = []string{"AWS_ACCESS_KEY_ID=" + akid, "AWS_SECRET_ACCESS_KEY=" + secret, "AWS_EC2_METADATA_DISABLED=true",
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "c"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "cr"), "HOME=" + dir}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("msklink token: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func TestKafkaPython(t *testing.T) {
	c := startInterop(t)
	scram := c.SCRAMUsers()[0]
	token := cliToken(t, c.Region(), emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"IAM OAUTHBEARER", []string{"--bootstrap", c.Bootstrap(emulator.IAM), "--protocol", "SASL_SSL", "--mechanism", "OAUTHBEARER", "--token", token}},
		{"SCRAM", []string{"--bootstrap", c.Bootstrap(emulator.SCRAM), "--protocol", "SASL_SSL", "--mechanism", "SCRAM-SHA-512", "--user", scram.Username, "--password", scram.Password}},
		{"SSL", []string{"--bootstrap", c.Bootstrap(emulator.TLS), "--protocol", "SSL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testutil.KafkaPython(t, "testdata/kafka_python_roundtrip.py", append(tc.args, "--cafile", c.CAFile(), "--topic", "interop")...)
			if !r.OK || len(r.Consumed) != 3 {
				t.Fatalf("kafka-python round trip failed: %s\nconsumed %v\nlog:\n%s", r.Error, r.Consumed, r.Log)
			}
		})
	}
}

// TestKafkaPythonRejected reproduces the classic report: kafka-python 2.0.2
// authenticates with SaslHandshake v0, so when MSK rejects the token all it
// can do is close the socket, and the client says "Connection reset during
// recv" instead of why.
func TestKafkaPythonRejected(t *testing.T) {
	c := startInterop(t)
	token := cliToken(t, "us-west-2", emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey) // wrong region
	r := testutil.KafkaPython(t, "testdata/kafka_python_roundtrip.py", "--bootstrap", c.Bootstrap(emulator.IAM), "--protocol", "SASL_SSL", "--mechanism", "OAUTHBEARER",
		"--token", token, "--cafile", c.CAFile(), "--topic", "interop", "--timeout", "5")
	if r.OK || r.Error == "" {
		t.Fatalf("a token for another region was accepted: %+v", r)
	}
	if !strings.Contains(r.Log, "Connection reset during recv") {
		t.Errorf("kafka-python did not report the reset; error %q, log:\n%s", r.Error, r.Log)
	}
}

// saramaToken is a sarama.AccessTokenProvider backed by iamauth.
type saramaToken struct{ p *iamauth.Provider }

func (s saramaToken) Token() (*sarama.AccessToken, error) {
	tok, _, err := s.p.Token(context.Background())
	return &sarama.AccessToken{Token: string(tok)}, err
}

// saramaIAM is a sarama configuration for c's IAM listener, signing
// OAUTHBEARER tokens for region with creds.
func saramaIAM(t *testing.T, c *emulator.Cluster, region string, creds aws.Credentials) *sarama.Config {
	t.Helper()
	prov, err := iamauth.New(context.Background(), iamauth.WithRegion(region),
		iamauth.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil })))
	if err != nil {
		t.Fatal(err)
	}
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.Net.TLS.Enable = true
	cfg.Net.TLS.Config = &tls.Config{RootCAs: c.CAPool(), MinVersion: tls.VersionTLS12}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLTypeOAuth
	cfg.Net.SASL.TokenProvider = saramaToken{prov}
	return cfg
}

func TestSarama(t *testing.T) {
	c := startInterop(t)
	cfg := saramaIAM(t, c, c.Region(), aws.Credentials{AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: emulator.DefaultSecretAccessKey})
	cfg.Producer.Return.Successes = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout, cfg.Net.WriteTimeout = 10*time.Second, 10*time.Second, 10*time.Second

	producer, err := sarama.NewSyncProducer(c.BootstrapAddrs(emulator.IAM), cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	for i := range 3 {
		part, off, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "interop", Value: sarama.StringEncoder(fmt.Sprintf("sarama-%d", i))})
		if err != nil {
			t.Fatal(err)
		}
		want[part] = max(want[part], off+1)
	}
	producer.Close()

	consumer, err := sarama.NewConsumer(c.BootstrapAddrs(emulator.IAM), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for part, end := range want {
		pc, err := consumer.ConsumePartition("interop", part, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(15 * time.Second)
		for off := int64(0); off < end; {
			select {
			case m := <-pc.Messages():
				got = append(got, string(m.Value))
				off = m.Offset + 1
			case <-timeout:
				t.Fatalf("partition %d: timed out with %v", part, got)
			}
		}
		pc.Close()
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "sarama-0,sarama-1,sarama-2" {
		t.Errorf("sarama consumed %v", got)
	}
}

// mskDenied matches MSK's "[<uuid>]: Access denied" at the end of a
// client's error text, with nothing after it: the emulator's reason must
// not reach clients by default, as MSK's never does.
var mskDenied = regexp.MustCompile(`\[[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\]: Access denied$`)

// rejectedTokens are the two classic IAM failures: a token signed for
// another region, and one signed with a wrong secret key.
func rejectedTokens(t *testing.T, c *emulator.Cluster) map[string]aws.Credentials {
	return map[string]aws.Credentials{
		"eu-west-1": {AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: emulator.DefaultSecretAccessKey},
		c.Region():  {AccessKeyID: emulator.DefaultAccessKeyID, SecretAccessKey: "not-the-secret"},
	}
}

// TestSaramaRejected: sarama shows MSK's exact text for a wrong-region and
// a bad-secret token.
func TestSaramaRejected(t *testing.T) {
	c := startInterop(t)
	for region, creds := range rejectedTokens(t, c) {
		t.Run(region, func(t *testing.T) {
			cfg := saramaIAM(t, c, region, creds)
			cfg.Metadata.Retry.Max = 0
			cl, err := sarama.NewClient(c.BootstrapAddrs(emulator.IAM)[:1], cfg)
			if err == nil {
				cl.Close()
				t.Fatal("a rejected token connected")
			}
			// sarama: "kafka: client has run out of available brokers to
			// talk to: kafka server: SASL Authentication failed: [<id>]: Access denied".
			if !mskDenied.MatchString(err.Error()) || !strings.Contains(err.Error(), "SASL Authentication failed: [") {
				t.Errorf("sarama error %q does not end in MSK's \"SASL Authentication failed: [<uuid>]: Access denied\"", err)
			}
			if strings.Contains(err.Error(), "iamauth") {
				t.Errorf("the emulator's reason reached the client: %v", err)
			}
		})
	}
}

// TestFranzGoRejected: franz-go shows MSK's exact text for the same two.
func TestFranzGoRejected(t *testing.T) {
	c := startInterop(t)
	for region, creds := range rejectedTokens(t, c) {
		t.Run(region, func(t *testing.T) {
			tok, err := iamauth.NewToken(creds, region, time.Now(), "interop")
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(emulator.IAM)...),
				kgo.DialTLSConfig(&tls.Config{RootCAs: c.CAPool(), MinVersion: tls.VersionTLS12}),
				kgo.SASL(oauth.Auth{Token: string(tok)}.AsMechanism()), kgo.RequestRetries(0))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			err = cl.Ping(ctx)
			if !errors.Is(err, kerr.SaslAuthenticationFailed) || !mskDenied.MatchString(err.Error()) {
				t.Errorf("franz-go error %v, want SASL_AUTHENTICATION_FAILED ending in MSK's \"[<uuid>]: Access denied\"", err)
			}
		})
	}
}

// TestKcatSCRAMRejected: kcat (librdkafka) shows Apache Kafka's exact SCRAM
// message for a wrong password, as MSK's SCRAM listener sends it.
func TestKcatSCRAMRejected(t *testing.T) {
	kcat := testutil.NeedTool(t, "/usr/bin/kcat", "apt-get install kcat")
	c := startInterop(t)
	out, err := testutil.Run(t, "", kcat, "-b", c.Bootstrap(emulator.SCRAM), "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location="+c.CAFile(),
		"-X", "sasl.mechanisms=SCRAM-SHA-512", "-X", "sasl.username="+emulator.DefaultSCRAMUser, "-X", "sasl.password=wrong", "-L", "-m", "5")
	if err == nil {
		t.Fatalf("kcat -L with a wrong password succeeded:\n%s", out)
	}
	const want = "SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after "
	if !strings.Contains(out, want) {
		t.Errorf("kcat output lacks %q:\n%s", want, out)
	}
}
