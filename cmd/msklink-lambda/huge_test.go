package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
	"github.com/msklink/msklink/kafkaconn"
	"github.com/twmb/franz-go/pkg/kadm"
)

// TestRIEHugeDirectInvoke: a direct invoke of 140,000 records, whose full
// answer (a result per record) would pass Lambda's 6 MB response limit,
// is answered in the compact form under the Runtime Interface Emulator:
// the answer fits, names exactly the records not acked (three larger
// than franz-go's batch limit, which fail alone), and the same bootstrap
// process serves the next invocation. Before, the Runtime API refused the
// answer (413) and the bootstrap exited with every outcome lost.
func TestRIEHugeDirectInvoke(t *testing.T) {
	rieBinary(t)
	c, _ := startEmulator(t)
	// The topic takes records of up to 4 MiB, so that the handler's size
	// check passes the large ones and franz-go's own limit (1,000,012
	// bytes a batch) fails them, each alone.
	setTopicMaxBytes(t, iamConfig(c), topic, 4<<20)
	r := startRIE(t, c, buildBootstrap(t, runtime.GOARCH), 300)

	const n = 140_000
	big := map[int]bool{7: true, 8: true, n - 1: true}
	var p bytes.Buffer
	p.WriteString(`{"records":[`)
	for i := range n {
		if i > 0 {
			p.WriteByte(',')
		}
		if big[i] {
			p.WriteString(`{"value":"` + strings.Repeat("x", 1_050_000) + `"}`)
			continue
		}
		p.WriteString(`{"value":"` + strconv.Itoa(i) + `"}`)
	}
	p.WriteString(`]}`)
	t.Logf("event: %d records, %d bytes", n, p.Len())
	// RIE starts the bootstrap at the first invoke.
	if d := decodeDirect(t, first(r.Invoke(t, directPayload("before"), time.Minute))); d.Acked != 1 {
		t.Fatalf("first invoke: %+v", d)
	}
	pids := r.BootstrapPIDs()
	if len(pids) == 0 {
		t.Fatal("no bootstrap process")
	}

	out, el := r.Invoke(t, p.Bytes(), 5*time.Minute)
	t.Logf("answer in %v: %d bytes: %.600s", el.Round(time.Millisecond), len(out), out)
	var resp struct {
		Compact                             bool
		Records, Acked, Failed, Unconfirmed int
		Errors                              []struct {
			Error     string
			Retriable bool
		}
		NotAcked  [][3]int
		ErrorType string
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if resp.ErrorType != "" || !resp.Compact || len(out) > 6<<20 {
		t.Fatalf("not a compact answer under 6 MiB: %d bytes, %.300s", len(out), out)
	}
	if resp.Records != n || resp.Acked != n-3 || resp.Failed != 3 || resp.Unconfirmed != 0 {
		t.Errorf("counts: %d records, %d acked, %d failed, %d unconfirmed", resp.Records, resp.Acked, resp.Failed, resp.Unconfirmed)
	}
	if fmt.Sprint(resp.NotAcked) != fmt.Sprint([][3]int{{7, 8, 0}, {n - 1, n - 1, 0}}) || len(resp.Errors) != 1 ||
		!strings.Contains(resp.Errors[0].Error, "MESSAGE_TOO_LARGE") || resp.Errors[0].Retriable {
		t.Errorf("not acked %v, errors %+v: want records 7, 8 and %d, MESSAGE_TOO_LARGE, not retriable", resp.NotAcked, resp.Errors, n-1)
	}
	if got := r.BootstrapPIDs(); !slices.Equal(got, pids) {
		t.Fatalf("bootstrap processes %v, before the invoke %v: the bootstrap did not survive", got, pids)
	}

	// The same process serves on.
	out, _ = r.Invoke(t, directPayload("after"), time.Minute)
	if d := decodeDirect(t, out); d.Acked != 1 {
		t.Fatalf("next invoke: %s", out)
	}
	if got := r.BootstrapPIDs(); !slices.Equal(got, pids) {
		t.Errorf("bootstrap processes %v after the next invoke, %v before", got, pids)
	}
	// Exactly the records acked were written, once.
	if got := endOffsetSum(t, iamConfig(c)); got != n-3+2 {
		t.Errorf("%d records written, want %d", got, n-3+2)
	}
}

func first(b []byte, _ time.Duration) []byte { return b }

func setTopicMaxBytes(t *testing.T, cfg kafkaconn.Config, topic string, n int) {
	t.Helper()
	testutil.SetMaxMessageBytes(t, newAdmin(t, cfg), topic, n)
}

func endOffsetSum(t *testing.T, cfg kafkaconn.Config) int64 {
	t.Helper()
	return testutil.EndOffsetSum(t, newAdmin(t, cfg), topic)
}

func newAdmin(t *testing.T, cfg kafkaconn.Config) *kadm.Client {
	t.Helper()
	opts, err := kafkaconn.ClientOpts(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.Admin(t, opts...)
}
