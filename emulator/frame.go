package emulator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// maxFrame bounds an authenticated (or non-SASL) request, like Kafka's
	// socket.request.max.bytes default of 100 MiB.
	maxFrame = 100 << 20
	// maxSASLFrame bounds frames before authentication on a SASL listener,
	// like Kafka's sasl.server.max.receive.size default of 512 KiB.
	maxSASLFrame = 512 << 10
)

// errFrameTooLarge is returned by readFrame for a size prefix over the limit.
var errFrameTooLarge = errors.New("emulator: frame larger than the limit")

// readFrame reads one size-prefixed frame (a Kafka request, or raw SASL bytes
// after a v0 SaslHandshake) of at most limit bytes. Memory grows with the
// bytes actually received, so a bogus size prefix cannot allocate much.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(size[:])))
	if n < 0 || n > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", errFrameTooLarge, n, limit)
	}
	// Up to 1 MiB is allocated at once; beyond, memory follows the bytes
	// that actually arrive.
	const chunk = 1 << 20
	buf := make([]byte, 0, min(n, chunk))
	for int64(len(buf)) < n {
		want := min(n-int64(len(buf)), chunk)
		start := len(buf)
		buf = append(buf, make([]byte, want)...)
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// appendFrame appends body with its 4-byte size prefix to dst.
func appendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// reqHeader is a parsed Kafka request header.
type reqHeader struct {
	key, version int16
	corr         int32
	clientID     *string
	flexible     bool
	bodyOff      int  // offset of the request body in the frame
	tooNew       bool // ApiVersions above what we know: answer v0 UNSUPPORTED_VERSION (KIP-511)
}

// errBadHeader is returned by parseHeader for a frame that is not a Kafka
// request this emulator knows.
var errBadHeader = errors.New("emulator: malformed request header")

// parseHeader parses the request header at the start of frame.
func parseHeader(frame []byte) (reqHeader, error) {
	r := kbin.Reader{Src: frame}
	h := reqHeader{key: r.Int16(), version: r.Int16(), corr: r.Int32()}
	h.clientID = r.NullableString()
	if !r.Ok() {
		return h, fmt.Errorf("%w: %d bytes", errBadHeader, len(frame))
	}
	req := kmsg.RequestForKey(h.key)
	if h.key == 18 && req != nil && h.version > req.MaxVersion() {
		h.tooNew = true
		return h, nil
	}
	if req == nil || h.version < 0 || h.version > req.MaxVersion() {
		return h, fmt.Errorf("%w: unknown key %d version %d", errBadHeader, h.key, h.version)
	}
	req.SetVersion(h.version)
	h.flexible = req.IsFlexible()
	if h.flexible {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return h, fmt.Errorf("%w: bad tagged fields", errBadHeader)
		}
	}
	h.bodyOff = len(frame) - len(r.Src)
	return h, nil
}

// decodeRequest parses the body of frame as the request h describes.
func decodeRequest(h reqHeader, frame []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if err := req.ReadFrom(frame[h.bodyOff:]); err != nil {
		return nil, fmt.Errorf("emulator: decoding %s v%d: %w", kmsg.NameForKey(h.key), h.version, err)
	}
	return req, nil
}

// encodeRequestFrame encodes req with header h (client id and version kept)
// as a full size-prefixed frame.
func encodeRequestFrame(h reqHeader, req kmsg.Request) []byte {
	b := make([]byte, 4, 256)
	b = binary.BigEndian.AppendUint16(b, uint16(h.key))
	b = binary.BigEndian.AppendUint16(b, uint16(h.version))
	b = binary.BigEndian.AppendUint32(b, uint32(h.corr))
	if h.clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*h.clientID)))
		b = append(b, *h.clientID...)
	}
	if h.flexible {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// respHeaderLen returns the length of the response header for a response to
// h: correlation id, plus an empty tag section for flexible versions except
// ApiVersions (whose response header is always v0).
func respHeaderLen(h reqHeader) int {
	if h.flexible && h.key != 18 {
		return 5
	}
	return 4
}

// encodeResponseFrame encodes resp as the size-prefixed response to h.
func encodeResponseFrame(h reqHeader, resp kmsg.Response) []byte {
	resp.SetVersion(h.version)
	b := make([]byte, 4, 128)
	b = binary.BigEndian.AppendUint32(b, uint32(h.corr))
	if respHeaderLen(h) == 5 {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// decodeResponse decodes a response frame body (without size prefix) to h.
func decodeResponse(h reqHeader, body []byte) (kmsg.Response, error) {
	hl := respHeaderLen(h)
	if len(body) < hl {
		return nil, fmt.Errorf("emulator: short response to %s", kmsg.NameForKey(h.key))
	}
	resp := kmsg.ResponseForKey(h.key)
	resp.SetVersion(h.version)
	if err := resp.ReadFrom(body[hl:]); err != nil {
		return nil, fmt.Errorf("emulator: decoding %s v%d response: %w", kmsg.NameForKey(h.key), h.version, err)
	}
	return resp, nil
}
