package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

// esmLikeConsumer does on the cluster what Lambda's event source mapping
// does with its execution role: read the brokers' dynamic configuration
// (DescribeConfigs), consume the topic in a consumer group and commit the
// offsets (FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, Fetch,
// OffsetCommit), and, with an on-failure topic, produce the failed record
// there. It returns the first thing that fails.
func esmLikeConsumer(ctx context.Context, cfg kafkaconn.Config, topic, group, onFailure string) error {
	cfg.DisableIdempotence = true // the policy grants no WriteDataIdempotently
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	admin, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.DisableClientMetrics()))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer admin.Close()
	cfgs, err := kadm.NewClient(admin).DescribeBrokerConfigs(ctx)
	if err == nil {
		for _, rc := range cfgs {
			if rc.Err != nil {
				err = rc.Err
				break
			}
		}
	}
	if err != nil {
		return fmt.Errorf("describe broker configs: %w", err)
	}

	cl, err := kafkaconn.NewClient(ctx, cfg, kafkaconn.WithClientOpts(kgo.DisableClientMetrics(),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond)))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for len(recs) == 0 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return fmt.Errorf("consume: %w", err)
		}
		recs = fs.Records()
	}
	if err := cl.CommitRecords(ctx, recs...); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if onFailure != "" {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: onFailure, Value: recs[0].Value}).FirstErr(); err != nil {
			return fmt.Errorf("produce to the on-failure topic: %w", err)
		}
	}
	return nil
}

