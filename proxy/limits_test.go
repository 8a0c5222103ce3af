package proxy

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestConnectionLimit: connections over the limit are closed at once and
// counted; the ones within it are served.
func TestConnectionLimit(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithMaxConnections(2))
	var held []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		held = append(held, nc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Connections < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the two connections were not accepted", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the third connection read %v, want EOF (closed at once)", err)
	}
	waitLog(t, logs, "client connection refused: connection limit reached")
	if s := p.Stats(); s.Refused != 1 {
		t.Errorf("stats %+v: want 1 refused", s)
	}
	// The held ones still work.
	f := kmsg.NewRequestFormatter()
	held[0].SetDeadline(time.Now().Add(10 * time.Second))
	held[0].Write(f.AppendRequest(nil, apiVersions(3), 1))
	if _, err := io.ReadFull(held[0], make([]byte, 8)); err != nil {
		t.Fatalf("a connection within the limit: %v", err)
	}
}

// TestIdleTimeout: a connection with nothing sent or awaited is closed
// after the idle timeout, and so is one that stops halfway through a
// request.
func TestIdleTimeout(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithIdleTimeout(500*time.Millisecond))
	for _, partial := range []bool{false, true} {
		nc, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, apiVersions(3), 1)
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		nc.Write(frame)
		if _, err := io.ReadFull(nc, make([]byte, 8)); err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		if partial {
			nc.Write(frame[:len(frame)/2])
		}
		start := time.Now()
		io.Copy(io.Discard, nc) // the rest of the answer, then EOF
		if time.Since(start) > 15*time.Second {
			t.Fatalf("partial %v: the idle connection was not closed", partial)
		}
	}
	waitLog(t, logs, `reason="idle for 500ms"`)
}

// TestSlowClient: a client that pipelines fetches of a large record and
// never reads makes the proxy read at most about maxPending requests (it
// stops reading when its answer queue is full and its response stalls on
// the client's full socket; a few answers fit in the socket buffers), and
// is dropped when it takes no response within the idle timeout.
func TestSlowClient(t *testing.T) {
	c, _ := startCluster(t)
	p, logs := startProxy(t, iamConfig(c), WithIdleTimeout(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := make([]byte, 900<<10)
	rand.Read(big) // incompressible: every answer is about 900 KiB
	prod := plainClient(t, p, kgo.ProducerBatchMaxBytes(1<<20), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "orders", Partition: 0, Value: big}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var leader string
	for _, b := range p.Brokers()[1:] {
		if b.NodeID == c.Kfake().LeaderFor("orders", 0) {
			leader = b.Local
		}
	}

	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(4)
	fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MaxBytes = -1, 100, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	f := kmsg.NewRequestFormatter()
	one := f.AppendRequest(nil, fetch, 1)
	const sent = 2000
	var all []byte
	for i := range sent {
		all = append(all, f.AppendRequest(nil, fetch, int32(i))...)
	}

	nc, err := net.Dial("tcp", leader)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	before := p.Stats().BytesFromClients
	go nc.Write(all) // never read
	waitLog(t, logs, `reason="writing to the client:`)
	read := (p.Stats().BytesFromClients - before) / int64(len(one))
	t.Logf("the proxy read %d of %d pipelined fetches before dropping the client", read, sent)
	if read > maxPending+64 {
		t.Errorf("the proxy read %d requests of a client that reads nothing, want at most about %d", read, maxPending)
	}
}
