package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/internal/kafkawire"
)

// Bounding what a produced batch decompresses to. kfake stores a batch as
// it came and decompresses it whole, unbounded, when it needs its records
// (a ListOffsets by timestamp, compaction): a few KB of zstd zeros claiming
// one record made it allocate hundreds of MB, never returned. The front
// refuses such a batch before kfake sees it: a batch whose records
// decompress beyond the topic's max.message.bytes gets MESSAGE_TOO_LARGE
// (the code Kafka gives a batch over max.message.bytes), one that does not
// decompress CORRUPT_MESSAGE (Kafka's code for an invalid batch). Kafka
// itself bounds only the batch's size on the wire; it does not hold a
// whole batch decompressed, kfake does.

// defaultMaxMessageBytes is Kafka's default message.max.bytes (and kfake's):
// the limit of a topic without max.message.bytes.
const defaultMaxMessageBytes = 1048588

// batchHeaderSize is the size of a v2 record batch's header, before its
// (possibly compressed) records.
const batchHeaderSize = 61

var (
	errTooLarge     = errors.New("decompresses beyond the limit")
	errXerialFormat = errors.New("malformed xerial snappy framing")
)

// boundProduce removes from a Produce request the partitions whose batch
// decompresses beyond its topic's max.message.bytes or does not
// decompress, and answers them itself; the results are as for authorize.
// Uncompressed batches are kfake's to check (it refuses those over
// max.message.bytes). Read loop only.
func (c *conn) boundProduce(h kafkawire.Header, frame []byte) (out []byte, post []func(kmsg.Response), local kmsg.Response, err error) {
	kreq, err := kafkawire.DecodeRequest(h, frame)
	if err != nil {
		return nil, nil, nil, err
	}
	req := kreq.(*kmsg.ProduceRequest)
	var (
		refused []kmsg.ProduceResponseTopic
		limits  map[string]int // per topic, looked up once per request
	)
	for ti := range req.Topics {
		t := &req.Topics[ti]
		var bad []kmsg.ProduceResponseTopicPartition
		kept := t.Partitions[:0]
		for _, p := range t.Partitions {
			codec := batchCodec(p.Records)
			if codec == 0 {
				kept = append(kept, p)
				continue
			}
			name := t.Topic
			if h.Version >= 13 {
				name, _ = c.topicByID(t.TopicID) // v13 names topics by ID (above versionCaps today)
			}
			limit, ok := limits[name]
			if !ok {
				limit = c.maxMessageBytes(name)
				if limits == nil {
					limits = map[string]int{}
				}
				limits[name] = limit
			}
			if len(p.Records) > limit { // kfake refuses it on its wire size
				kept = append(kept, p)
				continue
			}
			err := c.l.b.c.batchSize(codec, p.Records[batchHeaderSize:], limit-batchHeaderSize)
			if err == nil {
				kept = append(kept, p)
				continue
			}
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.BaseOffset = p.Partition, -1
			var msg string
			if errors.Is(err, errTooLarge) {
				rp.ErrorCode = kerr.MessageTooLarge.Code
				msg = fmt.Sprintf("The record batch in the append to %s-%d decompresses to more than %d bytes, the maximum configured value (max.message.bytes).", name, p.Partition, limit)
			} else {
				rp.ErrorCode = kerr.CorruptMessage.Code
				msg = fmt.Sprintf("The record batch in the append to %s-%d does not decompress: %v.", name, p.Partition, err)
			}
			if h.Version >= 8 {
				rp.ErrorMessage = &msg
			}
			c.l.b.c.log.Info("produce refused", append(c.logAttrs(), "topic", name, "partition", p.Partition,
				"codec", codecName(codec), "wire_bytes", len(p.Records), "max_message_bytes", limit, "error", kerr.ErrorForCode(rp.ErrorCode).Error())...)
			bad = append(bad, rp)
		}
		t.Partitions = kept
		if len(bad) > 0 {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic, rt.TopicID, rt.Partitions = t.Topic, t.TopicID, bad
			refused = append(refused, rt)
		}
	}
	if len(refused) == 0 {
		return frame, nil, nil, nil
	}
	add := func(r kmsg.Response) {
		resp := r.(*kmsg.ProduceResponse)
	next:
		for _, rt := range refused {
			for i := range resp.Topics {
				if t := &resp.Topics[i]; t.Topic == rt.Topic && t.TopicID == rt.TopicID {
					t.Partitions = append(t.Partitions, rt.Partitions...)
					continue next
				}
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	kept := req.Topics[:0]
	for _, t := range req.Topics {
		if len(t.Partitions) > 0 {
			kept = append(kept, t)
		}
	}
	return reducedProduce(h, req, kept, add)
}

// batchCodec returns the compression codec (1 gzip, 2 snappy, 3 lz4,
// 4 zstd) of a v2 record batch, or 0 for one that is uncompressed or that
// kfake refuses anyway (too short, another magic, an unknown codec).
func batchCodec(b []byte) int {
	if len(b) < batchHeaderSize || b[16] != 2 {
		return 0
	}
	codec := int(binary.BigEndian.Uint16(b[21:]) & 7)
	if codec > 4 {
		return 0
	}
	return codec
}

func codecName(codec int) string {
	switch codec {
	case 1:
		return "gzip"
	case 2:
		return "snappy"
	case 3:
		return "lz4"
	case 4:
		return "zstd"
	}
	return strconv.Itoa(codec)
}

// maxMessageBytes is a topic's max.message.bytes, or Kafka's default (a
// topic kfake does not know is kfake's to refuse). Read loop only.
func (c *conn) maxMessageBytes(topic string) int {
	if topic == "" {
		return defaultMaxMessageBytes
	}
	ti := c.l.b.c.kf.TopicInfo(topic)
	if ti == nil {
		return defaultMaxMessageBytes
	}
	if v := ti.Configs["max.message.bytes"]; v != nil {
		if n, err := strconv.Atoi(*v); err == nil && n > 0 {
			return n
		}
	}
	return defaultMaxMessageBytes
}

// batchSize checks that src, a batch's records compressed with codec,
// decompresses to at most limit bytes: errTooLarge if not, another error
// if it does not decompress. It never holds more than a decoder's window
// of the output: gzip, lz4 and zstd are decompressed and discarded, up to
// limit+1 bytes; snappy blocks declare their decoded length, which is what
// any decoder (kfake's included) allocates, so only the declarations are
// read. Decoders are pooled per cluster.
func (cl *Cluster) batchSize(codec int, src []byte, limit int) error {
	if limit < 0 {
		limit = 0
	}
	var r io.Reader
	switch codec {
	case 1:
		zr, _ := cl.gzip.Get().(*gzip.Reader)
		if zr == nil {
			zr = new(gzip.Reader)
		}
		defer func() { zr.Reset(bytes.NewReader(nil)); cl.gzip.Put(zr) }() // drops src
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			return err
		}
		r = zr
	case 2:
		return snappySize(src, limit)
	case 3:
		lr, _ := cl.lz4.Get().(*lz4.Reader)
		if lr == nil {
			lr = lz4.NewReader(nil)
		}
		lr.Reset(bytes.NewReader(src))
		defer func() { lr.Reset(nil); cl.lz4.Put(lr) }()
		r = lr
	case 4:
		zd, _ := cl.zstd.Get().(*zstd.Decoder)
		if zd == nil {
			var err error
			if zd, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true)); err != nil {
				return err
			}
		}
		if err := zd.Reset(bytes.NewReader(src)); err != nil {
			return err
		}
		defer func() { zd.Reset(nil); cl.zstd.Put(zd) }()
		r = zd
	default:
		return fmt.Errorf("unknown codec %d", codec)
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return err
	}
	if n > int64(limit) {
		return errTooLarge
	}
	return nil
}

// xerialMagic starts snappy in the Java client's framing (snappy-java's
// SnappyOutputStream): the magic, a version and a compatible version, then
// blocks, each a big-endian length and a raw snappy block. Anything else is
// one raw snappy block. This is how franz-go (kfake's decompressor) tells
// them apart.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

// snappySize checks the decoded lengths that the snappy blocks of src
// declare against limit.
func snappySize(src []byte, limit int) error {
	if len(src) <= 16 || !bytes.HasPrefix(src, xerialMagic) {
		n, err := s2.DecodedLen(src)
		if err != nil {
			return err
		}
		if n > limit {
			return errTooLarge
		}
		return nil
	}
	total := 0
	for rest := src[16:]; len(rest) > 0; {
		if len(rest) < 4 {
			return errXerialFormat
		}
		size := int(int32(binary.BigEndian.Uint32(rest)))
		rest = rest[4:]
		if size < 0 || size > len(rest) {
			return errXerialFormat
		}
		n, err := s2.DecodedLen(rest[:size])
		if err != nil {
			return err
		}
		if total += n; total > limit {
			return errTooLarge
		}
		rest = rest[size:]
	}
	return nil
}
