package emulator

import (
	"errors"
	"net"
	"strconv"
	"sync"
	"time"
)

// internalDomain is the domain of the addresses kfake advertises for its
// brokers, broker-N.kfake.invalid:9092. The .invalid top-level domain
// never resolves (RFC 6761), so nothing can connect to one of them even if
// it leaked; and the front finds them in an answer by this name alone (see
// conn.writeLoop).
const internalDomain = "kfake.invalid"

// backendListener is kfake's listener for one broker. It has no socket:
// the front is the only one that can connect to it, in-process, through
// net.Pipe, so no client can reach kfake past the front's TLS, SASL and
// authorization. Its address is synthetic (see internalDomain); the front
// maps it back to the broker when it rewrites broker addresses.
//
// A pipe also takes the kernel out of the hop between the front and kfake:
// on a small VM the loopback TCP stack (two syscalls and two copies each
// way, per request and per answer) cost about a quarter of the emulator's
// CPU in a produce run. A pipe has no buffer: a write returns once the
// other side has read it. kfake reads a connection's next request only
// after it has written the answer to the one before, so the front's
// forward of a request waits for kfake to finish the previous one; it did
// the same, a few kernel buffers later, over TCP.
type backendListener struct {
	addr  internalAddr
	pipes chan net.Conn
	done  chan struct{}
	stop  sync.Once
}

func newBackendListener(broker int) *backendListener {
	return &backendListener{
		addr:  internalAddr(net.JoinHostPort("broker-"+strconv.Itoa(broker)+"."+internalDomain, "9092")),
		pipes: make(chan net.Conn),
		done:  make(chan struct{}),
	}
}

// Accept returns the next connection the front dialed.
func (l *backendListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.pipes:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops dial; connections already accepted stay open.
func (l *backendListener) Close() error {
	l.stop.Do(func() { close(l.done) })
	return nil
}

// Addr is the synthetic address kfake advertises for the broker.
func (l *backendListener) Addr() net.Addr { return l.addr }

// errBackendClosed is dial's error once the listener is closed.
var errBackendClosed = errors.New("emulator: kfake's listener is closed")

// dial connects in-process. kfake sees remote as the connection's remote
// address (it shows in DescribeGroups' client host), as if the client had
// connected to it directly.
func (l *backendListener) dial(remote net.Addr, timeout time.Duration) (net.Conn, error) {
	front, back := net.Pipe()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case l.pipes <- remoteAddrConn{back, remote}:
		return front, nil
	case <-l.done:
		front.Close()
		back.Close()
		return nil, errBackendClosed
	case <-t.C:
		front.Close()
		back.Close()
		return nil, errors.New("emulator: kfake did not accept a connection in " + timeout.String())
	}
}

// internalAddr is a backendListener's address.
type internalAddr string

func (a internalAddr) Network() string { return "pipe" }
func (a internalAddr) String() string  { return string(a) }

// remoteAddrConn is a net.Conn with another remote address.
type remoteAddrConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteAddrConn) RemoteAddr() net.Addr { return c.remote }
