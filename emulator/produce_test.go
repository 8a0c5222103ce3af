package emulator

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// produceRaw sends one Produce (v9, acks=all) of batch to topic/partition
// on the partition's leader and returns that partition's answer.
func produceRaw(t *testing.T, c *Cluster, kind ListenerKind, topic string, partition int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	r := dialRaw(t, c, kind, c.Kfake().LeaderFor(topic, partition))
	if kind == IAM {
		if ar := r.auth("OAUTHBEARER", oauthMsg(t, c, DefaultAccessKeyID, DefaultSecretAccessKey, time.Now())); ar.ErrorCode != 0 {
			t.Fatalf("authentication: %v", kerr.ErrorForCode(ar.ErrorCode))
		}
	}
	req := kmsg.NewPtrProduceRequest()
	req.Version, req.Acks, req.TimeoutMillis = 9, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := r.do(req)
	if err != nil {
		t.Fatal(err)
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		t.Fatalf("answer %+v", pr)
	}
	return pr.Topics[0].Partitions[0]
}

// TestProduceDecompressedSizeBound: a compressed batch that decompresses
// beyond the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE
// before kfake stores it (a few KB on the wire can claim hundreds of MB),
// one that does not decompress with CORRUPT_MESSAGE; batches within the
// bound, or within a topic's larger bound, are stored.
func TestProduceDecompressedSizeBound(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	if err := c.Kfake().CreateTopic("big", 1, map[string]string{"max.message.bytes": "8388608"}); err != nil {
		t.Fatal(err)
	}
	zeros := oneRecord(make([]byte, 4<<20))
	codecs := []struct {
		name  string
		codec int
	}{{"gzip", codecGzip}, {"snappy", codecSnappy}, {"snappy-xerial", codecXerial}, {"lz4", codecLz4}, {"zstd", codecZstd}}
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			bomb := rawBatch(t, cc.codec, zeros)
			if len(bomb) > 1<<20 {
				t.Fatalf("the 4 MiB batch compresses to %d bytes: over the wire limit, not a decompression case", len(bomb))
			}
			for _, tc := range []struct {
				name  string
				topic string
				kind  ListenerKind
				batch []byte
				want  int16
			}{
				{"4 MiB of zeros over iam", "t", IAM, bomb, kerr.MessageTooLarge.Code},
				{"4 MiB of zeros over plaintext", "t", Plaintext, bomb, kerr.MessageTooLarge.Code},
				{"small", "t", IAM, rawBatch(t, cc.codec, oneRecord([]byte("small"))), 0},
				{"4 MiB of zeros, topic allows 8 MiB", "big", IAM, bomb, 0},
			} {
				t.Run(tc.name, func(t *testing.T) {
					part := int32(0)
					before := c.Kfake().PartitionInfo(tc.topic, part).HighWatermark
					got := produceRaw(t, c, tc.kind, tc.topic, part, tc.batch)
					if got.ErrorCode != tc.want {
						t.Fatalf("%s %d-byte batch: %v, want %v", cc.name, len(tc.batch), kerr.ErrorForCode(got.ErrorCode), kerr.ErrorForCode(tc.want))
					}
					after := c.Kfake().PartitionInfo(tc.topic, part).HighWatermark
					if stored := after - before; (tc.want == 0) != (stored == 1) {
						t.Errorf("%d records stored", stored)
					}
				})
			}
		})
	}
	for _, codec := range []int{codecGzip, codecLz4, codecZstd} {
		garbage := sealBatch(codec, bytes.Repeat([]byte("not compressed "), 10))
		if got := produceRaw(t, c, Plaintext, "t", 1, garbage); got.ErrorCode != kerr.CorruptMessage.Code {
			t.Errorf("codec %d, garbage: %v, want CORRUPT_MESSAGE", codec, kerr.ErrorForCode(got.ErrorCode))
		}
	}
	if pi := c.Kfake().PartitionInfo("t", 1); pi.HighWatermark != 0 {
		t.Errorf("t/1 holds %d corrupt batches", pi.HighWatermark)
	}

	// A franz-go client's compressed produce still works, every codec.
	for _, codec := range []kgo.CompressionCodec{kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.BootstrapAddrs(Plaintext)...), kgo.ProducerBatchCompression(codec), kgo.DisableClientMetrics())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Partition: 2, Value: bytes.Repeat([]byte("v"), 900<<10)}).FirstErr()
		cancel()
		cl.Close()
		if err != nil {
			t.Errorf("%v: %v", codec, err)
		}
	}
}

// FuzzBatchSize: batchSize never passes what franz-go's decompressor (the
// one kfake uses) decompresses beyond the limit, and never panics.
func FuzzBatchSize(f *testing.F) {
	for _, codec := range []int{codecGzip, codecSnappy, codecXerial, codecLz4, codecZstd} {
		f.Add(codec&7, compress(f, codec, oneRecord([]byte("hello"))), 100)
		f.Add(codec&7, compress(f, codec, make([]byte, 5000)), 4096)
	}
	f.Add(codecSnappy, []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 9, 0, 0}, 8)
	c, err := Start(context.Background(), Ephemeral(), WithListeners(Plaintext))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	dec := kgo.DefaultDecompressor()
	f.Fuzz(func(t *testing.T, codec int, src []byte, limit int) {
		if codec < 1 || codec > 4 || limit < 0 || limit > 1<<20 {
			return
		}
		err := c.batchSize(codec, src, limit)
		if err != nil {
			return
		}
		if out, derr := dec.Decompress(src, kgo.CompressionCodecType(codec)); derr == nil && len(out) > limit {
			t.Fatalf("codec %d: passed at limit %d, decompresses to %d bytes", codec, limit, len(out))
		}
	})
}
