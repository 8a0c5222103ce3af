package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
)

// Every cause code reproduced for real: an emulated MSK cluster (or a real
// socket condition) that fails the way MSK does, diagnosed by Run, with the
// expected code and the time bound checked by diagnose.

const testTimeout = 2 * time.Second

// policyWithout allows the whole doctor workload (Connect, topic, idempotent
// and group actions) except the actions given.
func policyWithout(except ...string) json.RawMessage {
	all := []string{"Connect", "DescribeCluster", "DescribeTopic", "WriteData", "WriteDataIdempotently", "ReadData", "DescribeGroup", "AlterGroup"}
	var acts []string
	for _, a := range all {
		skip := false
		for _, e := range except {
			skip = skip || e == a
		}
		if !skip {
			acts = append(acts, `"kafka-cluster:`+a+`"`)
		}
	}
	return json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":[` + strings.Join(acts, ",") + `],"Resource":"*"}]}`)
}

// identity is an extra IAM identity of the emulator.
func identity(akid string, policy json.RawMessage, expires time.Time) emulator.Identity {
	return emulator.Identity{
		Name: akid, ARN: "arn:aws:iam::000000000000:role/" + akid,
		AccessKeyID: akid, SecretAccessKey: "secret-" + akid,
		Policies: []json.RawMessage{policy}, Expires: expires,
	}
}

func asIdentity(cfg kafkaconn.Config, akid string) kafkaconn.Config {
	cfg.Credentials = staticCreds(akid, "secret-"+akid, "")
	return cfg
}

func TestCauseConfig(t *testing.T) {
	diagnose(t, kafkaconn.Config{Brokers: []string{"b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9092"}}, CauseConfig, testTimeout)
	diagnose(t, kafkaconn.Config{}, CauseConfig, testTimeout)
	// A region that contradicts MSK host names is caught before connecting.
	diagnose(t, kafkaconn.Config{Brokers: []string{"b-1.demo.abc123.c3.kafka.us-east-1.amazonaws.com:9098"}, Region: "us-west-2",
		Credentials: staticCreds(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}, CauseTokenRegion, testTimeout)
}

func TestCauseCredentials(t *testing.T) {
	// The AWS default chain with nothing to find: no variables, no files,
	// no instance metadata.
	testutil.IsolateAWS(t)
	c := startCluster(t)
	cfg := iamConfig(c)
	cfg.Credentials = nil
	diagnose(t, cfg, CauseCredentials, testTimeout)
}

func TestCauseDNS(t *testing.T) {
	cfg := kafkaconn.Config{Brokers: []string{"b-1.nosuchcluster.invalid:9098"}, Region: "us-east-1",
		Credentials: staticCreds(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	diagnose(t, cfg, CauseDNS, testTimeout)
}

func TestCauseTCPRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := kafkaconn.Config{Brokers: []string{addr}, Region: "us-east-1",
		Credentials: staticCreds(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	diagnose(t, cfg, CauseTCPRefused, testTimeout)
}

func TestCauseTLSMismatch(t *testing.T) {
	c := startCluster(t)
	t.Run("plaintext client, TLS listener", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.TLS), Auth: kafkaconn.AuthPlaintext}
		diagnose(t, cfg, CauseTLSRequired, testTimeout)
	})
	t.Run("TLS client, plaintext listener", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.Plaintext), Auth: kafkaconn.AuthTLS, TLSCAFile: c.CAFile()}
		diagnose(t, cfg, CauseTLSNotOffered, testTimeout)
	})
	t.Run("IAM client, plaintext listener", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.Brokers = c.BootstrapAddrs(emulator.Plaintext)
		diagnose(t, cfg, CauseTLSNotOffered, testTimeout)
	})
	t.Run("untrusted CA", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.TLSCAFile = "" // the system pool does not trust the emulator's CA
		diagnose(t, cfg, CauseTLSUntrusted, testTimeout)
	})
	t.Run("healthy TLS", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.TLS), Auth: kafkaconn.AuthTLS, TLSCAFile: c.CAFile()}
		diagnose(t, cfg, CauseOK, testTimeout, WithTopic("orders"))
	})
	t.Run("healthy plaintext", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.Plaintext), Auth: kafkaconn.AuthPlaintext}
		diagnose(t, cfg, CauseOK, testTimeout, WithTopic("orders"))
	})
}

