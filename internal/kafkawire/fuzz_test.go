package kafkawire

import (
	"bytes"
	"testing"

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
