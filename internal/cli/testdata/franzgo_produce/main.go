// Command franzgo_produce is the side-by-side benchmarks' bare franz-go
// producer: what a Go program writes to publish stdin's lines with
// franz-go alone, with the options msklink produce uses (TLS, acks=all,
// idempotence, no compression, no linger, 10,000 records buffered). It
// reads each line with a bufio.Scanner, copies it, hands it to the
// asynchronous Produce, and flushes at the end; it prints the acked and
// failed counts and exits 1 unless every record was acked.
//
//	franzgo_produce BOOTSTRAP CA_FILE TOPIC < records.txt
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: franzgo_produce BOOTSTRAP CA_FILE TOPIC < records")
		os.Exit(2)
	}
	pem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		fmt.Fprintf(os.Stderr, "%s: no PEM certificate\n", os.Args[2])
		os.Exit(1)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(strings.Split(os.Args[1], ",")...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.DefaultProduceTopic(os.Args[3]),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(10_000),
		kgo.DisableClientMetrics(),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var acked, failed atomic.Int64
	var firstErr atomic.Pointer[error]
	done := func(_ *kgo.Record, err error) {
		if err != nil {
			failed.Add(1)
			firstErr.CompareAndSwap(nil, &err)
			return
		}
		acked.Add(1)
	}
	ctx := context.Background()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		cl.Produce(ctx, &kgo.Record{Value: append([]byte(nil), sc.Bytes()...)}, done)
	}
	cl.Flush(ctx)
	cl.Close()
	fmt.Fprintf(os.Stderr, "franzgo_produce: %d acked, %d failed\n", acked.Load(), failed.Load())
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "reading stdin:", err)
		os.Exit(1)
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintln(os.Stderr, "first error:", *e)
		os.Exit(1)
	}
}
