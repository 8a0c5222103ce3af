package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/emulator"
)

// TestDoctorESMCommand: `msklink doctor --esm` against the emulator, as an
// identity allowed everything (passes) and as one whose policy lacks
// AlterGroup, then ReadData (each named with its cause code and the
// policy statement to add).
func TestDoctorESMCommand(t *testing.T) {
	cleanAWSEnv(t)
	const group = "6d9bce8e-836b-442c-8070-74e77903c815"
	const all = `"kafka-cluster:Connect","kafka-cluster:DescribeClusterDynamicConfiguration","kafka-cluster:DescribeTopic","kafka-cluster:DescribeGroup"`
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3),
		emulator.WithIdentity(limited("AKIACLINOALTERGROUP1", all+`,"kafka-cluster:ReadData"`)),
		emulator.WithIdentity(limited("AKIACLINOREADDATA001", all+`,"kafka-cluster:AlterGroup"`)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := []string{"--bootstrap", c.Bootstrap(emulator.IAM), "--region", c.Region(), "--ca-file", c.CAFile(), "--timeout", "3s"}
	as := func(akid, secret string) {
		t.Setenv("AWS_ACCESS_KEY_ID", akid)
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	}

	as(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey)
	out, errOut, code := runCLI(t, "", append([]string{"doctor", "--esm", "--topic", "orders", "--group", group}, conn...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"pass  authz describe_configs", "pass  authz group_describe", "pass  authz read_data", "pass  authz group_commit", "OK: every check passed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "write_data") {
		t.Errorf("the ESM check writes:\n%s", out)
	}

	for _, tc := range []struct{ akid, cause, check, statement string }{
		{"AKIACLINOALTERGROUP1", "authz_group", "fail  authz group_commit", `"ConsumerGroups" statement`},
		{"AKIACLINOREADDATA001", "authz_read", "fail  authz read_data", `"ReadTopics" statement`},
	} {
		as(tc.akid, "secret-"+tc.akid)
		out, _, code := runCLI(t, "", append([]string{"doctor", "--esm", "--topic", "orders", "--group", group}, conn...)...)
		if code != 1 || !strings.Contains(out, "PROBLEM ("+tc.cause+")") || !strings.Contains(out, tc.check) || !strings.Contains(out, tc.statement) ||
			!strings.Contains(out, "msklink policy generate --esm --cluster-arn ARN --topic orders --group "+group) {
			t.Errorf("%s: exit %d\n%s", tc.akid, code, out)
		}
		out, _, _ = runCLI(t, "", append([]string{"doctor", "--esm", "--json", "--topic", "orders", "--group", group}, conn...)...)
		checkDoctorJSON(t, out, false, tc.cause)
	}

	for _, args := range [][]string{
		{"doctor", "--esm", "--bootstrap", "127.0.0.1:1"},
		{"doctor", "--esm", "--topic", "t", "--produce", "--bootstrap", "127.0.0.1:1"},
	} {
		if _, errOut, code := runCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}
