package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record batches built by hand, as an attacker sends them.

// Compression codecs as a record batch's attributes name them; xerial is
// snappy in the Java client's framing (codec 2 on the wire).
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLz4    = 3
	codecZstd   = 4
	codecXerial = 0x12
)

// oneRecord is the records section of a batch holding one record with
// value v (no key, no headers).
func oneRecord(v []byte) []byte {
	return append(recordPrefix(len(v)), append(v, 0)...) // value, no headers
}

// recordPrefix is a record's bytes up to its value, for a value of n
// bytes: the value itself and a 0 (no headers) must follow.
func recordPrefix(n int) []byte {
	body := []byte{0}                          // attributes
	body = binary.AppendVarint(body, 0)        // timestamp delta
	body = binary.AppendVarint(body, 0)        // offset delta
	body = binary.AppendVarint(body, -1)       // no key
	body = binary.AppendVarint(body, int64(n)) // value length
	size := int64(len(body) + n + 1)           // + headers count
	return append(binary.AppendVarint(nil, size), body...)
}

// compress compresses src as a producer does for codec.
func compress(t testing.TB, codec int, src []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	switch codec {
	case codecNone:
		return src
	case codecSnappy:
		return s2.EncodeSnappy(nil, src)
	case codecXerial:
		out := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
		for len(src) > 0 {
			n := min(len(src), 32<<10)
			block := s2.EncodeSnappy(nil, src[:n])
			out = binary.BigEndian.AppendUint32(out, uint32(len(block)))
			out = append(out, block...)
			src = src[n:]
		}
		return out
	case codecGzip:
		w = gzip.NewWriter(&buf)
	case codecLz4:
		w = lz4.NewWriter(&buf)
	case codecZstd:
		zw, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	default:
		t.Fatalf("codec %d", codec)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// rawBatch is a v2 record batch of one record (records, uncompressed),
// compressed with codec, with its length and CRC right.
func rawBatch(t testing.TB, codec int, records []byte) []byte {
	t.Helper()
	return sealBatch(codec, compress(t, codec, records))
}

// sealBatch wraps an already compressed records section in a batch
// header claiming one record.
func sealBatch(codec int, payload []byte) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(codec & 7),
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: 1, Records: payload,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}
