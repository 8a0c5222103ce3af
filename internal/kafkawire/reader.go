package kafkawire

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"time"
)

// FrameReader reads size-prefixed frames into a buffer it reuses, for
// loops that forward one frame before reading the next. A read that fails
// with a timeout (a deadline set on the connection) keeps the bytes that
// arrived, and the next call continues the same frame, so deadlines can
// wake the loop without losing its place. The zero value is ready to use;
// a FrameReader is not safe for concurrent use.
type FrameReader struct {
	// Pool, if set, lends the buffers of frames larger than Retained and
	// takes them back when the next call starts, so that a stream of
	// large frames (Fetch answers over 1 MiB) reuses buffers instead of
	// allocating, zeroing and faulting in one per frame. Nil: such a
	// frame gets a buffer of its own, dropped after it.
	Pool *BufferPool

	buf  []byte // size prefix, then body; the returned frame aliases it
	own  []byte // the reader's own buffer (at most Retained) while buf is a large one
	n    int    // bytes of the current frame read so far, prefix included
	done bool   // the last call returned a whole frame
}

// Retained bounds the buffer a FrameReader keeps between frames: a larger
// frame gets a buffer of its own (or one of the Pool's), given up after it.
const Retained = 1 << 20

// chunk is how much a frame's buffer grows at a time when no pooled
// buffer fits it: memory follows the bytes that arrive.
const chunk = 1 << 20

// Next returns the next frame, size prefix included, valid until the next
// call. A size prefix above limit (or negative) is ErrFrameTooLarge, and
// memory grows with the bytes that actually arrive (1 MiB at a time; with
// a Pool, to at most four times what arrived, or a buffer the Pool already
// has), so a bogus prefix cannot allocate much.
func (f *FrameReader) Next(r io.Reader, limit int) ([]byte, error) {
	if f.done {
		f.n, f.done = 0, false
		if cap(f.buf) > Retained {
			// Given up before waiting for the next frame: an idle
			// connection holds no large buffer.
			f.Pool.put(f.buf)
			f.buf, f.own = f.own, nil
		}
	}
	if cap(f.buf) < 4 {
		f.buf = make([]byte, 4, 4096)
	}
	f.buf = f.buf[:max(len(f.buf), 4)]
	for f.n < 4 {
		m, err := r.Read(f.buf[f.n:4])
		f.n += m
		if f.n < 4 && err != nil {
			return nil, err
		}
	}
	size := int64(int32(binary.BigEndian.Uint32(f.buf)))
	if size < 0 || size > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, size, limit)
	}
	total := 4 + int(size)
	if f.n == 4 && total > cap(f.buf) && total > Retained && f.own == nil {
		if b := f.Pool.get(total); b != nil {
			copy(b, f.buf[:4])
			f.own, f.buf = f.buf, b[:4]
		}
	}
	for f.n < total {
		want := min(total, f.n+chunk)
		if cap(f.buf) < want {
			f.grow(want, total)
		}
		f.buf = f.buf[:want]
		m, err := r.Read(f.buf[f.n:want])
		f.n += m
		if f.n < total && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	f.done = true
	return f.buf[:total], nil
}

// grow makes room for want bytes of a frame of total bytes. A buffer the
// Pool will take back doubles, and the growth that makes room for the
// whole frame is to the frame's size class, so that the buffer serves the
// next frames of about that size.
func (f *FrameReader) grow(want, total int) {
	if total > Retained && f.own == nil && cap(f.buf) <= Retained {
		f.own = f.buf[:0] // kept for the frames after this one
	}
	if total <= Retained || f.Pool == nil {
		f.buf = append(f.buf[:cap(f.buf)], make([]byte, want-cap(f.buf))...)
		return
	}
	class := classSize(getClass(total))
	c := max(want, 2*cap(f.buf))
	if c >= total {
		c = class
	}
	b := make([]byte, want, min(c, class))
	copy(b, f.buf[:f.n])
	f.buf = b
}

