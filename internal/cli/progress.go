package cli

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes a long run's status line on a terminal, redrawn in
// place twice a second, and the run's other messages and logs on their own
// lines above it. Off a terminal it writes the messages only. Safe for
// concurrent use. produce, consume and esm use it.
type progress struct {
	w  io.Writer
	on bool

	mu    sync.Mutex
	shown bool // a status line is on the screen
	stop  chan struct{}
	done  chan struct{}
}

// newProgress returns a progress writing to w, drawing a status line when
// on (see Start).
func newProgress(w io.Writer, on bool) *progress {
	return &progress{w: w, on: on}
}

// startProgress starts a progress on w with line as its status, if w is
// a terminal.
func startProgress(w io.Writer, line func(elapsed time.Duration) string) *progress {
	p := newProgress(w, isTerminal(w))
	p.Start(line)
	return p
}

// Start draws line's text (given the time since Start) every half second,
// until Stop. Without a terminal it does nothing.
func (p *progress) Start(line func(elapsed time.Duration) string) {
	if !p.on {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
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
				text := line(time.Since(start))
				p.mu.Lock()
				fmt.Fprintf(p.w, "\r\033[K%s", text)
				p.shown = true
				p.mu.Unlock()
			}
		}
	}()
}

// Write writes b (whole lines) above the status line.
func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	return p.w.Write(b)
}

// Printf writes a message on its own line (above the status line).
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

// Stop stops drawing and removes the status line.
func (p *progress) Stop() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
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
