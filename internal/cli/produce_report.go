package cli

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/msklink/msklink/publish"
)

// failureReport prints the lines that were not acked as their outcomes
// come: "line 7: failed: <why>" for a line on its own, and "lines
// 3-9000: failed: <why>" for consecutive lines whose outcomes say the same,
// so a cluster that refuses every record says so once, not once a line. A
// run of lines is printed when a line breaks it (an acked line, another
// outcome, a gap), at flush, and at most reportDelay after its first
// line, so a failure shows while the input is idle. Safe for concurrent
// use.
type failureReport struct {
	printf func(format string, args ...any)

	pending atomic.Bool // a run is waiting: read without mu by acked
	mu      sync.Mutex
	from    int64 // first and last line of the run waiting
	to      int64
	what    string // its status and error, as printed
	timer   *time.Timer
}

// reportDelay bounds how long a failed line waits for the next one before
// it is printed.
const reportDelay = 200 * time.Millisecond

// failed adds line's outcome to the report.
func (f *failureReport) failed(line int64, o publish.Outcome) {
	what := fmt.Sprintf("%s: %v", o.Status, o.Err)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending.Load() && line == f.to+1 && what == f.what {
		f.to = line
		return
	}
	f.printLocked()
	f.from, f.to, f.what = line, line, what
	f.pending.Store(true)
	if f.timer == nil {
		f.timer = time.AfterFunc(reportDelay, f.flush)
	} else {
		f.timer.Reset(reportDelay)
	}
}

// acked ends the run waiting, if any: the next failure is not next to it.
// It costs an atomic load when nothing waits (the common case).
func (f *failureReport) acked() {
	if f.pending.Load() {
		f.flush()
	}
}

// flush prints the run waiting, if any.
func (f *failureReport) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.printLocked()
}

func (f *failureReport) printLocked() {
	if !f.pending.Load() {
		return
	}
	f.pending.Store(false)
	if f.from == f.to {
		f.printf("line %d: %s\n", f.from, f.what)
	} else {
		f.printf("lines %d-%d: %s\n", f.from, f.to, f.what)
	}
}

// stop prints the run waiting and stops the timer.
func (f *failureReport) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.timer != nil {
		f.timer.Stop()
	}
	f.printLocked()
}
