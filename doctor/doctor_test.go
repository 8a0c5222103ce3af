package doctor

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
)

// startCluster starts an emulated MSK cluster on ephemeral loopback ports.
func startCluster(t *testing.T, opts ...emulator.Opt) *emulator.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, append([]emulator.Opt{emulator.Ephemeral(), emulator.WithTopic("orders", 3)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func staticCreds(akid, secret, session string) aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(akid, secret, session)
}

// iamConfig is the Config of an IAM client of c with the default identity.
func iamConfig(c *emulator.Cluster) kafkaconn.Config {
	return kafkaconn.Config{
		Brokers:     c.BootstrapAddrs(emulator.IAM),
		Auth:        kafkaconn.AuthIAM,
		Region:      c.Region(),
		TLSCAFile:   c.CAFile(),
		Credentials: staticCreds(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, ""),
	}
}

// diagnose runs the doctor and checks the cause and the time bound.
func diagnose(t *testing.T, cfg kafkaconn.Config, want string, timeout time.Duration, opts ...Opt) Report {
	t.Helper()
	start := time.Now()
	r := Run(context.Background(), cfg, append([]Opt{WithTimeout(timeout)}, opts...)...)
	took := time.Since(start)
	b, _ := json.MarshalIndent(r, "", "  ")
	t.Logf("took %s\n%s", took, b)
	if r.Cause != want {
		t.Errorf("cause %q, want %q\n%s", r.Cause, want, b)
	}
	if r.OK != (want == CauseOK) {
		t.Errorf("ok %v for cause %s", r.OK, r.Cause)
	}
	if want != CauseOK && (r.Summary == "" || r.Fix == "") {
		t.Errorf("no summary or fix: %+v", r)
	}
	// Generous bound: every layer at its full timeout plus slack. A hang
	// would blow it by far.
	if bound := 12*timeout + 5*time.Second; took > bound {
		t.Errorf("took %s, bound %s", took, bound)
	}
	return r
}

func TestHealthyCluster(t *testing.T) {
	c := startCluster(t)
	cfg := iamConfig(c)
	r := diagnose(t, cfg, CauseOK, 5*time.Second, WithTopic("orders"), WithGroup("g1"), WithProduce(true), WithConsume(true))
	for _, name := range []string{"config", "credentials", "token", "dns", "tcp", "tls", "sasl", "metadata", "advertised", "authz describe_topic", "authz write_data", "authz write_idempotent", "authz read_data", "authz group_describe", "authz group_alter", "produce", "consume"} {
		ch, ok := r.Check(name)
		if !ok || ch.Status != Pass {
			t.Errorf("check %s: %+v (found %v)", name, ch, ok)
		}
	}
	if n := countPrefix(r, "tcp "); n != 3 {
		t.Errorf("%d tcp checks, want one per bootstrap broker (3)", n)
	}
	if n := countPrefix(r, "advertised "); n != 3 {
		t.Errorf("%d advertised checks, want 3", n)
	}
}

func countPrefix(r Report, p string) int {
	n := 0
	for _, c := range r.Checks {
		if strings.HasPrefix(c.Name, p) {
			n++
		}
	}
	return n
}
