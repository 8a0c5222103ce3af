package doctor

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

// The texts as Lambda shows them (see explain_esm.go for the sources),
// with the cause Explain must list first.
var esmTexts = []struct{ name, text, first string }{
	{"authorize", "PROBLEM: Cluster failed to authorize Lambda.", CauseAuthzGroup},
	{"sasl", "PROBLEM: SASL authentication failed.", CauseAuthDenied},
	{"connection", "PROBLEM: Connection error. Please check your event source connection configuration.", CauseTCPTimeout},
	{"vpc", "PROBLEM: Connection error. Your VPC must be able to connect to Lambda and STS, as well as Secrets Manager if authentication is required. You can provide access by configuring PrivateLink or a NAT Gateway.", CauseTCPTimeout},
	{"server authn", "PROBLEM: Server failed to authenticate Lambda.", CauseAuthDenied},
	{"lambda authn", "PROBLEM: Lambda failed to authenticate server.", CauseTLSUntrusted},
	{"certificate", "PROBLEM: Provided certificate or private key is invalid.", CauseConfig},
	{"authz code", "EVENT_SOURCE_AUTHZ_ERROR", CauseAuthzGroup},
	{"authn code", "EVENT_SOURCE_AUTHN_ERROR", CauseAuthDenied},
	{"esm config code", "ESM_CONFIG_NOT_VALID", CauseConfig},
	{"function config code", "FUNCTION_CONFIG_NOT_VALID", CauseConfig},
}

func TestExplainESM(t *testing.T) {
	for _, tc := range esmTexts {
		ex := Explain(tc.text)
		if len(ex) == 0 || ex[0].Client != esmClient || len(ex[0].Causes) == 0 {
			t.Errorf("%q: %+v", tc.text, ex)
			continue
		}
		if got := ex[0].Causes[0].Cause; got != tc.first {
			t.Errorf("%q: first cause %s, want %s", tc.text, got, tc.first)
		}
		for _, c := range ex[0].Causes {
			if !strings.HasPrefix(c.Confirm, "msklink doctor --esm ") || c.Why == "" {
				t.Errorf("%q: cause %s: confirm %q", tc.text, c.Cause, c.Confirm)
			}
			if _, ok := CauseInfo(c.Cause); !ok {
				t.Errorf("%q: unknown cause %s", tc.text, c.Cause)
			}
		}
	}
	// The ESM's specific texts do not capture other clients' messages.
	if ex := Explain("kafka server: SASL Authentication failed"); len(ex) == 0 || ex[0].Client == esmClient {
		t.Errorf("sarama's text explained as the mapping's: %+v", ex)
	}
}

// TestExplainESMConfirmedByDoctor: for each text, the doctor command it
// proposes, run against the emulator in a setup that makes the mapping
// show that text, reports one of the causes Explain lists.
func TestExplainESMConfirmedByDoctor(t *testing.T) {
	denials := []struct{ akid, without string }{
		{"AKIAXESMNOALTER00001", "AlterGroup"},
		{"AKIAXESMNODESCGROUP1", "DescribeGroup"},
		{"AKIAXESMNOREAD000001", "ReadData"},
		{"AKIAXESMNODESCTOPIC1", "DescribeTopic"},
		{"AKIAXESMNOCONFIG0001", "DescribeClusterDynamicConfiguration"},
		{"AKIAXESMNOCONNECT001", "Connect"},
	}
	var opts []emulator.Opt
	for _, d := range denials {
		opts = append(opts, emulator.WithIdentity(identity(d.akid, esmPolicyWithout(t, d.without), time.Time{})))
	}
	c := startCluster(t, opts...)
	explained := func(t *testing.T, text string, r Report) {
		t.Helper()
		for _, e := range Explain(text) {
			for _, l := range e.Causes {
				if l.Cause == r.Cause {
					return
				}
			}
		}
		t.Errorf("the doctor reports %s (%s), which Explain(%q) does not list", r.Cause, r.Summary, text)
	}
	esm := []Opt{WithTopic("orders"), WithGroup(esmGroup), WithESM(true)}
	for _, d := range denials {
		text := "PROBLEM: Cluster failed to authorize Lambda."
		if d.without == "Connect" {
			text = "PROBLEM: SASL authentication failed."
		}
		t.Run("without "+d.without, func(t *testing.T) {
			r := Run(t.Context(), asIdentity(iamConfig(c), d.akid), append([]Opt{WithTimeout(testTimeout)}, esm...)...)
			if r.OK {
				t.Fatalf("OK without %s", d.without)
			}
			explained(t, text, r)
		})
	}
	t.Run("closed port", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		cfg := iamConfig(c)
		cfg.Brokers = []string{addr}
		explained(t, "PROBLEM: Connection error. Please check your event source connection configuration.", Run(t.Context(), cfg, append([]Opt{WithTimeout(testTimeout)}, esm...)...))
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		cfg := iamConfig(c)
		cfg.TLSCAFile = ""
		explained(t, "PROBLEM: Lambda failed to authenticate server.", Run(t.Context(), cfg, append([]Opt{WithTimeout(testTimeout)}, esm...)...))
	})
}
