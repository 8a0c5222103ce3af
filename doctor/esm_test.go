package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

const esmGroup = "6d9bce8e-836b-442c-8070-74e77903c815"

// esmPolicyWithout is the kafka-cluster part of the execution-role policy
// of an event source mapping for topic orders and esmGroup on the
// emulator's cluster, without the actions named (e.g. "AlterGroup").
func esmPolicyWithout(t *testing.T, without ...string) json.RawMessage {
	t.Helper()
	def := emulator.DefaultConfig()
	arn, err := iampolicy.ParseClusterARN(fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s", def.Region, def.AccountID, def.ClusterName, def.ClusterUUID))
	if err != nil {
		t.Fatal(err)
	}
	p := iampolicy.Generate(arn, iampolicy.ESMWorkload{Topics: []string{"orders"}, Group: esmGroup}.Workload())
	for i := range p.Statements {
		p.Statements[i].Action = slices.DeleteFunc(p.Statements[i].Action, func(a string) bool {
			return slices.Contains(without, strings.TrimPrefix(a, "kafka-cluster:"))
		})
	}
	p.Statements = slices.DeleteFunc(p.Statements, func(st iampolicy.Statement) bool { return len(st.Action) == 0 })
	if len(p.Statements) == 0 {
		return json.RawMessage(`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kafka-cluster:*","Resource":"*"}]}`)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDoctorESM: the event source mapping's checks find each missing
// action of its execution role, name it with its cause code, and fix it
// with the statement of `msklink policy generate --esm` that grants it;
// with the whole policy they pass without disturbing the mapping's group
// (a member consuming in it keeps its generation, the committed offset
// stays).
func TestDoctorESM(t *testing.T) {
	ids := []struct {
		akid, without, cause, check, sid string
	}{
		{"AKIAESMFULL000000001", "", CauseOK, "", ""},
		{"AKIAESMNOCONNECT0001", "Connect", CauseAuthDenied, "sasl", ""},
		{"AKIAESMNOCONFIG00001", "DescribeClusterDynamicConfiguration", CauseAuthzClusterConfig, "authz describe_configs", `"Cluster" statement`},
		{"AKIAESMNODESCTOPIC01", "DescribeTopic", CauseAuthzTopic, "authz describe_topic", `"ReadTopics" statement`},
		{"AKIAESMNODESCGROUP01", "DescribeGroup", CauseAuthzGroup, "authz group_describe", `"ConsumerGroups" statement`},
		{"AKIAESMNOREADDATA001", "ReadData", CauseAuthzRead, "authz read_data", `"ReadTopics" statement`},
		{"AKIAESMNOALTERGROUP1", "AlterGroup", CauseAuthzGroup, "authz group_commit", `"ConsumerGroups" statement`},
	}
	var opts []emulator.Opt
	for _, id := range ids {
		opts = append(opts, emulator.WithIdentity(identity(id.akid, esmPolicyWithout(t, id.without), time.Time{})))
	}
	c := startCluster(t, opts...)

	// A consumer of the group (the mapping) that committed offset 2 of
	// partition 0 and stays a member.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := kafkaconn.NewClient(ctx, iamConfig(c), kafkaconn.WithClientOpts(kgo.RecordPartitioner(kgo.ManualPartitioner())))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for i := range 3 {
		if err := admin.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: fmt.Appendf(nil, "r%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	member, err := kafkaconn.NewClient(ctx, iamConfig(c), kafkaconn.WithClientOpts(kgo.ConsumerGroup(esmGroup), kgo.ConsumeTopics("orders"),
		kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	var done []*kgo.Record
	for len(done) < 2 {
		fs := member.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming as the group's member: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(done) < 2 && r.Partition == 0 {
				done = append(done, r)
			}
		})
	}
	if err := member.CommitRecords(ctx, done...); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admin)
	groupState := func() string {
		t.Helper()
		dg, err := adm.DescribeGroups(ctx, esmGroup)
		if err != nil {
			t.Fatal(err)
		}
		g := dg[esmGroup]
		offs, err := adm.FetchOffsets(ctx, esmGroup)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup("orders", 0)
		return fmt.Sprintf("state %s, %d member(s), committed %d", g.State, len(g.Members), o.At)
	}
	before := groupState()
	if !strings.Contains(before, "committed 2") || !strings.Contains(before, "1 member(s)") {
		t.Fatalf("setup: %s", before)
	}

	for _, id := range ids {
		name := "full policy"
		if id.without != "" {
			name = "without " + id.without
		}
		t.Run(name, func(t *testing.T) {
			r := diagnose(t, asIdentity(iamConfig(c), id.akid), id.cause, testTimeout, WithTopic("orders"), WithGroup(esmGroup), WithESM(true))
			for _, n := range []string{"authz write_data", "authz write_idempotent"} {
				if _, ran := r.Check(n); ran {
					t.Errorf("%s ran: the mapping does not write", n)
				}
			}
			if id.cause == CauseOK {
				for _, n := range []string{"authz describe_topic", "authz describe_configs", "authz group_describe", "authz read_data", "authz group_commit"} {
					if ch, ok := r.Check(n); !ok || ch.Status != Pass {
						t.Errorf("%s: %+v", n, ch)
					}
				}
				if ch, _ := r.Check("authz group_describe"); !strings.Contains(ch.Detail, "0=2") {
					t.Errorf("group_describe does not show the committed offset: %s", ch.Detail)
				}
				return
			}
			if ch, ok := r.Check(id.check); !ok || ch.Status != Fail {
				if id.check != "sasl" {
					t.Errorf("%s: %+v", id.check, ch)
				}
			}
			if !strings.Contains(r.Summary, id.without) {
				t.Errorf("summary does not name %s: %s", id.without, r.Summary)
			}
			if id.sid != "" && (!strings.Contains(r.Fix, id.sid) || !strings.Contains(r.Fix, "msklink policy generate --esm") || !strings.Contains(r.Fix, "--group "+esmGroup)) {
				t.Errorf("fix does not name the statement %s: %s", id.sid, r.Fix)
			}
		})
	}
	if after := groupState(); after != before {
		t.Errorf("the doctor disturbed the group: before %s, after %s", before, after)
	}
}

func TestDoctorESMWithoutGroup(t *testing.T) {
	c := startCluster(t)
	r := diagnose(t, iamConfig(c), CauseOK, testTimeout, WithTopic("orders"), WithESM(true))
	if ch, _ := r.Check("authz group"); ch.Status != Skip || !strings.Contains(ch.Detail, "UUID") {
		t.Errorf("group check %+v", ch)
	}
	if ch, _ := r.Check("authz read_data"); ch.Status != Pass {
		t.Errorf("read_data %+v", ch)
	}
}