func TestCauseAuthMechanism(t *testing.T) {
	c := startCluster(t)
	t.Run("IAM on the SCRAM listener", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.Brokers = c.BootstrapAddrs(emulator.SCRAM)
		r := diagnose(t, cfg, CauseAuthMechanism, testTimeout)
		if !strings.Contains(r.Summary, "SCRAM-SHA-512") {
			t.Errorf("summary does not name the offered mechanism: %s", r.Summary)
		}
	})
	t.Run("SCRAM on the IAM listener", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), Auth: kafkaconn.AuthSCRAM, TLSCAFile: c.CAFile(),
			SCRAMUsername: emulator.DefaultSCRAMUser, SCRAMPassword: emulator.DefaultSCRAMPassword}
		diagnose(t, cfg, CauseAuthMechanism, testTimeout)
	})
	t.Run("IAM on the TLS-only listener", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.Brokers = c.BootstrapAddrs(emulator.TLS)
		diagnose(t, cfg, CauseAuthMechanism, testTimeout)
	})
	t.Run("healthy SCRAM", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.SCRAM), Auth: kafkaconn.AuthSCRAM, TLSCAFile: c.CAFile(),
			SCRAMUsername: emulator.DefaultSCRAMUser, SCRAMPassword: emulator.DefaultSCRAMPassword}
		diagnose(t, cfg, CauseOK, testTimeout, WithTopic("orders"))
	})
	t.Run("wrong SCRAM password", func(t *testing.T) {
		cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.SCRAM), Auth: kafkaconn.AuthSCRAM, TLSCAFile: c.CAFile(),
			SCRAMUsername: emulator.DefaultSCRAMUser, SCRAMPassword: "wrong"}
		diagnose(t, cfg, CauseAuthDenied, testTimeout)
	})
}

func TestCauseToken(t *testing.T) {
	c := startCluster(t, emulator.WithIdentity(emulator.Identity{Name: "expired", ARN: "arn:aws:sts::000000000000:assumed-role/r/expired",
		AccessKeyID: "ASIAEXPIRED000000001", SecretAccessKey: "secret-ASIAEXPIRED000000001", SessionToken: "session-1",
		Policies: []json.RawMessage{policyWithout()}, Expires: time.Now().Add(-time.Hour)}))
	t.Run("wrong region", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.Region = "us-west-2" // the cluster is in us-east-1; 127.0.0.1 names no region, its certificate does
		r := diagnose(t, cfg, CauseTokenRegion, testTimeout)
		if !strings.Contains(r.Summary, "inferred") || !strings.Contains(r.Summary, "confirmed: a token signed for us-east-1 was accepted") {
			t.Errorf("the summary does not say how the region was inferred: %s", r.Summary)
		}
	})
	t.Run("expired credentials, expiry known", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "ASIAEXPIRED000000001", SecretAccessKey: "secret-ASIAEXPIRED000000001", SessionToken: "session-1",
				CanExpire: true, Expires: time.Now().Add(-time.Hour), Source: "test"}, nil
		})
		diagnose(t, cfg, CauseTokenExpired, testTimeout)
	})
	t.Run("expired credentials, expiry unknown", func(t *testing.T) {
		// Temporary credentials copied into the environment: MSK says
		// only Access denied, and nothing here tells their expiry.
		cfg := iamConfig(c)
		cfg.Credentials = staticCreds("ASIAEXPIRED000000001", "secret-ASIAEXPIRED000000001", "session-1")
		r := diagnose(t, cfg, CauseAuthDenied, testTimeout)
		if !strings.Contains(r.Summary, "may have expired") {
			t.Errorf("the summary does not suspect the temporary credentials: %s", r.Summary)
		}
	})
	t.Run("AWS_MSK_IAM mechanism", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.IAMMechanism = kafkaconn.MechanismAWSMSKIAM
		diagnose(t, cfg, CauseOK, testTimeout, WithTopic("orders"))
	})
}

