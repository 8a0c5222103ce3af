package kafkawire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// FrameReader reads size-prefixed frames into a buffer it reuses, for
// loops that forward one frame before reading the next. A read that fails
// with a timeout (a deadline set on the connection) keeps the bytes that
// arrived, and the next call continues the same frame, so deadlines can
// wake the loop without losing its place. The zero value is ready to use;
// a FrameReader is not safe for concurrent use.
type FrameReader struct {
	buf  []byte // size prefix, then body; the returned frame aliases it
	n    int    // bytes of the current frame read so far, prefix included
	done bool   // the last call returned a whole frame
}

// Retained bounds the buffer a FrameReader keeps between frames: a larger
// frame gets a buffer of its own, dropped after it.
const Retained = 1 << 20

// Next returns the next frame, size prefix included, valid until the next
// call. A size prefix above limit (or negative) is ErrFrameTooLarge, and
// memory grows with the bytes that actually arrive (1 MiB at a time), so a
// bogus prefix cannot allocate much.
func (f *FrameReader) Next(r io.Reader, limit int) ([]byte, error) {
	if f.done {
		f.n, f.done = 0, false
		if cap(f.buf) > Retained {
			f.buf = nil
		}
	}
	if cap(f.buf) < 4 {
		f.buf = make([]byte, 4, 4096)
	}
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
	const chunk = 1 << 20
	for f.n < total {
		want := min(total, f.n+chunk)
		if cap(f.buf) < want {
			f.buf = append(f.buf[:cap(f.buf)], make([]byte, want-cap(f.buf))...)
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
