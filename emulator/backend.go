package emulator

import (
	"errors"
	"net"
	"sync"
	"time"
)

// backendListener is kfake's listener for one broker. It keeps a loopback
// TCP port, whose address kfake advertises and the front maps back to the
// broker, and which still accepts TCP connections; but the front itself
// connects in-process, through net.Pipe. That takes the kernel out of the
// hop between the front and kfake: on a small VM the loopback TCP stack
// (two syscalls and two copies each way, per request and per answer) cost
// about a quarter of the emulator's CPU in a produce run.
//
// A pipe has no buffer: a write returns once the other side has read it.
// kfake reads a connection's next request only after it has written the
// answer to the one before, so the front's forward of a request waits for
// kfake to finish the previous one; it did the same, a few kernel buffers
// later, over TCP.
type backendListener struct {
	net.Listener // the loopback TCP listener

	pipes    chan net.Conn
	accepted chan acceptResult
	done     chan struct{}
	start    sync.Once
	stop     sync.Once
}

type acceptResult struct {
	c   net.Conn
	err error
}

func newBackendListener(tcp net.Listener) *backendListener {
	return &backendListener{
		Listener: tcp,
		pipes:    make(chan net.Conn),
		accepted: make(chan acceptResult),
		done:     make(chan struct{}),
	}
}

// Accept returns the next connection, in-process or TCP.
func (l *backendListener) Accept() (net.Conn, error) {
	l.start.Do(func() { go l.acceptTCP() })
	select {
	case c := <-l.pipes:
		return c, nil
	case r := <-l.accepted:
		return r.c, r.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *backendListener) acceptTCP() {
	for {
		c, err := l.Listener.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.done:
			if c != nil {
				c.Close()
			}
			return
		}
		if err != nil {
			return
		}
	}
}

// Close stops both kinds of connection; connections already accepted
// stay open.
func (l *backendListener) Close() error {
	err := l.Listener.Close()
	l.stop.Do(func() { close(l.done) })
	return err
}

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

// remoteAddrConn is a net.Conn with another remote address.
type remoteAddrConn struct {
	net.Conn
	remote net.Addr
}

func (c remoteAddrConn) RemoteAddr() net.Addr { return c.remote }
