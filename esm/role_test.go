package esm

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// executionRolePolicy is the execution-role policy AWS documents for an
// MSK trigger with IAM (with-msk.html, "IAM role-based authentication"),
// plus, for the on-failure topic, DescribeTopic and WriteData
// (kafka-on-failure-destination.html), scoped to the emulator's cluster,
// topic, group and destination. readData false leaves out ReadData.
func executionRolePolicy(group string, readData bool) string {
	actions := []string{"kafka-cluster:Connect", "kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup",
		"kafka-cluster:DescribeTopic", "kafka-cluster:DescribeClusterDynamicConfiguration"}
	if readData {
		actions = append(actions, "kafka-cluster:ReadData")
	}
	const prefix = "arn:aws:kafka:us-east-1:000000000000:"
	doc := map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Effect": "Allow", "Action": actions, "Resource": []string{
			prefix + "cluster/local/*", prefix + "topic/local/*/orders", prefix + "group/local/*/" + group}},
		map[string]any{"Effect": "Allow", "Action": []string{"kafka-cluster:DescribeTopic", "kafka-cluster:WriteData"},
			"Resource": []string{prefix + "topic/local/*/orders-dlt"}},
	}}
	b, _ := json.Marshal(doc)
	return string(b)
}

// TestExecutionRolePolicy runs the mapping with the credentials of an
// identity allowed only what AWS's documented policy allows: it consumes,
// commits and writes to the on-failure topic. Without ReadData it stops
// with the authorization error.
func TestExecutionRolePolicy(t *testing.T) {
	t.Parallel()
	const group = "6d9bce8e-836b-442c-8070-74e77903c815"
	for _, readData := range []bool{true, false} {
		t.Run(fmt.Sprintf("ReadData=%v", readData), func(t *testing.T) {
			t.Parallel()
			c := startEmulator(t, map[string]int32{"orders": 2, "orders-dlt": 1}, emulator.WithIdentity(emulator.Identity{
				Name: "esm-role", ARN: "arn:aws:iam::000000000000:role/msk-trigger", AccessKeyID: "AKIAESMROLE000000000",
				SecretAccessKey: "esm-role-secret", Policies: []json.RawMessage{json.RawMessage(executionRolePolicy(group, readData))}}))
			admin := iamConfig(c, "orders")
			produceTo(t, admin, values(0, "ok", "poison")...)
			role := admin
			role.Credentials = credentials.NewStaticCredentialsProvider("AKIAESMROLE000000000", "esm-role-secret", "")
			f := newFnServer(t, func(ev *testEvent, n int) reply {
				if ev.has("poison") {
					return fail("poison")
				}
				return reply{body: "null"}
			})
			var logs testutil.SyncBuffer
			defer func() {
				if t.Failed() {
					t.Logf("esm logs:\n%s", logs.String())
				}
			}()
			m, err := New(role, WithFunction(f.function(t)), WithGroupID(group), WithStartingPosition(TrimHorizon),
				WithBisectBatchOnFunctionError(true), WithMaximumRetryAttempts(0), WithOnFailureTopic("orders-dlt"),
				WithRetryBackoff(time.Millisecond, time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- m.Run(ctx) }()
			if !readData {
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED") {
						t.Fatalf("Run: %v, want the fetch's TOPIC_AUTHORIZATION_FAILED", err)
					}
				case <-ctx.Done():
					t.Fatal("Run went on without ReadData")
				}
				return
			}
			onFailureMessages(t, iamConfig(c, "orders-dlt"), "orders-dlt", 1)
			waitFor(t, 30*time.Second, "committed", func() bool { return committed(t, admin, group)[0] == 2 })
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
		})
	}
}

// TestRandomFailures: 10,000 records through a function that fails at
// random (seeded): whole invocations, and records in partial batch
// responses. Every record is processed at least once, none is skipped, the
// group ends committed at the end of each partition.
func TestRandomFailures(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("10,000 records")
	}
	const n = 10000
	c := startEmulator(t, map[string]int32{"orders": 3})
	cfg := iamConfig(c, "orders")
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Value: fmt.Appendf(nil, "r-%05d", i)})
	}
	produce(t, cfg, recs...)
	var (
		mu        sync.Mutex
		rng       = rand.New(rand.NewPCG(8, 1))
		processed = map[string]int{}
	)
	f := newFnServer(t, func(ev *testEvent, _ int) reply {
		mu.Lock()
		defer mu.Unlock()
		if rng.IntN(20) == 0 {
			return fail("random failure of the whole batch")
		}
		var ids []ItemIdentifier
		for key, rs := range ev.Records {
			for _, r := range rs {
				if rng.IntN(50) == 0 {
					ids = append(ids, ItemIdentifier{key, r.Offset})
					continue
				}
				processed[r.value()]++
			}
		}
		return partial(ids...)
	})
	r := startESM(t, cfg, WithFunction(f.function(t)), WithReportBatchItemFailures(true), WithBisectBatchOnFunctionError(true),
		WithBatchSize(500), WithBatchingWindow(50*time.Millisecond))
	waitFor(t, 120*time.Second, "every record processed", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(processed) == n
	})
	waitFor(t, 60*time.Second, "committed to the end", func() bool {
		var sum int64
		for _, o := range committed(t, cfg, r.m.GroupID()) {
			sum += o
		}
		return sum == n
	})
	s := r.m.Stats()
	if s.GivenUp != 0 || s.Delivered != n || s.FailedInvocations == 0 {
		t.Errorf("stats %+v", s)
	}
	t.Logf("%d invocations, %d failed, %d records sent again", s.Invocations, s.FailedInvocations, s.Redelivered)
}
