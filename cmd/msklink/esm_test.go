package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// buildMsklink builds this command into a temporary directory.
func buildMsklink(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "msklink")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestESMKilledMidBatch kills `msklink esm` (SIGKILL) while the function
// holds a batch, and starts it again with the same group id: the batch,
// never committed, is delivered again, and then committed.
func TestESMKilledMidBatch(t *testing.T) {
	bin := buildMsklink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 2), emulator.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := kafkaconn.Config{Brokers: c.BootstrapAddrs(emulator.IAM), Region: c.Region(), TLSCAFile: c.CAFile(), Topic: "orders",
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	cl, err := kafkaconn.NewClient(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var want []string
	for i := range 20 {
		v := fmt.Sprintf("order-%02d", i)
		want = append(want, v)
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	// The function holds its first event until the process is killed.
	var (
		mu      sync.Mutex
		events  [][]string
		release = make(chan struct{})
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Records map[string][]struct{ Value string }
		}
		json.Unmarshal(body, &ev)
		var vals []string
		for _, rs := range ev.Records {
			for _, rec := range rs {
				b, _ := base64.StdEncoding.DecodeString(rec.Value)
				vals = append(vals, string(b))
			}
		}
		sort.Strings(vals)
		mu.Lock()
		events = append(events, vals)
		first := len(events) == 1
		mu.Unlock()
		if first {
			select {
			case <-release:
			case <-r.Context().Done(): // the caller died
			}
		}
		io.WriteString(w, "null")
	}))
	defer srv.Close()
	defer close(release)
	got := func() [][]string {
		mu.Lock()
		defer mu.Unlock()
		return append([][]string(nil), events...)
	}

	const group = "0f8fad5b-d9cb-469f-a165-70867728950e"
	env := os.Environ()
	for k, v := range testutil.EmptyAWSEnv(t.TempDir()) {
		env = append(env, k+"="+v)
	}
	env = append(env, "MSK_BOOTSTRAP_SERVERS="+c.Bootstrap(emulator.IAM), "MSK_TLS_CA_FILE="+c.CAFile(), "MSK_REGION="+c.Region(),
		"AWS_ACCESS_KEY_ID="+emulator.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY="+emulator.DefaultSecretAccessKey)
	start := func() (*exec.Cmd, *testutil.SyncBuffer) {
		cmd := exec.Command(bin, "esm", "--topic", "orders", "--function", srv.URL, "--group-id", group,
			"--starting-position", "TRIM_HORIZON", "--batching-window", "1s")
		cmd.Env = env
		out := &testutil.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	wait := func(what string, cond func() bool, out *testutil.SyncBuffer) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; msklink esm output:\n%s", what, out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	commits := func() map[int32]int64 {
		resp, err := kadm.NewClient(cl).FetchOffsets(ctx, group)
		out := map[int32]int64{}
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			t.Fatal(err)
		}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Err == nil {
				out[o.Partition] = o.At
			}
		})
		return out
	}

	cmd, out := start()
	wait("the first event", func() bool { return len(got()) == 1 }, out)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if n := len(got()[0]); n != 20 {
		t.Fatalf("the first event held %d records, want the 20", n)
	}
	// The mapping's first start commits each partition at its starting
	// position (TRIM_HORIZON: 0); nothing past it, since the function
	// never answered.
	for p, at := range commits() {
		if at != 0 {
			t.Fatalf("partition %d committed at %d though the function never answered", p, at)
		}
	}

	cmd, out = start()
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	wait("everything committed", func() bool {
		c := commits()
		return c[0]+c[1] == 20
	}, out)
	evs := got()
	var again []string
	for _, ev := range evs[1:] {
		again = append(again, ev...)
	}
	sort.Strings(again)
	if !reflect.DeepEqual(again, want) {
		t.Errorf("after the restart the function got %v, want the uncommitted batch again: %v", again, want)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("msklink esm after Ctrl-C: %v\n%s", err, out.String())
	}
}
