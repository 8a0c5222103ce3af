package cli

import (
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/msklink/msklink/internal/schemareg"
)

// startLocalRegistry serves a Confluent-compatible schema registry (package
// schemareg) on addr, a loopback address, and returns its URL and the
// function that stops it. An empty addr serves none.
func startLocalRegistry(addr string) (url string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
		return "", nil, usagef("local: --schema-registry-addr %q: use a loopback address such as 127.0.0.1:8081 (the registry has no authentication)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("local: schema registry: %w", err)
	}
	srv := &http.Server{Handler: schemareg.NewServer(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
