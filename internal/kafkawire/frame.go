package kafkawire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// MaxFrame bounds an authenticated (or non-SASL) request, like Kafka's
	// socket.request.max.bytes default of 100 MiB.
	MaxFrame = 100 << 20
	// MaxSASLFrame bounds frames before authentication on a SASL listener,
	// like Kafka's sasl.server.max.receive.size default of 512 KiB.
	MaxSASLFrame = 512 << 10
)

// ErrFrameTooLarge is returned by ReadFrame for a size prefix over the limit.
var ErrFrameTooLarge = errors.New("kafkawire: frame larger than the limit")

// ReadFrame reads one size-prefixed frame (a Kafka request, or raw SASL bytes
// after a v0 SaslHandshake) of at most limit bytes. Memory grows with the
// bytes actually received, so a bogus size prefix cannot allocate much.
func ReadFrame(r io.Reader, limit int) ([]byte, error) {
	f, err := ReadSizedFrame(r, limit)
	if err != nil {
		return nil, err
	}
	return f[4:], nil
}

// ReadSizedFrame is ReadFrame keeping the 4-byte size prefix: the frame as
// it came, to be passed on without copying it into a new buffer.
func ReadSizedFrame(r io.Reader, limit int) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(size[:])))
	if n < 0 || n > int64(limit) {
		return nil, fmt.Errorf("%w: %d bytes (limit %d)", ErrFrameTooLarge, n, limit)
	}
	// Up to 1 MiB is allocated at once; beyond, memory follows the bytes
	// that actually arrive.
	const chunk = 1 << 20
	buf := make([]byte, 4+min(n, chunk))
	copy(buf, size[:])
	for start := 4; ; {
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if int64(len(buf)-4) == n {
			return buf, nil
		}
		start = len(buf)
		buf = append(buf, make([]byte, min(n-int64(start-4), chunk))...)
	}
}

// AppendFrame appends body with its 4-byte size prefix to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// Header is a parsed Kafka request header.
type Header struct {
	Key, Version int16
	Corr         int32
	ClientID     *string
	Flexible     bool
	BodyOff      int  // offset of the request body in the frame
	TooNew       bool // ApiVersions above what we know: answer v0 UNSUPPORTED_VERSION (KIP-511)
}

// ErrBadHeader is returned by ParseHeader for a frame that is not a Kafka
// request this package knows (franz-go kmsg's keys and versions).
var ErrBadHeader = errors.New("kafkawire: malformed request header")

// ParseHeader parses the request header at the start of frame.
func ParseHeader(frame []byte) (Header, error) {
	r := kbin.Reader{Src: frame}
	h := Header{Key: r.Int16(), Version: r.Int16(), Corr: r.Int32()}
	h.ClientID = r.NullableString()
	if !r.Ok() {
		return h, fmt.Errorf("%w: %d bytes", ErrBadHeader, len(frame))
	}
	req := kmsg.RequestForKey(h.Key)
	if h.Key == 18 && req != nil && h.Version > req.MaxVersion() {
		h.TooNew = true
		return h, nil
	}
	if req == nil || h.Version < 0 || h.Version > req.MaxVersion() {
		return h, fmt.Errorf("%w: unknown key %d version %d", ErrBadHeader, h.Key, h.Version)
	}
	req.SetVersion(h.Version)
	h.Flexible = req.IsFlexible()
	if h.Flexible {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return h, fmt.Errorf("%w: bad tagged fields", ErrBadHeader)
		}
	}
	h.BodyOff = len(frame) - len(r.Src)
	return h, nil
}

// DecodeRequest parses the body of frame as the request h describes.
func DecodeRequest(h Header, frame []byte) (kmsg.Request, error) {
	req := kmsg.RequestForKey(h.Key)
	req.SetVersion(h.Version)
	if err := req.ReadFrom(frame[h.BodyOff:]); err != nil {
		return nil, fmt.Errorf("kafkawire: decoding %s v%d: %w", kmsg.NameForKey(h.Key), h.Version, err)
	}
	return req, nil
}

// EncodeRequestFrame encodes req with header h (client id and version kept)
// as a full size-prefixed frame.
func EncodeRequestFrame(h Header, req kmsg.Request) []byte {
	b := make([]byte, 4, 256)
	b = binary.BigEndian.AppendUint16(b, uint16(h.Key))
	b = binary.BigEndian.AppendUint16(b, uint16(h.Version))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Corr))
	if h.ClientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*h.ClientID)))
		b = append(b, *h.ClientID...)
	}
	if h.Flexible {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// RespHeaderLen returns the length of the response header for a response to
// h: correlation id, plus an empty tag section for flexible versions except
// ApiVersions (whose response header is always v0).
func RespHeaderLen(h Header) int {
	if h.Flexible && h.Key != 18 {
		return 5
	}
	return 4
}

// EncodeResponseFrame encodes resp as the size-prefixed response to h.
func EncodeResponseFrame(h Header, resp kmsg.Response) []byte {
	resp.SetVersion(h.Version)
	b := make([]byte, 4, 128)
	b = binary.BigEndian.AppendUint32(b, uint32(h.Corr))
	if RespHeaderLen(h) == 5 {
		b = append(b, 0)
	}
	b = resp.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// DecodeResponse decodes a response frame body (without size prefix) to h.
func DecodeResponse(h Header, body []byte) (kmsg.Response, error) {
	hl := RespHeaderLen(h)
	if len(body) < hl {
		return nil, fmt.Errorf("kafkawire: short response to %s", kmsg.NameForKey(h.Key))
	}
	resp := kmsg.ResponseForKey(h.Key)
	resp.SetVersion(h.Version)
	if err := resp.ReadFrom(body[hl:]); err != nil {
		return nil, fmt.Errorf("kafkawire: decoding %s v%d response: %w", kmsg.NameForKey(h.Key), h.Version, err)
	}
	return resp, nil
}

// ProduceAcksZero reports whether a Produce request has acks=0.
func ProduceAcksZero(h Header, frame []byte) bool {
	r := kbin.Reader{Src: frame[h.BodyOff:]}
	if h.Version >= 3 {
		if h.Flexible {
			r.CompactNullableString()
		} else {
			r.NullableString()
		}
	}
	return r.Int16() == 0 && r.Ok()
}

// TooNewAnswer is Kafka's answer (KIP-511) to an ApiVersions request newer
// than this package knows (Header.TooNew): a v0 response with
// UNSUPPORTED_VERSION listing ApiVersions' own version range, so that the
// client retries with a version both know. It returns the whole frame.
func TooNewAnswer(h Header) []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	key := kmsg.NewApiVersionsResponseApiKey()
	key.ApiKey, key.MaxVersion = 18, resp.MaxVersion()
	resp.ApiKeys = append(resp.ApiKeys, key)
	h.Version, h.Flexible = 0, false
	return EncodeResponseFrame(h, resp)
}
