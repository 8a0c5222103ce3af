package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// isTerminal reports whether w is a terminal (a character device: a
// terminal, or /dev/null, where progress costs nothing).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// progress writes a long run's progress line on a terminal, rewritten in
// place every half second after the first second, and the run's other
// messages on their own lines above it. Off a terminal it writes the
// messages only. Safe for concurrent use.
type progress struct {
	w    io.Writer
	on   bool
	line func(elapsed time.Duration) string

	mu    sync.Mutex
	shown bool // a progress line is on the screen
	stop  chan struct{}
	done  chan struct{}
}

// startProgress shows line's text on w while the run lasts, if w is a
// terminal. Call Stop at the end.
func startProgress(w io.Writer, line func(elapsed time.Duration) string) *progress {
	return newProgress(w, isTerminal(w), line)
}

// newProgress is startProgress, shown when on.
func newProgress(w io.Writer, on bool, line func(elapsed time.Duration) string) *progress {
	p := &progress{w: w, on: on, line: line, stop: make(chan struct{}), done: make(chan struct{})}
	if !p.on {
		close(p.done)
		return p
	}
	go func() {
		defer close(p.done)
		start := time.Now()
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
				if el := time.Since(start); el >= time.Second {
					p.mu.Lock()
					fmt.Fprintf(p.w, "\r\033[K%s", p.line(el))
					p.shown = true
					p.mu.Unlock()
				}
			}
		}
	}()
	return p
}

// Printf writes a message on its own line (above the progress line).
func (p *progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	fmt.Fprintf(p.w, format, args...)
}

func (p *progress) clear() {
	if p.shown {
		io.WriteString(p.w, "\r\033[K")
		p.shown = false
	}
}

// Stop removes the progress line.
func (p *progress) Stop() {
	if p.on {
		close(p.stop)
	}
	<-p.done
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}

// count formats n with thousands separators: 1234567 is "1,234,567".
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
