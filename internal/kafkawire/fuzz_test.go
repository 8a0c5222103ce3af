package kafkawire

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 2})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0})
	f.Add(kmsg.NewRequestFormatter(kmsg.FormatterClientID("c")).AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ReadFrame(bytes.NewReader(in), 1<<16)
		if err != nil {
			return
		}
		if len(frame)+4 > len(in) {
			t.Fatalf("frame of %d bytes from %d input bytes", len(frame), len(in))
		}
		sized, err := ReadSizedFrame(bytes.NewReader(in), 1<<16)
		if err != nil || !bytes.Equal(sized, in[:4+len(frame)]) {
			t.Fatalf("ReadSizedFrame: %d bytes (%v), want the %d bytes ReadFrame read with their prefix", len(sized), err, 4+len(frame))
		}
		h, err := ParseHeader(frame)
		if err != nil {
			return
		}
		if h.BodyOff > len(frame) {
			t.Fatalf("body offset %d beyond frame %d", h.BodyOff, len(frame))
		}
		if req, err := DecodeRequest(h, frame); err == nil {
			_ = EncodeRequestFrame(h, req)
		}
		_ = ProduceAcksZero(h, frame)
	})
}

// TestReadSizedFrame reads frames around and past the 1 MiB a read
// allocates at once, from a reader that returns half of what is asked.
func TestReadSizedFrame(t *testing.T) {
	for _, n := range []int{0, 5, 1 << 20, 1<<20 + 1, 3<<20 + 7} {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i * 7)
		}
		in := AppendFrame(nil, body)
		got, err := ReadSizedFrame(iotest.HalfReader(bytes.NewReader(in)), MaxFrame)
		if err != nil || !bytes.Equal(got, in) {
			t.Errorf("%d bytes: read %d bytes (%v), want the frame as written", n, len(got), err)
		}
		if _, err := ReadSizedFrame(bytes.NewReader(in[:len(in)-1]), MaxFrame); n > 0 && err != io.ErrUnexpectedEOF {
			t.Errorf("%d bytes, cut short by one: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

// FuzzFrameReader checks FrameReader against ReadFrame on the same input,
// delivered in small pieces.
func FuzzFrameReader(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 9}, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		want := bytes.NewReader(in)
		var fr FrameReader
		got := &pieces{b: in, step: int(step%7) + 1}
		for {
			w, werr := ReadFrame(want, 1<<16)
			g, gerr := fr.Next(got, 1<<16)
			if (werr == nil) != (gerr == nil) {
				t.Fatalf("ReadFrame err %v, FrameReader err %v", werr, gerr)
			}
			if werr != nil {
				return
			}
			if !bytes.Equal(w, g[4:]) {
				t.Fatalf("frame %x, want %x", g[4:], w)
			}
		}
	})
}

// pieces returns at most step bytes per Read.
type pieces struct {
	b    []byte
	step int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.b[:min(len(p.b), p.step)])
	p.b = p.b[n:]
	return n, nil
}
