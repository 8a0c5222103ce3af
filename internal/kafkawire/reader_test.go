package kafkawire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
)

// frameOf returns a whole frame (prefix included) with an n-byte body
// whose bytes depend on seed.
func frameOf(n int, seed byte) []byte {
	body := make([]byte, n)
	for i := range body {
		body[i] = byte(i*7) + seed
	}
	return AppendFrame(nil, body)
}

// TestFrameReaderPool reads frames of sizes on both sides of Retained and
// of the pool's classes, through readers sharing one pool, from a reader
// that returns half of what is asked and times out every third read (a
// deadline waking the loop): every frame is read as written, and none is
// overwritten by another reader's frame while it is valid.
func TestFrameReaderPool(t *testing.T) {
	sizes := []int{5, 1<<20 - 4, 1 << 20, 1<<20 + 1, 3<<20 + 7, 17, 2<<20 - 4, 2 << 20, 5 << 20, 0, 3 << 20}
	for _, pool := range []*BufferPool{nil, new(BufferPool)} {
		t.Run(fmt.Sprintf("pool=%v", pool != nil), func(t *testing.T) {
			var in [2]bytes.Buffer
			for i, n := range sizes {
				in[0].Write(frameOf(n, byte(i)))
				in[1].Write(frameOf(n, byte(i)+100))
			}
			r := [2]*FrameReader{{Pool: pool}, {Pool: pool}}
			src := [2]io.Reader{&timeouts{r: iotest.HalfReader(&in[0])}, &timeouts{r: iotest.HalfReader(&in[1])}}
			for i, n := range sizes {
				var got [2][]byte
				for k := range 2 {
					f, err := r[k].Next(src[k], MaxFrame)
					for errors.Is(err, os.ErrDeadlineExceeded) {
						f, err = r[k].Next(src[k], MaxFrame)
					}
					if err != nil {
						t.Fatalf("frame %d (%d bytes), reader %d: %v", i, n, k, err)
					}
					got[k] = f
				}
				for k := range 2 {
					if want := frameOf(n, byte(i)+byte(100*k)); !bytes.Equal(got[k], want) {
						t.Fatalf("frame %d (%d bytes), reader %d: read %d bytes, not as written", i, n, k, len(got[k]))
					}
				}
			}
		})
	}
}

// timeouts fails every third read with a timeout, as a connection with a
// deadline does.
type timeouts struct {
	r io.Reader
	k int
}

func (t *timeouts) Read(p []byte) (int, error) {
	if t.k++; t.k%3 == 0 {
		return 0, os.ErrDeadlineExceeded
	}
	return t.r.Read(p)
}

// repeat serves the same bytes over and over, without allocating.
type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// TestFrameReaderReuses: with a pool, a stream of frames over Retained
// reuses the buffers of the first ones: after one round of each size,
// further rounds allocate nothing (without a pool each frame allocates
// its own buffer). Sizes straddle the pool's classes (2, 4, 8 MiB).
func TestFrameReaderReuses(t *testing.T) {
	for _, sizes := range [][]int{
		{3 << 20},
		{800 << 10, 1800 << 10, 2800 << 10, 4500 << 10, 2<<20 + 1, 3 << 20, 2<<20 - 4, 100},
	} {
		var round bytes.Buffer
		for i, n := range sizes {
			round.Write(frameOf(n, byte(i)))
		}
		for _, pool := range []*BufferPool{nil, new(BufferPool)} {
			src := &repeat{b: round.Bytes()}
			fr := FrameReader{Pool: pool}
			read := func() {
				for _, n := range sizes {
					if f, err := fr.Next(src, MaxFrame); err != nil || len(f) != 4+n {
						t.Fatalf("read %d bytes (%v), want %d", len(f), err, 4+n)
					}
				}
			}
			read() // the first round allocates
			const rounds = 10
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range rounds {
				read()
			}
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("sizes %v, pool %v: %d rounds allocated %d bytes", sizes, pool != nil, rounds, alloc)
			if pool != nil && alloc > 64<<10 {
				t.Errorf("sizes %v: with a pool, %d rounds after the first allocated %d bytes, want next to none", sizes, rounds, alloc)
			}
		}
	}
}

// BenchmarkFrameReader reads frames of one size over and over, as the
// proxy forwards Fetch answers: 256 KiB (kept in the reader's own
// buffer), and 2 MiB and 8 MiB (over Retained) with and without a pool.
// -benchmem shows what each frame allocates:
//
//	go test -run '^$' -bench FrameReader -benchmem ./internal/kafkawire/
func BenchmarkFrameReader(b *testing.B) {
	for _, n := range []int{256 << 10, 2 << 20, 8 << 20} {
		for _, pool := range []*BufferPool{nil, new(BufferPool)} {
			b.Run(fmt.Sprintf("size=%dKiB/pool=%v", n>>10, pool != nil), func(b *testing.B) {
				src := &repeat{b: frameOf(n-4, 1)}
				fr := FrameReader{Pool: pool}
				b.SetBytes(int64(n))
				for b.Loop() {
					if _, err := fr.Next(src, MaxFrame); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestBufferPoolIdle: buffers nobody asks for are dropped after the idle
// time, so an idle proxy does not keep the memory of its busiest moment;
// a pool that is used again keeps them again.
func TestBufferPoolIdle(t *testing.T) {
	pool := &BufferPool{Idle: 50 * time.Millisecond}
	src := &repeat{b: frameOf(3<<20, 1)}
	for round := range 2 {
		fr := FrameReader{Pool: pool}
		for range 3 {
			if _, err := fr.Next(src, MaxFrame); err != nil {
				t.Fatal(err)
			}
		}
		fr.Next(&repeat{b: frameOf(10, 1)}, MaxFrame) // gives the last buffer back
		if got := pool.Held(); got > 4<<20 {
			t.Fatalf("round %d: the pool holds %d bytes, want one 4 MiB buffer at most (reused)", round, got)
		}
		deadline := time.Now().Add(10 * time.Second)
		for pool.Held() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the pool still holds %d bytes 10 s after its last use", round, pool.Held())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
