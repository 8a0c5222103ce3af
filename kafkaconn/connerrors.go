package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ConnErrors is a franz-go hook (kgo.WithHooks) that keeps the last
// connection to a broker that failed: the dial, the TLS handshake,
// ApiVersions or the SASL exchange. franz-go retries such connections in
// silence while records wait, so a caller whose records end at a deadline
// would otherwise say only "deadline exceeded"; Last says what the
// connection met. The zero value is ready; it is safe for concurrent use.
type ConnErrors struct {
	last atomic.Pointer[connFailure]
}

type connFailure struct {
	addr string
	err  error
}

var _ kgo.HookBrokerConnect = (*ConnErrors)(nil)

// OnBrokerConnect implements kgo.HookBrokerConnect: it keeps a failure,
// and forgets it when the same broker connects.
func (c *ConnErrors) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	addr := net.JoinHostPort(meta.Host, strconv.Itoa(int(meta.Port)))
	if err == nil {
		if f := c.last.Load(); f != nil && f.addr == addr {
			c.last.CompareAndSwap(f, nil)
		}
		return
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
		return // the caller gave up: that says nothing of the broker
	}
	c.last.Store(&connFailure{addr: addr, err: err})
}

// Last returns the last failed connection's error with the broker's
// address, or nil when there was none or that broker has connected since.
func (c *ConnErrors) Last() error {
	f := c.last.Load()
	if f == nil {
		return nil
	}
	return fmt.Errorf("broker %s: %w", f.addr, f.err)
}
