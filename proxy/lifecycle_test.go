package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/internal/kafkawire"
	"github.com/msklink/msklink/kafkaconn"
)

// stallingBroker is a TLS "broker" that reads the first request of each
// connection (the proxy's SaslHandshake), reports it on the returned
// channel and never answers. Its first connection, the proxy's discovery
// at Start, is closed at once so that Start does not wait.
func stallingBroker(t *testing.T, pk *pki) (string, <-chan struct{}) {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pk.server}})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{}, 16)
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			if n == 0 {
				nc.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := kafkawire.ReadFrame(nc, kafkawire.MaxFrame); err != nil {
					return
				}
				got <- struct{}{}
				io.Copy(io.Discard, nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), got
}

// TestConnectStuckInSASL: an upstream connect that hangs in the SASL
// exchange (a broker that accepted TLS and stopped answering) ends as soon
// as its client leaves, and does not hold Close: the exchange is bounded
// by the connection's context, not only by the dial deadline (here over a
// minute).
func TestConnectStuckInSASL(t *testing.T) {
	pk := newPKI(t)
	addr, got := stallingBroker(t, pk)
	cfg := kafkaconn.Config{Brokers: []string{addr}, TLSCAFile: pk.caFile, Region: "us-east-1", RequestTimeout: time.Minute,
		Credentials: credentials.NewStaticCredentialsProvider(emulator.DefaultAccessKeyID, emulator.DefaultSecretAccessKey, "")}
	p, _ := startProxy(t, cfg)
	waitSASL := func() {
		t.Helper()
		select {
		case <-got:
		case <-time.After(15 * time.Second):
			t.Fatal("the proxy sent no SaslHandshake upstream")
		}
	}

	nc, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	waitSASL()
	nc.Close()
	deadline := time.Now().Add(15 * time.Second)
	for p.Stats().Connections != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v: the client left, its upstream connect still holds the connection", p.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}

	nc, err = net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitSASL()
	closed := make(chan struct{})
	go func() {
		p.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(15 * time.Second):
		t.Fatal("Close waits for an upstream connect stuck in SASL")
	}
}
