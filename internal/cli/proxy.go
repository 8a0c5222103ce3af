package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/msklink/msklink/kafkaconn"
	"github.com/msklink/msklink/proxy"
)

const proxyUsage = connFlagsUsage + ` [--listen 127.0.0.1:19092] [--advertise-host H] [--client-auth none|tls|scram] [--listen-cert F --listen-key F] [--client-ca-file F] [--client-scram-users F] [--max-connections N] [--idle-timeout 10m] [--ready-file F] [--log-format text|json] ` + logLevelUsage + `

Serves Kafka clients that cannot sign MSK IAM authentication (kcat, kafka-python,
Kafka UIs) on local listeners, and connects each of them to MSK with TLS and IAM
under this machine's credentials (the default chain, --profile or --role-arn).
The bootstrap listener is --listen; each broker gets the next port. Point the
client at --listen with security.protocol PLAINTEXT (or SSL / SASL_* with
--client-auth tls / scram). A --listen beyond loopback needs --client-auth.`

// proxyReady is the --ready-file JSON.
type proxyReady struct {
	Bootstrap  string         `json:"bootstrap"`
	ClientAuth string         `json:"client_auth"`
	Brokers    []proxy.Broker `json:"brokers"`
}

func runProxy(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "proxy", proxyUsage)
	var cf connFlags
	cf.register(fs)
	listen := fs.String("listen", proxy.DefaultListen, "bootstrap listener host:port; brokers get the following ports")
	advertise := fs.String("advertise-host", "", "host clients reach the proxy by (default the --listen host)")
	clientAuth := fs.String("client-auth", "none", "how clients authenticate to the proxy: none, tls (client certificates of --client-ca-file) or scram (--client-scram-users)")
	listenCert := fs.String("listen-cert", "", "PEM certificate (chain) the listeners serve: TLS to clients")
	listenKey := fs.String("listen-key", "", "PEM key of --listen-cert")
	clientCA := fs.String("client-ca-file", "", "PEM CA that signs client certificates (--client-auth tls)")
	scramUsers := fs.String("client-scram-users", "", "file of user:password lines for --client-auth scram (SCRAM-SHA-512 and -256)")
	maxConns := fs.Int("max-connections", proxy.DefaultMaxConnections, "client connections open at once; more are closed at once")
	idle := fs.Duration("idle-timeout", proxy.DefaultIdleTimeout, "close client connections idle this long")
	readyFile := fs.String("ready-file", "", "once listening, write the bootstrap address and broker listeners as JSON to this file")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	logLevel := logLevelFlag(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("proxy: unexpected argument %q", pos[0])
	}
	auth, err := proxy.ParseClientAuth(*clientAuth)
	if err != nil {
		return usagef("proxy: --client-auth %q: use none, tls or scram", *clientAuth)
	}
	handler, err := logHandler(e, "proxy", *logFormat, logLevel)
	if err != nil {
		return err
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		return usagef("proxy: --listen %q: give host:port, such as %s", *listen, proxy.DefaultListen)
	}
	if *maxConns < 1 {
		return usagef("proxy: --max-connections %d: must be at least 1", *maxConns)
	}
	if *idle <= 0 {
		return usagef("proxy: --idle-timeout %s: must be positive", *idle)
	}
	if (*listenCert == "") != (*listenKey == "") {
		return usagef("proxy: --listen-cert and --listen-key go together")
	}
	opts := []proxy.Opt{proxy.WithListen(*listen), proxy.WithMaxConnections(*maxConns), proxy.WithIdleTimeout(*idle), proxy.WithLogger(slog.New(handler))}
	if flagSet(fs, "client-auth") {
		opts = append(opts, proxy.WithClientAuth(auth))
	}
	if *advertise != "" {
		opts = append(opts, proxy.WithAdvertisedHost(*advertise))
	}
	if *listenCert != "" {
		cert, err := tls.LoadX509KeyPair(*listenCert, *listenKey)
		if err != nil {
			return fmt.Errorf("proxy: --listen-cert %s with --listen-key %s: %w", *listenCert, *listenKey, err)
		}
		opts = append(opts, proxy.WithListenTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
	}
	switch auth {
	case proxy.ClientAuthTLS:
		if *listenCert == "" || *clientCA == "" {
			return usagef("proxy: --client-auth tls needs --listen-cert, --listen-key and --client-ca-file (the CA that signs client certificates)")
		}
		pem, err := os.ReadFile(*clientCA)
		if err != nil {
			return fmt.Errorf("proxy: --client-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("proxy: --client-ca-file %s holds no PEM certificate", *clientCA)
		}
		opts = append(opts, proxy.WithClientCAs(pool))
	case proxy.ClientAuthSCRAM:
		if *scramUsers == "" {
			return usagef("proxy: --client-auth scram needs --client-scram-users FILE (user:password lines)")
		}
		users, err := readSCRAMUsers(*scramUsers)
		if err != nil {
			return err
		}
		opts = append(opts, proxy.WithSCRAMUsers(users...))
	}
	cfg, err := cf.config(e)
	if err != nil {
		return err
	}
	p, err := proxy.Start(ctx, cfg, opts...)
	if errors.Is(err, proxy.ErrExposed) {
		return usagef("proxy: --listen %s is not a loopback address: the proxy would expose the cluster to anyone who can reach it, with its own IAM identity; "+
			"set --client-auth scram (with --client-scram-users) or tls (with --listen-cert, --listen-key and --client-ca-file), or --client-auth none to accept that", *listen)
	}
	if err != nil {
		return err
	}
	defer p.Close()

	fmt.Fprintf(e.stdout, "# msklink proxy: clients connect to %s (kcat -b %s -L); Ctrl-C to stop\n", p.Addr(), p.Addr())
	fmt.Fprintf(e.stdout, "export MSK_PROXY_BOOTSTRAP=%s\n", shellQuote(p.Addr()))
	if *readyFile != "" {
		if err := writeReadyFile("proxy", *readyFile, &proxyReady{Bootstrap: p.Addr(), ClientAuth: string(auth), Brokers: p.Brokers()}); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	if isTerminal(e.stderr) {
		go proxyProgress(ctx, e.stderr, p)
	}
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "msklink proxy: stopping")
	err = p.Close()
	fmt.Fprintf(e.stderr, "msklink proxy: stopped: %s\n", statsLine(p.Stats()))
	return err
}

// readSCRAMUsers reads user:password lines; blank lines and # comments are
// skipped.
func readSCRAMUsers(path string) ([]proxy.SCRAMUser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("proxy: --client-scram-users: %w", err)
	}
	defer f.Close()
	var users []proxy.SCRAMUser
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		u, pw, ok := strings.Cut(line, ":")
		if !ok || u == "" || pw == "" {
			return nil, fmt.Errorf("proxy: --client-scram-users %s line %d: want user:password", path, n)
		}
		users = append(users, proxy.SCRAMUser{Username: u, Password: kafkaconn.Password(pw)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("proxy: --client-scram-users: %w", err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("proxy: --client-scram-users %s has no user:password line", path)
	}
	return users, nil
}

// proxyProgress prints a summary line every 10 seconds when something
// changed: on a terminal only, so pipes get the log lines alone.
func proxyProgress(ctx context.Context, w io.Writer, p *proxy.Proxy) {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	var last proxy.Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s := p.Stats(); s != last {
			fmt.Fprintf(w, "msklink proxy: %s\n", statsLine(s))
			last = s
		}
	}
}

func statsLine(s proxy.Stats) string {
	return fmt.Sprintf("%d client connections open (%d accepted, %d refused), %d listeners, %s in, %s out, %d re-authentications, %d upstream failures",
		s.Connections, s.Accepted, s.Refused, s.Listeners, byteSize(s.BytesFromClients), byteSize(s.BytesToClients), s.Reauthentications, s.UpstreamFailures)
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
