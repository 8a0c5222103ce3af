package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/doctor"
	"github.com/msklink/msklink/kafkaconn"
)

// reach watches the connections of a produce or consume run (a franz-go
// hook) so that neither waits in silence on a cluster that does not
// answer: franz-go retries a failed connection for as long as records or
// requests wait.
//
// When every bootstrap broker has refused the TCP connection (nothing
// listens on the port) or its host does not resolve, before any broker
// connected, the run stops at once with the cause and the doctor's fix,
// as kcat -P does ("1/1 brokers are down: terminating"): nothing changes
// until the command line does. Anything else (a dial that times out, a
// listener that accepts and never answers) may pass, so the run goes on,
// but when no broker has answered after the dial timeout and a second,
// it says so once with the last failure's cause and fix. Safe for
// concurrent use.
type reach struct {
	ctx     context.Context // the run's: failures after it ends are the run's own doing
	seeds   int             // distinct bootstrap brokers
	refused func(*refusal)  // called once when every seed refused

	mu        sync.Mutex
	connected bool            // a connection to a broker was set up
	seedFails map[int32]error // per seed broker (franz-go's negative ids), its last failure
	last      error           // the last failed connection, with the broker's address
	wrote     string          // a broker a request was written to, answered or not
	answered  bool            // a broker answered a request
	stopped   bool            // refused was called
}

var (
	_ kgo.HookBrokerConnect = (*reach)(nil)
	_ kgo.HookBrokerWrite   = (*reach)(nil)
	_ kgo.HookBrokerRead    = (*reach)(nil)
)

// newReach returns a reach for a run of ctx with bootstrap brokers
// brokers; refused is called (once, from a franz-go goroutine: it must not
// block) when no bootstrap broker can be reached.
func newReach(ctx context.Context, brokers []string, refused func(*refusal)) *reach {
	distinct := map[string]bool{}
	for _, b := range brokers {
		distinct[b] = true
	}
	return &reach{ctx: ctx, seeds: len(distinct), refused: refused, seedFails: map[int32]error{}}
}

// OnBrokerConnect implements kgo.HookBrokerConnect: franz-go calls it
// after each connection attempt (dial, TLS handshake, ApiVersions, SASL).
func (r *reach) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil && (r.ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed)) {
		return // the run is ending: that says nothing of the broker
	}
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	r.mu.Lock()
	if err == nil {
		r.connected = true
		r.mu.Unlock()
		return
	}
	r.last = fmt.Errorf("broker %s: %w", addr, err)
	if meta.NodeID < 0 {
		r.seedFails[meta.NodeID] = err
	}
	var stop *refusal
	if !r.connected && !r.stopped && len(r.seedFails) >= r.seeds {
		stop = unreachable(r.seedFails)
		r.stopped = stop != nil
	}
	r.mu.Unlock()
	if stop != nil {
		r.refused(stop)
	}
}

// OnBrokerWrite implements kgo.HookBrokerWrite.
func (r *reach) OnBrokerWrite(meta kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	r.mu.Lock()
	r.wrote = net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	r.mu.Unlock()
}

// OnBrokerRead implements kgo.HookBrokerRead.
func (r *reach) OnBrokerRead(_ kgo.BrokerMetadata, _ int16, _ int, _, _ time.Duration, err error) {
	if err != nil {
		return
	}
	r.mu.Lock()
	r.answered = true
	r.mu.Unlock()
}

// Last returns the last failed connection's error with the broker's
// address, or nil.
func (r *reach) Last() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// unreachable returns the refusal of a run whose every seed broker failed
// as fails says, if each failure is one that retrying cannot fix: nothing
// listens (tcp_refused), the host does not resolve (dns). Else nil.
func unreachable(fails map[int32]error) *refusal {
	var (
		what  []string
		cause string
		last  error
	)
	for _, err := range fails {
		c := doctor.CauseOf(err)
		switch c {
		case doctor.CauseTCPRefused:
			var op *net.OpError
			addr := "the bootstrap broker"
			if errors.As(err, &op) && op.Addr != nil {
				addr = op.Addr.String()
			}
			what = append(what, "nothing answers at "+addr)
		case doctor.CauseDNS:
			var de *net.DNSError
			host := "the bootstrap host"
			if errors.As(err, &de) {
				host = de.Name
			}
			what = append(what, host+" does not resolve")
		default:
			return nil
		}
		cause, last = c, err
	}
	if len(what) == 0 {
		return nil
	}
	sort.Strings(what)
	return causeRefusal(strings.Join(what, "; "), cause, last)
}

// causeRefusal is a refusal of the connection saying what happened, the
// doctor's cause code, its meaning and fix, and the error itself.
func causeRefusal(what, cause string, err error) *refusal {
	r := &refusal{conn: true}
	doc, ok := doctor.CauseInfo(cause)
	if !ok {
		r.err = fmt.Errorf("%s (cause %s): %w", what, cause, err)
		return r
	}
	r.err = fmt.Errorf("%s (cause %s: %s): %w", what, cause, doc.Meaning, err)
	r.fix = doc.Fix
	return r
}

// warnAfter is how long a run waits for a first answer before saying that
// none came: a second past the dial timeout, when a dial or TLS handshake
// that gets no answer has failed and says why.
func warnAfter(cfg kafkaconn.Config) time.Duration {
	d := cfg.DialTimeout
	if d <= 0 {
		d = kafkaconn.DefaultDialTimeout
	}
	return d + time.Second
}

// watch prints, once, after wait, why no broker has answered if none has;
// until is what the run waits for ("until --timeout 30s", "until Ctrl-C").
// It returns at that point, or when done is closed.
func (r *reach) watch(wait time.Duration, until string, printf func(format string, args ...any), done <-chan struct{}) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-r.ctx.Done():
		return
	case <-t.C:
	}
	r.mu.Lock()
	connected, stopped, last, wrote, answered := r.connected, r.stopped, r.last, r.wrote, r.answered
	r.mu.Unlock()
	if connected || stopped || answered {
		return
	}
	var cause, what string
	switch {
	case last != nil:
		cause = doctor.CauseOf(last)
		what = fmt.Sprintf("the last connection error: %v", last)
	case wrote != "":
		cause = doctor.CauseBrokerTimeout
		what = fmt.Sprintf("%s accepted the connection and a request but sent nothing back", wrote)
	default:
		cause = doctor.CauseTCPTimeout
		what = "no connection has been set up"
	}
	doc, _ := doctor.CauseInfo(cause)
	printf("msklink: no broker has answered in %s: %s (cause %s: %s)\nFix: %s\nmsklink: still waiting: %s\n",
		wait.Round(time.Second), what, cause, doc.Meaning, doc.Fix, until)
}