// TestCauseSessionTooShort: credentials about to expire get MSK's
// "Session too short".
func TestCauseSessionTooShort(t *testing.T) {
	// The broker's clock is frozen half a second before the credentials
	// expire, so they are always about to.
	frozen := time.Now()
	c := startCluster(t, emulator.WithClock(func() time.Time { return frozen }),
		emulator.WithIdentity(identity("AKIAEXPIRING00000001", policyWithout(), frozen.Add(500*time.Millisecond))))
	diagnose(t, asIdentity(iamConfig(c), "AKIAEXPIRING00000001"), CauseTokenExpired, testTimeout)
}

func TestCauseClockSkew(t *testing.T) {
	// The broker's clock is an hour ahead: a token signed now is expired
	// for it, though this machine's clock says it is fresh.
	c := startCluster(t, emulator.WithClock(func() time.Time { return time.Now().Add(time.Hour) }))
	diagnose(t, iamConfig(c), CauseClockSkew, testTimeout)
	c2 := startCluster(t, emulator.WithClock(func() time.Time { return time.Now().Add(-time.Hour) }))
	r := diagnose(t, iamConfig(c2), CauseClockSkew, testTimeout)
	if !strings.Contains(r.Summary, "this machine's clock is about 1h0m0s ahead of the broker's") {
		t.Errorf("the summary does not size the skew: %s", r.Summary)
	}
}

func TestCauseAuthz(t *testing.T) {
	ids := []struct {
		akid, missing, want string
		opts                []Opt
	}{
		{"AKIANOCONNECT0000001", "Connect", CauseAuthDenied, nil},
		{"AKIANODESCRIBETOPIC1", "DescribeTopic", CauseAuthzTopic, nil},
		{"AKIANOWRITEDATA00001", "WriteData", CauseAuthzTopic, nil},
		{"AKIANOIDEMPOTENT0001", "WriteDataIdempotently", CauseAuthzIdempotent, nil},
		{"AKIANOREADDATA000001", "ReadData", CauseAuthzTopic, []Opt{WithConsume(true)}},
		{"AKIANODESCRIBEGROUP1", "DescribeGroup", CauseAuthzGroup, []Opt{WithGroup("g1")}},
		{"AKIANOALTERGROUP0001", "AlterGroup", CauseAuthzGroup, []Opt{WithGroup("g1")}},
	}
	var opts []emulator.Opt
	for _, id := range ids {
		opts = append(opts, emulator.WithIdentity(identity(id.akid, policyWithout(id.missing), time.Time{})))
	}
	c := startCluster(t, opts...)
	for _, id := range ids {
		t.Run("without "+id.missing, func(t *testing.T) {
			r := diagnose(t, asIdentity(iamConfig(c), id.akid), id.want, testTimeout, append([]Opt{WithTopic("orders")}, id.opts...)...)
			if id.missing != "Connect" && !strings.Contains(r.Summary, id.missing) {
				t.Errorf("summary does not name %s: %s", id.missing, r.Summary)
			}
		})
	}
	t.Run("ReadData outside the workload is a warning", func(t *testing.T) {
		r := diagnose(t, asIdentity(iamConfig(c), "AKIANOREADDATA000001"), CauseOK, testTimeout, WithTopic("orders"))
		if ch, _ := r.Check("authz read_data"); ch.Status != Warn {
			t.Errorf("read_data %+v, want warn", ch)
		}
	})
	t.Run("idempotence disabled", func(t *testing.T) {
		cfg := asIdentity(iamConfig(c), "AKIANOIDEMPOTENT0001")
		cfg.DisableIdempotence = true
		diagnose(t, cfg, CauseOK, testTimeout, WithTopic("orders"), WithProduce(true))
	})
	t.Run("topic does not exist", func(t *testing.T) {
		diagnose(t, iamConfig(c), CauseConfig, testTimeout, WithTopic("nosuchtopic"))
	})
}

