// Package testutil holds helpers shared by msklink's tests: AWS
// environment isolation, a concurrent-safe buffer, a read-back consumer,
// and a harness that builds a Lambda bootstrap and runs it under AWS's
// Runtime Interface Emulator (StartRIE). It imports the standard library
// and franz-go only (no msklink package), so the tests of every package
// may use it.
package testutil

import (
	"bytes"
	"context"
	"sort"
	"time"

	"path/filepath"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// EmptyAWSEnv returns environment settings that leave the AWS SDK nothing
// to find: no credentials or region variables, config and credentials files
// in dir (which need not exist), and the EC2 instance metadata service
// disabled, so a test never reaches a real account or the network.
func EmptyAWSEnv(dir string) map[string]string {
	return map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_ROLE_ARN": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
	}
}

// IsolateAWS applies EmptyAWSEnv for the rest of the test (t.Setenv), with
// a fresh temporary directory for the config files. It returns that
// directory, for tests that write a config or credentials file there.
func IsolateAWS(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	for k, v := range EmptyAWSEnv(dir) {
		t.Setenv(k, v)
	}
	return dir
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers: a sink for the
// logs of servers and clients running in a test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ConsumeN reads records from the start of the topics opts consume (with
// kgo.ConsumeTopics) until it has at least n, failing t if that takes
// longer than timeout. It then reads for linger more, so that records
// beyond n (duplicates, strays) show up, and returns everything sorted by
// partition and offset.
func ConsumeN(t testing.TB, opts []kgo.Opt, n int, timeout, linger time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records in %s", len(got), n, timeout)
		}
		got = append(got, fs.Records()...)
	}
	if linger > 0 {
		lctx, lcancel := context.WithTimeout(context.Background(), linger)
		got = append(got, cl.PollFetches(lctx).Records()...)
		lcancel()
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].Partition != got[j].Partition {
			return got[i].Partition < got[j].Partition
		}
		return got[i].Offset < got[j].Offset
	})
	return got
}