// TestPolicyGenerateESMAgainstEmulator: the policy `msklink policy generate
// --esm` prints lets an identity do everything the event source mapping
// does on the emulator, and without any one of its kafka-cluster actions
// the mapping's work fails.
func TestPolicyGenerateESMAgainstEmulator(t *testing.T) {
	cleanAWSEnv(t)
	const topic, group, dlt = "orders", "6d9bce8e-836b-442c-8070-74e77903c815", "orders-failed"
	def := emulator.DefaultConfig()
	clusterARN := fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s", def.Region, def.AccountID, def.ClusterName, def.ClusterUUID)
	out, errOut, code := runCLI(t, "", "policy", "generate", "--esm", "--cluster-arn", clusterARN,
		"--topic", topic, "--group", group, "--on-failure-topic", dlt, "--function-name", "order-consumer")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	full, err := iampolicy.Parse([]byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	// One identity with the whole policy, and one per kafka-cluster action
	// left out.
	type variant struct {
		akid, without, sid string
		policy             *iampolicy.Policy
	}
	variants := []variant{{akid: "AKIAESMFULLPOLICY001", policy: full}}
	for si, st := range full.Statements {
		for ai, a := range st.Action {
			if !strings.HasPrefix(a, "kafka-cluster:") {
				continue
			}
			q := *full
			q.Statements = slices.Clone(full.Statements)
			q.Statements[si].Action = slices.Delete(slices.Clone(st.Action), ai, ai+1)
			variants = append(variants, variant{akid: fmt.Sprintf("AKIAESMWITHOUT%06d", len(variants)), without: a, sid: st.Sid, policy: &q})
		}
	}
	if len(variants) != 9 {
		t.Fatalf("%d variants, want the full policy and 8 without one action", len(variants))
	}
	opts := []emulator.Opt{emulator.Ephemeral(), emulator.WithTopic(topic, 2), emulator.WithTopic(dlt, 1)}
	for _, v := range variants {
		b, err := json.Marshal(v.policy)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, emulator.WithIdentity(emulator.Identity{Name: v.akid, ARN: "arn:aws:iam::000000000000:role/" + v.akid,
			AccessKeyID: v.akid, SecretAccessKey: "secret-" + v.akid, Policies: []json.RawMessage{b}}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ClusterARN() != clusterARN {
		t.Fatalf("cluster ARN %s, generated for %s", c.ClusterARN(), clusterARN)
	}
	admin := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), Auth: kafkaconn.AuthIAM, Region: c.Region(), TLSCAFile: c.CAFile(),
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	pc, err := kafkaconn.NewClient(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()

	for _, v := range variants {
		name := "full policy"
		if v.without != "" {
			name = "without " + v.without + " in " + v.sid
		}
		t.Run(name, func(t *testing.T) {
			// A new record, past what an earlier variant committed.
			if err := pc.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("order")}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			cfg := admin
			cfg.Credentials = credentials.NewStaticCredentialsProvider(v.akid, "secret-"+v.akid, "")
			err := esmLikeConsumer(context.Background(), cfg, topic, group, dlt)
			switch {
			case v.without == "" && err != nil:
				t.Fatalf("the generated policy does not let the mapping work: %v", err)
			case v.without != "" && err == nil:
				t.Fatalf("the mapping works without %s: the policy grants more than it needs", v.without)
			case v.without != "":
				t.Logf("fails as expected: %v", err)
				if errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("failed by timeout, not by a denial: %v", err)
				}
			}
		})
	}
}

func TestPolicyESMCommandLine(t *testing.T) {
	out, errOut, code := runCLI(t, "", "policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "orders", "--group", "esm-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{`"kafka:DescribeClusterV2"`, `"ec2:CreateNetworkInterface"`, `"logs:PutLogEvents"`, "kafka-cluster:DescribeClusterDynamicConfiguration", "group/demo/0b7c1a5e-1111-2222-3333-444455556666-2/esm-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, "kafka-cluster:WriteData") {
		t.Errorf("WriteData without an on-failure topic:\n%s", out)
	}
	// check --esm evaluates the kafka-cluster part: the managed policy
	// AWSLambdaMSKExecutionRole alone grants none of it.
	dir := t.TempDir()
	managed := dir + "/managed.json"
	writeFile(t, managed, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kafka:DescribeCluster","kafka:DescribeClusterV2","kafka:GetBootstrapBrokers","ec2:CreateNetworkInterface","ec2:DescribeNetworkInterfaces","ec2:DescribeVpcs","ec2:DeleteNetworkInterface","ec2:DescribeSubnets","ec2:DescribeSecurityGroups","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}`)
	out, _, code = runCLI(t, "", "policy", "check", "--esm", "--policy", managed, "--cluster-arn", testClusterARN, "--topic", "orders", "--group", "esm-1")
	if code != 1 || strings.Count(out, "missing  kafka-cluster:") != 6 {
		t.Errorf("check of the managed policy: exit %d\n%s", code, out)
	}
	generated := dir + "/esm.json"
	gen, _, _ := runCLI(t, "", "policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "orders", "--group", "esm-1")
	writeFile(t, generated, gen)
	if out, _, code := runCLI(t, "", "policy", "check", "--esm", "--policy", managed, "--policy", generated, "--cluster-arn", testClusterARN, "--topic", "orders", "--group", "esm-1"); code != 0 {
		t.Errorf("check of the generated policy: exit %d\n%s", code, out)
	}

	for _, bad := range [][]string{
		{"policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--group", "g"},
		{"policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "t"},
		{"policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "t", "--group", "g", "--on-failure-topic", "t"},
		{"policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "t", "--group", "g", "--produce", "x"},
		{"policy", "generate", "--esm", "--cluster-arn", testClusterARN, "--topic", "t", "--group", "g", "--group", "h"},
		{"policy", "generate", "--esm", "--topic", "t", "--group", "g"},
		{"policy", "generate", "--cluster-arn", testClusterARN, "--topic", "t", "--group", "g"},
	} {
		if _, errOut, code := runCLI(t, "", bad...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", bad, code, errOut)
		} else {
			t.Logf("%v: %s", bad[2:], strings.TrimSpace(errOut))
		}
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPolicyCheckESMWholeRole: check --esm evaluates the whole execution
// role, not only its kafka-cluster statements, and names the part each
// missing permission belongs to.
func TestPolicyCheckESMWholeRole(t *testing.T) {
	dir := t.TempDir()
	esm := []string{"--cluster-arn", testClusterARN, "--topic", "orders", "--group", "esm-1", "--function-name", "order-consumer"}
	kafkaOnly, errOut, code := runCLI(t, "", append([]string{"policy", "generate"}, append(esm[:2:2], "--consume", "orders", "--group", "esm-1")...)...)
	if code != 0 {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	// The generator's kafka-cluster statements are what --esm needs of
	// the data plane, plus DescribeClusterDynamicConfiguration.
	kafkaOnly = strings.Replace(kafkaOnly, `"kafka-cluster:Connect"`, `"kafka-cluster:Connect", "kafka-cluster:DescribeClusterDynamicConfiguration"`, 1)
	writeFile(t, dir+"/kafka.json", kafkaOnly)
	managed := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kafka:DescribeCluster","kafka:DescribeClusterV2","kafka:GetBootstrapBrokers","ec2:CreateNetworkInterface","ec2:DescribeNetworkInterfaces","ec2:DescribeVpcs","ec2:DeleteNetworkInterface","ec2:DescribeSubnets","ec2:DescribeSecurityGroups","logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}`
	writeFile(t, dir+"/managed.json", managed)
	writeFile(t, dir+"/v1.json", strings.Replace(managed, `"kafka:DescribeClusterV2",`, "", 1))
	writeFile(t, dir+"/nologs.json", strings.Replace(managed, `,"logs:CreateLogGroup","logs:CreateLogStream","logs:PutLogEvents"`, "", 1))

	tests := []struct {
		name     string
		policies []string
		code     int
		want     []string // in the text output
		parts    []string // of the JSON findings, in order, without repeats
	}{
		{"kafka-cluster statements only", []string{"kafka.json"}, 1,
			[]string{"MSK control plane:", "kafka:DescribeClusterV2", "kafka:GetBootstrapBrokers", "VPC networking:", "ec2:CreateNetworkInterface", "ec2:DescribeVpcs", "logs:", "logs:PutLogEvents", "13 permission(s) missing: MSK control plane, VPC networking, logs"},
			[]string{"MSK control plane", "VPC networking", "logs"}},
		{"managed policy only", []string{"managed.json"}, 1,
			[]string{"Kafka data plane:", "kafka-cluster:ReadData", "6 permission(s) missing: Kafka data plane"},
			[]string{"Kafka data plane"}},
		{"no logs", []string{"kafka.json", "nologs.json"}, 1,
			[]string{"logs:\n  missing  logs:CreateLogGroup", "3 permission(s) missing: logs"},
			[]string{"logs"}},
		{"whole role", []string{"kafka.json", "managed.json"}, 0, []string{"OK: the policies allow every action"}, nil},
		{"DescribeCluster without V2", []string{"kafka.json", "v1.json"}, 0,
			[]string{"warning: kafka:DescribeClusterV2", "kafka:DescribeCluster", "serverless", "OK: the policies allow every action"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"policy", "check", "--esm"}, esm...)
			for _, p := range tt.policies {
				args = append(args, "--policy", dir+"/"+p)
			}
			out, errOut, code := runCLI(t, "", args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in\n%s", w, out)
				}
			}
			t.Logf("\n%s", out)
			out, _, code = runCLI(t, "", append(args, "--json")...)
			if code != tt.code {
				t.Errorf("--json: exit %d, want %d", code, tt.code)
			}
			var res struct {
				OK      bool `json:"ok"`
				Missing []struct {
					Action, Part string
				} `json:"missing"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var parts []string
			for _, m := range res.Missing {
				if len(parts) == 0 || parts[len(parts)-1] != m.Part {
					parts = append(parts, m.Part)
				}
			}
			if res.OK != (tt.code == 0) || fmt.Sprint(parts) != fmt.Sprint(tt.parts) {
				t.Errorf("--json: ok %v, parts %v, want %v\n%s", res.OK, parts, tt.parts, out)
			}
		})
	}
}