func TestCauseTooManyConnects(t *testing.T) {
	// A frozen broker clock keeps every connection in the same second, so
	// the rate limit trips deterministically.
	frozen := time.Now()
	c := startCluster(t, emulator.WithClock(func() time.Time { return frozen }),
		emulator.WithLimits(emulator.Limits{NewConnectionsPerSecond: 1}))
	addr := c.Listener(0, emulator.IAM).Addr()
	for range 2 { // use up broker 0's budget for this second
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
	}
	waitConns(t, c.Listener(0, emulator.IAM), 2)
	cfg := iamConfig(c)
	cfg.Brokers = []string{addr}
	diagnose(t, cfg, CauseTooManyConnects, testTimeout)
}

func waitConns(t *testing.T, l *emulator.Listener, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.Conns() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("listener has %d connections, want %d", l.Conns(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCauseFaults(t *testing.T) {
	c := startCluster(t)
	l := c.Listener(0, emulator.IAM)
	cfg := iamConfig(c)
	cfg.Brokers = []string{l.Addr()}
	t.Run("reset", func(t *testing.T) {
		l.SetFaults(emulator.Faults{ResetAfterRequests: 1})
		defer l.SetFaults(emulator.Faults{})
		diagnose(t, cfg, CauseConnectionReset, testTimeout)
	})
	t.Run("blackhole", func(t *testing.T) {
		l.SetFaults(emulator.Faults{Blackhole: true})
		defer l.SetFaults(emulator.Faults{})
		start := time.Now()
		diagnose(t, cfg, CauseBrokerTimeout, time.Second)
		// One layer waits its timeout; everything else is fast.
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("blackhole reported after %s, want about the 1s timeout", took)
		}
	})
	t.Run("advertised broker blackholed", func(t *testing.T) {
		l1 := c.Listener(1, emulator.IAM)
		l1.SetFaults(emulator.Faults{Blackhole: true})
		defer l1.SetFaults(emulator.Faults{})
		start := time.Now()
		r := diagnose(t, cfg, CauseBrokerTimeout, time.Second)
		// One layer timeout, not one per request or per broker: bounded
		// loosely, as a loaded machine stretches it (2.02 s seen).
		if took := time.Since(start); took > 4*time.Second {
			t.Errorf("took %s, want about the 1s timeout", took)
		}
		if ch, _ := r.Check("advertised 1"); ch.Status != Fail {
			t.Errorf("advertised 1: %+v", ch)
		}
	})
	t.Run("plaintext listener blackholed", func(t *testing.T) {
		lp := c.Listener(0, emulator.Plaintext)
		lp.SetFaults(emulator.Faults{Blackhole: true})
		defer lp.SetFaults(emulator.Faults{})
		diagnose(t, kafkaconn.Config{Brokers: []string{lp.Addr()}, Auth: kafkaconn.AuthPlaintext}, CauseBrokerTimeout, time.Second)
	})
	t.Run("advertised broker down", func(t *testing.T) {
		c.Broker(1).Down()
		c.Broker(2).Down()
		defer func() { _ = c.Broker(1).Up(); _ = c.Broker(2).Up() }()
		r := diagnose(t, cfg, CauseAdvertisedUnreachable, testTimeout)
		if ch, _ := r.Check("advertised 1"); ch.Status != Fail {
			t.Errorf("advertised 1: %+v", ch)
		}
	})
	t.Run("one bootstrap broker down is a warning", func(t *testing.T) {
		c.Broker(2).Down()
		defer func() { _ = c.Broker(2).Up() }()
		cfg := iamConfig(c)
		r := diagnose(t, cfg, CauseAdvertisedUnreachable, testTimeout)
		if ch, _ := r.Check("tcp " + c.Listener(2, emulator.IAM).Addr()); ch.Status != Warn {
			t.Errorf("tcp to the down broker: %+v", ch)
		}
	})
}

func TestReportJSON(t *testing.T) {
	r := Report{Cause: CauseDNS, Summary: "s", Fix: "f", Checks: []Check{{Name: "dns x", Status: Fail, Duration: 1500 * time.Millisecond, Detail: "d"}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"ok":false,"cause":"dns","summary":"s","fix":"f","checks":[{"name":"dns x","status":"fail","duration_ms":1500,"detail":"d"}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || back.Checks[0].Duration != 1500*time.Millisecond {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestCausesDocumented(t *testing.T) {
	for _, c := range Causes() {
		if d, ok := CauseInfo(c); !ok || d.Meaning == "" || d.Fix == "" {
			t.Errorf("cause %s undocumented", c)
		}
	}
	if len(Causes()) != 23 {
		t.Errorf("%d causes", len(Causes()))
	}
	_ = fmt.Sprint()
}

func TestLambda(t *testing.T) {
	c := startCluster(t)
	t.Setenv("MSK_BOOTSTRAP_SERVERS", c.Bootstrap(emulator.IAM))
	t.Setenv("MSK_REGION", c.Region())
	t.Setenv("MSK_TLS_CA_FILE", c.CAFile())
	t.Setenv("AWS_ACCESS_KEY_ID", emulator.DefaultAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", emulator.DefaultSecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := Lambda(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil || !r.OK {
		t.Fatalf("%v %s", err, raw)
	}
	if _, ok := r.Check("authz write_data"); !ok {
		t.Errorf("topic not used: %s", raw)
	}
	t.Setenv("MSK_BOOTSTRAP_SERVERS", "")
	raw, _ = Lambda(ctx, "")
	if err := json.Unmarshal(raw, &r); err != nil || r.Cause != CauseConfig {
		t.Errorf("%v %s", err, raw)
	}
}

func TestTroubleshootingDocumentsEveryCause(t *testing.T) {
	b, err := os.ReadFile("../docs/TROUBLESHOOTING.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Causes() {
		if !strings.Contains(string(b), "| `"+c+"` |") {
			t.Errorf("docs/TROUBLESHOOTING.md lacks a row for %s", c)
		}
	}
	if !strings.Contains(string(b), "Connection reset during recv") {
		t.Error("the kafka-python symptom is missing")
	}
}

// TestVerdictIgnoresVerboseMessages: the doctor reads only MSK's texts, so
// a broker that explains its refusals (the emulator with verbose
// messages) gets the same verdicts as MSK, which does not.
func TestVerdictIgnoresVerboseMessages(t *testing.T) {
	cases := []struct {
		name string
		opts []emulator.Opt
		cfg  func(*emulator.Cluster) kafkaconn.Config
		want string
	}{
		{"wrong region", nil, func(c *emulator.Cluster) kafkaconn.Config {
			cfg := iamConfig(c)
			cfg.Region = "eu-west-1"
			return cfg
		}, CauseTokenRegion},
		{"broker clock ahead", []emulator.Opt{emulator.WithClock(func() time.Time { return time.Now().Add(2 * time.Hour) })}, iamConfig, CauseClockSkew},
		{"no Connect", []emulator.Opt{emulator.WithIdentity(identity("AKIANOCONNECT0000001", policyWithout("Connect"), time.Time{}))},
			func(c *emulator.Cluster) kafkaconn.Config { return asIdentity(iamConfig(c), "AKIANOCONNECT0000001") }, CauseAuthDenied},
		{"wrong secret", nil, func(c *emulator.Cluster) kafkaconn.Config {
			cfg := iamConfig(c)
			cfg.Credentials = staticCreds(emulator.DefaultAccessKeyID, "wrong", "")
			return cfg
		}, CauseAuthDenied},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var summaries []string
			for _, verbose := range []bool{false, true} {
				opts := tc.opts
				if verbose {
					opts = append(opts[:len(opts):len(opts)], emulator.WithVerboseAuthErrors())
				}
				c := startCluster(t, opts...)
				r := diagnose(t, tc.cfg(c), tc.want, testTimeout)
				summaries = append(summaries, r.Summary)
			}
			if !strings.Contains(summaries[1], "]: Access denied: ") {
				t.Errorf("the verbose emulator's message is not in the summary: %s", summaries[1])
			}
		})
	}
}