// Partial reports whether part of a frame has been read but not returned.
func (f *FrameReader) Partial() bool { return !f.done && f.n > 0 }

// Prefix returns the first bytes of the frame being read (at most 4), for
// telling a protocol mismatch from a bad size: a TLS ClientHello on a
// plaintext port starts 0x16 0x03.
func (f *FrameReader) Prefix() []byte {
	if f.done {
		return nil
	}
	return f.buf[:min(f.n, 4)]
}

// BufferPool lends buffers for frames larger than Retained to the
// FrameReaders that share it (a proxy's connections). A buffer comes back
// when its reader starts on the next frame, so a busy connection reuses
// the buffers of recent frames and an idle one holds none. The pool holds
// no more buffers than its readers had at once, each in a size class
// (powers of two from 2 MiB to 128 MiB), and drops those unused for Idle,
// so that an idle proxy does not keep the memory of its busiest moment. (A sync.Pool does not do here: the garbage collections that a
// small heap runs often empty it, and every frame allocates again.) The
// zero value is ready to use; a BufferPool is safe for concurrent use.
type BufferPool struct {
	// Idle is how long the pool keeps a buffer nobody asks for; zero:
	// PoolIdle.
	Idle time.Duration

	mu    sync.Mutex
	free  [poolClasses][]pooled // per class, most recently returned last
	timer *time.Timer           // runs trim while buffers are held
}

// pooled is a buffer in the pool, and when it came back.
type pooled struct {
	b    []byte
	back time.Time
}

// PoolIdle is how long a BufferPool keeps a buffer nobody asks for, unless
// its Idle says otherwise.
const PoolIdle = 10 * time.Second

func (p *BufferPool) idle() time.Duration {
	if p.Idle > 0 {
		return p.Idle
	}
	return PoolIdle
}

// poolClasses covers frames up to MaxFrame: 2 MiB << 6 = 128 MiB.
const poolClasses = 7

// classSize is the capacity of the buffers of class i.
func classSize(i int) int { return Retained << (i + 1) }

// getClass is the smallest class whose buffers hold n bytes (n > Retained).
func getClass(n int) int { return bits.Len(uint((n-1)/Retained)) - 1 }

// get returns a buffer of n bytes from the pool, or nil.
func (p *BufferPool) get(n int) []byte {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := getClass(n); i < min(getClass(n)+2, poolClasses); i++ { // or one class larger
		if k := len(p.free[i]); k > 0 {
			b := p.free[i][k-1].b
			p.free[i][k-1] = pooled{}
			p.free[i] = p.free[i][:k-1]
			return b[:n]
		}
	}
	return nil
}

// put takes back a buffer (nil pool: drops it).
func (p *BufferPool) put(b []byte) {
	if p == nil {
		return
	}
	i := bits.Len(uint(cap(b)/Retained)) - 2 // the largest class b fills
	if i < 0 || i >= poolClasses {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free[i] = append(p.free[i], pooled{b: b[:0], back: time.Now()})
	if p.timer == nil {
		p.timer = time.AfterFunc(p.idle(), p.trim)
	}
}

// trim drops the buffers unused for the idle time, and runs again while
// some are held.
func (p *BufferPool) trim() {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	var next time.Time // when the oldest buffer kept turns idle
	for i, free := range p.free {
		k := 0
		for k < len(free) && now.Sub(free[k].back) >= p.idle() {
			free[k] = pooled{}
			k++
		}
		p.free[i] = append(free[:0], free[k:]...)
		if len(p.free[i]) > 0 && (next.IsZero() || p.free[i][0].back.Before(next)) {
			next = p.free[i][0].back
		}
	}
	if next.IsZero() {
		p.timer = nil
		return
	}
	p.timer.Reset(next.Add(p.idle()).Sub(now))
}

// Held returns the bytes of the buffers the pool holds now (none lent).
func (p *BufferPool) Held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, free := range p.free {
		for _, f := range free {
			n += cap(f.b)
		}
	}
	return n
}
