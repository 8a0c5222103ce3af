package cli

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/msklink/msklink/internal/testutil"
)

// TestProgress: on a terminal the progress line is drawn twice a second,
// messages go above it and Stop erases it; elsewhere only the messages
// are written.
func TestProgress(t *testing.T) {
	for _, on := range []bool{true, false} {
		var w testutil.SyncBuffer
		p := newProgress(&w, on)
		p.Start(func(time.Duration) string { return "msklink: 42 records" })
		if on {
			for wait := time.Now().Add(10 * time.Second); !strings.Contains(w.String(), "42 records") && time.Now().Before(wait); {
				time.Sleep(50 * time.Millisecond)
			}
		} else {
			time.Sleep(700 * time.Millisecond) // when it would have been drawn
		}
		p.Printf("line %d: failed\n", 7)
		p.Stop()
		got := w.String()
		want := "line 7: failed\n"
		if on {
			if !strings.HasPrefix(got, "\r\033[Kmsklink: 42 records") || !strings.Contains(got, "\r\033[Kline 7: failed\n") {
				t.Errorf("terminal: %q", got)
			}
			continue
		}
		if got != want {
			t.Errorf("not a terminal: %q, want %q", got, want)
		}
	}
	if isTerminal(&testutil.SyncBuffer{}) {
		t.Error("a buffer is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5: "-5"} {
		if got := count(n); got != want {
			t.Errorf("count(%d) = %q, want %q", n, got, want)
		}
	}
}
