package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// DefaultTimeout bounds each layer of the diagnosis (all bootstrap brokers
// of a layer are checked at once within it).
const DefaultTimeout = 5 * time.Second

// Opt configures Run.
type Opt func(*options)

type options struct {
	log      *slog.Logger
	timeout  time.Duration
	topic    string
	group    string
	produce  bool
	consume  bool
	esm      bool // see WithESM (esm.go)
	now      func() time.Time
	resolver *net.Resolver
}

// WithLogger logs each check through l at debug level. Default: discard.
func WithLogger(l *slog.Logger) Opt { return func(o *options) { o.log = l } }

// WithTimeout bounds each layer (DNS, TCP, TLS, SASL, metadata, each step
// of an advertised broker's chain, each authorization probe; produce and
// consume get twice it). Default DefaultTimeout. Layers that pass take the
// time they need; the layer that times out costs at most about 1.5 times it
// (a follow-up probe tells TLS and plaintext listeners apart), and the
// diagnosis stops there.
func WithTimeout(d time.Duration) Opt { return func(o *options) { o.timeout = d } }

// WithTopic names the topic whose authorization (DescribeTopic, WriteData,
// ReadData) is tried. Default: the Config's Topic; none skips those checks.
func WithTopic(t string) Opt { return func(o *options) { o.topic = t } }

// WithGroup names the consumer group whose authorization (DescribeGroup,
// AlterGroup) is tried. Default: none, which skips the group checks.
func WithGroup(g string) Opt { return func(o *options) { o.group = g } }

// WithProduce produces one record to the topic and reports its latency.
// Default off: without it, WriteData is tried with an empty batch the
// broker rejects after authorizing it, so nothing is written.
func WithProduce(on bool) Opt { return func(o *options) { o.produce = on } }

// WithConsume reads a record back from the topic (the produced one with
// WithProduce, else the partition's last) and makes a denied ReadData a
// failure rather than a warning. Default off.
func WithConsume(on bool) Opt { return func(o *options) { o.consume = on } }

// WithClock sets the clock token expiry is judged by. Default time.Now.
func WithClock(now func() time.Time) Opt { return func(o *options) { o.now = now } }

// WithResolver sets the DNS resolver. Default net.DefaultResolver.
func WithResolver(r *net.Resolver) Opt { return func(o *options) { o.resolver = r } }

// Run diagnoses the connection cfg describes, layer by layer, and returns
// the verdict. It never returns an error: every failure is a Report with
// a cause. Each layer is bounded by the timeout (WithTimeout), so a broker
// that drops packets is reported, not waited for. Run is safe to call
// concurrently; it opens its own connections and closes them before
// returning.
func Run(ctx context.Context, cfg kafkaconn.Config, opts ...Opt) Report {
	o := options{timeout: DefaultTimeout, now: time.Now, resolver: net.DefaultResolver}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.timeout <= 0 {
		o.timeout = DefaultTimeout
	}
	if o.topic == "" {
		o.topic = cfg.Topic
	}
	if o.resolver == nil {
		o.resolver = net.DefaultResolver
	}
	if cfg.Auth == "" {
		cfg.Auth = kafkaconn.AuthIAM
	}
	d := &diag{cfg: cfg, o: o, root: ctx, conns: map[int32]*wconn{}}
	defer d.closeAll()
	d.run(ctx)
	return d.finish()
}

// layerOrder returns the report's layers in order; a layer that did not run
// is listed as skipped.
func layerOrder() []string {
	return []string{"config", "credentials", "token", "dns", "tcp", "tls", "sasl", "metadata", "advertised", "authz", "produce", "consume"}
}

type diag struct {
	cfg  kafkaconn.Config
	o    options
	root context.Context // Run's: follow-up probes get their own time under it

	checks []Check
	ran    map[string]bool
	cause  string
	sum    string
	fix    string

	tlsCfg *tls.Config
	mech   sasl.Mechanism
	token  *iamauth.TokenInfo
	creds  *aws.Credentials

	pending []pendingFail // failures of the current layer (see layerVerdict)

	cert        certNames // the region of an MSK broker certificate (TLS layer)
	inferOnce   sync.Once // an Access denied is looked into once (see inferDenied)
	inferred    string
	inferredWhy string

	mu    sync.Mutex
	conns map[int32]*wconn // authenticated connections by broker id
	open  []*wconn         // every connection, closed at the end
}

func (d *diag) add(layer, name string, st Status, dur time.Duration, detail string) {
	if d.ran == nil {
		d.ran = map[string]bool{}
	}
	d.ran[layer] = true
	d.checks = append(d.checks, Check{Name: name, Status: st, Duration: dur.Round(time.Millisecond), Detail: detail})
	d.o.log.Debug("doctor check", "name", name, "status", string(st), "duration", dur, "detail", detail)
}

// failed records the verdict (the first one wins).
func (d *diag) failed(cause, summary string) {
	if d.cause != "" {
		return
	}
	d.cause, d.sum = cause, summary
	if doc, ok := CauseInfo(cause); ok {
		d.fix = doc.Fix
	}
}

func (d *diag) finish() Report {
	for _, l := range layerOrder() {
		if !d.ran[l] {
			why := "not run: an earlier layer failed"
			if d.cause == "" {
				why = "does not apply to this configuration"
			}
			d.checks = append(d.checks, Check{Name: l, Status: Skip, Detail: why})
		}
	}
	r := Report{Cause: d.cause, Summary: d.sum, Fix: d.fix, Checks: d.checks}
	if r.Cause == "" {
		r.OK, r.Cause = true, CauseOK
		r.Summary = "every check passed"
		if d.o.topic == "" {
			r.Summary += " (no topic given: topic and group authorization not tried)"
		}
		r.Fix = "nothing to fix"
	}
	return r
}

func (d *diag) track(w *wconn) {
	d.mu.Lock()
	d.open = append(d.open, w)
	d.mu.Unlock()
}

func (d *diag) closeAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, w := range d.open {
		_ = w.c.Close()
	}
}

func (d *diag) layerCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d.o.timeout)
}

func (d *diag) usesTLS() bool { return d.cfg.Auth != kafkaconn.AuthPlaintext }
func (d *diag) usesSASL() bool {
	return d.cfg.Auth == kafkaconn.AuthIAM || d.cfg.Auth == kafkaconn.AuthSCRAM
}

func (d *diag) run(ctx context.Context) {
	if !d.checkConfig(ctx) {
		return
	}
	if d.cfg.Auth == kafkaconn.AuthIAM {
		if !d.checkCredentials(ctx) {
			return
		}
	} else {
		why := fmt.Sprintf("auth %s: no IAM token", d.cfg.Auth)
		d.add("credentials", "credentials", Skip, 0, why)
		d.add("token", "token", Skip, 0, why)
	}
	boot := d.bootstrap(ctx)
	if boot == nil {
		return
	}
	md, ok := d.checkMetadata(ctx, boot)
	if !ok {
		return
	}
	if !d.checkAdvertised(ctx, md, boot) {
		return
	}
	if d.o.topic == "" {
		return
	}
	if d.o.esm {
		d.checkESM(ctx, md)
		return
	}
	if !d.checkAuthz(ctx, md) {
		return
	}
	d.roundTrip(ctx)
}

// checkConfig validates the Config as kafkaconn does and builds the TLS
// configuration and SASL mechanism.
func (d *diag) checkConfig(ctx context.Context) bool {
	start := time.Now()
	warnings, err := d.cfg.Validate()
	if err != nil {
		var fixes []string
		var details []string
		cause := CauseConfig
		for _, e := range unjoin(err) {
			var ce *kafkaconn.ConfigError
			if errors.As(e, &ce) {
				if ce.Fix != "" {
					fixes = append(fixes, ce.Fix)
				}
				if ce.Field == "region" && len(details) == 0 && d.regionContradictsHosts() {
					// The region contradicts the brokers' host names: the
					// token would be rejected by every broker.
					cause = CauseTokenRegion
				}
			}
			details = append(details, e.Error())
		}
		detail := strings.Join(details, "; ")
		d.add("config", "config", Fail, time.Since(start), detail)
		d.failed(cause, "the connection settings cannot work: "+detail)
		if len(fixes) > 0 {
			d.fix = strings.Join(fixes, "; ")
		}
		return false
	}
	if d.tlsCfg, err = kafkaconn.TLSConfig(d.cfg); err != nil {
		d.add("config", "config", Fail, time.Since(start), err.Error())
		d.failed(CauseConfig, "TLS settings: "+err.Error())
		return false
	}
	if d.cfg.Auth == kafkaconn.AuthSCRAM {
		if d.mech, err = kafkaconn.Mechanism(ctx, d.cfg, nil); err != nil {
			d.add("config", "config", Fail, time.Since(start), err.Error())
			d.failed(CauseConfig, "SASL settings: "+err.Error())
			return false
		}
	}
	detail := fmt.Sprintf("auth %s, %d bootstrap broker(s) %s", d.cfg.Auth, len(d.cfg.Brokers), strings.Join(d.cfg.Brokers, ","))
	st := Pass
	if len(warnings) > 0 {
		st = Warn
		for _, w := range warnings {
			detail += "; warning: " + w.String()
		}
	}
	d.add("config", "config", st, time.Since(start), detail)
	return true
}

// regionContradictsHosts reports whether the configured region differs
// from the region in an MSK broker host name.
func (d *diag) regionContradictsHosts() bool {
	for _, b := range d.cfg.Brokers {
		if r, ok := iamauth.RegionFromHost(b); ok && d.cfg.Region != "" && r != d.cfg.Region {
			return true
		}
	}
	return false
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// checkCredentials resolves the IAM credentials and signs a token, and
// judges the token locally (region, expiry).
func (d *diag) checkCredentials(ctx context.Context) bool {
	start := time.Now()
	lctx, cancel := d.layerCtx(ctx)
	defer cancel()
	p, err := kafkaconn.TokenProvider(lctx, d.cfg)
	if err != nil {
		d.add("credentials", "credentials", Fail, time.Since(start), err.Error())
		if errors.Is(err, iamauth.ErrNoRegion) {
			d.failed(CauseConfig, "no region for the IAM token: "+err.Error())
			d.fix = "pass --region (MSK_REGION) with the cluster's region, or use the MSK broker host names"
		} else {
			d.failed(CauseCredentials, "IAM credentials: "+err.Error())
		}
		return false
	}
	creds, err := p.Credentials(lctx)
	if err != nil {
		detail := err.Error()
		var ce *iamauth.CredentialsError
		if errors.As(err, &ce) {
			detail = fmt.Sprintf("no usable credentials from %s: %v", ce.Source, ce.Err)
		}
		if lctx.Err() != nil {
			detail += fmt.Sprintf(" (gave up after %s: the credential chain may be waiting for an instance metadata endpoint)", d.o.timeout)
		}
		d.add("credentials", "credentials", Fail, time.Since(start), detail)
		d.failed(CauseCredentials, detail)
		return false
	}
	d.creds = &creds
	now := d.o.now()
	detail := fmt.Sprintf("access key %s from %s", creds.AccessKeyID, orUnknown(creds.Source))
	st := Pass
	if creds.CanExpire {
		left := creds.Expires.Sub(now)
		if left <= 0 {
			detail += fmt.Sprintf(", expired at %s (%s ago)", creds.Expires.UTC().Format(time.RFC3339), (-left).Round(time.Second))
			d.add("credentials", "credentials", Fail, time.Since(start), detail)
			d.failed(CauseTokenExpired, "the IAM credentials have expired: "+detail)
			return false
		}
		detail += fmt.Sprintf(", expire at %s (in %s)", creds.Expires.UTC().Format(time.RFC3339), left.Round(time.Second))
		if left < 5*time.Minute {
			st = Warn
			detail += ": about to expire; MSK ends sessions when the credentials expire"
		}
	} else {
		detail += ", long-term (no expiry)"
	}
	d.add("credentials", "credentials", st, time.Since(start), detail)

	start = time.Now()
	tok, _, err := p.Token(lctx)
	if err != nil {
		d.add("token", "token", Fail, time.Since(start), err.Error())
		d.failed(CauseCredentials, "signing the IAM token: "+err.Error())
		return false
	}
	info, err := iamauth.Inspect(string(tok))
	if err != nil {
		d.add("token", "token", Fail, time.Since(start), err.Error())
		d.failed(CauseCredentials, "the IAM token is malformed: "+err.Error())
		return false
	}
	d.token = &info
	detail = fmt.Sprintf("signed for region %s (host %s) at %s, valid until %s, access key %s, session token %s; principal: the role or user of that access key",
		info.Region, info.Host, info.SignedAt.UTC().Format(time.RFC3339), info.Expires.UTC().Format(time.RFC3339), info.AccessKeyID, yesNo(info.HasSessionToken))
	for _, b := range d.cfg.Brokers {
		if r, ok := iamauth.RegionFromHost(b); ok && r != info.Region {
			detail += fmt.Sprintf("; broker %s is in %s", b, r)
			d.add("token", "token", Fail, time.Since(start), detail)
			d.failed(CauseTokenRegion, fmt.Sprintf("the token is signed for %s but broker %s is in %s", info.Region, b, r))
			return false
		}
	}
	if d.cfg.IAMMechanism == kafkaconn.MechanismAWSMSKIAM {
		d.mech = p.MSKIAM()
		detail += "; mechanism AWS_MSK_IAM (signed per broker host)"
	} else {
		d.mech = p.OAuth()
	}
	d.add("token", "token", Pass, time.Since(start), detail)
	return true
}

func orUnknown(s string) string {
	if s == "" {
		return "an unnamed source"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// addr is one address to try: the name as given and one of its IPs.
type addr struct {
	name string // host:port as configured or advertised
	host string // host part of name
	dial string // ip:port
}

// step is one probe's result at one layer.
type step struct {
	cause  string // "" on success
	detail string
	dur    time.Duration
	warn   bool
}

// bootstrap runs DNS, TCP, TLS and SASL against every bootstrap address,
// each layer in parallel, and returns the authenticated connections.
func (d *diag) bootstrap(ctx context.Context) []*wconn {
	// DNS, every host at once.
	type hostRes struct {
		name, host, port string
		ips              []string
	}
	hosts := make([]*hostRes, 0, len(d.cfg.Brokers))
	byHost := map[string]*hostRes{}
	var uniq []*hostRes
	for _, b := range d.cfg.Brokers {
		h, p, err := net.SplitHostPort(b)
		if err != nil {
			h, p = b, "9098"
		}
		hr := &hostRes{name: b, host: h, port: p}
		hosts = append(hosts, hr)
		if byHost[h] == nil {
			byHost[h] = hr
			uniq = append(uniq, hr)
		}
	}
	resolved := map[string]bool{}
	for _, i := range d.probeEach(ctx, "dns", indexes(len(uniq)), func(i int) string { return "dns " + uniq[i].host },
		func(ctx context.Context, i int) (st step) {
			uniq[i].ips, st = d.resolve(ctx, uniq[i].host)
			return st
		}) {
		resolved[uniq[i].host] = true
	}
	var addrs []addr
	for _, h := range hosts {
		if !resolved[h.host] {
			continue
		}
		for _, ip := range byHost[h.host].ips {
			addrs = append(addrs, addr{name: h.name, host: h.host, dial: net.JoinHostPort(ip, h.port)})
		}
	}
	if !d.layerVerdict("dns", len(addrs) > 0, "no bootstrap host resolves") {
		return nil
	}

	// TCP, every address at once.
	conns := make([]net.Conn, len(addrs))
	live := d.probeEach(ctx, "tcp", indexes(len(addrs)), func(i int) string { return "tcp " + addrs[i].dial },
		func(ctx context.Context, i int) (st step) {
			conns[i], st = d.dialTCP(ctx, addrs[i].dial)
			return st
		})
	if !d.layerVerdict("tcp", len(live) > 0, "no bootstrap address accepts a TCP connection") {
		return nil
	}

	// TLS.
	if !d.usesTLS() {
		d.add("tls", "tls", Skip, 0, "auth plaintext: no TLS")
	} else {
		live = d.probeEach(ctx, "tls", live, func(i int) string { return "tls " + addrs[i].dial },
			func(ctx context.Context, i int) (st step) {
				conns[i], st = d.handshake(ctx, conns[i], addrs[i])
				return st
			})
		if !d.layerVerdict("tls", len(live) > 0, "no bootstrap broker completes a TLS handshake") {
			return nil
		}
	}

	// Kafka: ApiVersions, SASL.
	ws := make([]*wconn, len(addrs))
	var out []*wconn
	for _, i := range d.probeEach(ctx, "sasl", live, func(i int) string { return d.helloName() + " " + addrs[i].dial },
		func(ctx context.Context, i int) (st step) {
			ws[i], st = d.hello(ctx, conns[i], addrs[i])
			return st
		}) {
		out = append(out, ws[i])
	}
	if !d.layerVerdict("sasl", len(out) > 0, "no bootstrap broker accepts the client") {
		return nil
	}
	return out
}

func (d *diag) helloName() string {
	if d.usesSASL() {
		return "sasl"
	}
	return "kafka"
}

// record adds a check for a probe step; it returns whether the step passed.
// A failure is recorded as the verdict's candidate (see layerVerdict).
func (d *diag) record(layer, name string, s step) bool {
	switch {
	case s.cause == "" && s.warn:
		d.add(layer, name, Warn, s.dur, s.detail)
	case s.cause == "":
		d.add(layer, name, Pass, s.dur, s.detail)
	default:
		d.add(layer, name, Fail, s.dur, s.detail)
		d.pending = append(d.pending, pendingFail{check: len(d.checks) - 1, cause: s.cause, summary: name + ": " + s.detail})
		return false
	}
	return true
}

// layerVerdict ends a layer: when nothing passed, the first failure of the
// layer is the verdict; when some passed, the failures stay as checks
// (clients fall back to the other brokers, and the advertised layer tries
// each broker again).
func (d *diag) layerVerdict(layer string, anyPassed bool, what string) bool {
	p := d.pending
	d.pending = nil
	if anyPassed {
		for _, f := range p {
			d.checks[f.check].Status = Warn
		}
		return true
	}
	if len(p) == 0 {
		d.failed(CauseConfig, what)
		return false
	}
	d.failed(p[0].cause, what+": "+p[0].summary)
	return false
}

type pendingFail struct {
	check          int
	cause, summary string
}

// probeEach runs probe for each of idx at once, within one layer's
// timeout, times it, records it as the check name(i), and returns the
// indexes whose probe passed, in order.
func (d *diag) probeEach(ctx context.Context, layer string, idx []int, name func(i int) string, probe func(ctx context.Context, i int) step) []int {
	steps := make([]step, len(idx))
	lctx, cancel := d.layerCtx(ctx)
	parallel(len(idx), func(j int) {
		start := time.Now()
		steps[j] = probe(lctx, idx[j])
		steps[j].dur = time.Since(start)
	})
	cancel()
	var passed []int
	for j, i := range idx {
		if d.record(layer, name(i), steps[j]) {
			passed = append(passed, i)
		}
	}
	return passed
}

// indexes returns 0, 1, ..., n-1.
func indexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

func (d *diag) resolve(ctx context.Context, host string) ([]string, step) {
	if ip := net.ParseIP(host); ip != nil {
		return []string{host}, step{detail: "IP address, no lookup"}
	}
	ips, err := d.o.resolver.LookupHost(ctx, host)
	if err != nil {
		detail := err.Error()
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			detail = fmt.Sprintf("%s does not resolve (no such host): private MSK names resolve only inside the cluster's VPC", host)
		} else if errors.As(err, &de) && de.IsTimeout || ctx.Err() != nil {
			detail = fmt.Sprintf("looking up %s timed out: no DNS resolver reachable", host)
		}
		return nil, step{cause: CauseDNS, detail: detail}
	}
	return ips, step{detail: "resolves to " + strings.Join(ips, ", ")}
}

func (d *diag) dialTCP(ctx context.Context, ipport string) (net.Conn, step) {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", ipport)
	if err == nil {
		return c, step{detail: "connected"}
	}
	port := ipport[strings.LastIndexByte(ipport, ':')+1:]
	switch classifyNet(err) {
	case netRefused:
		return nil, step{cause: CauseTCPRefused, detail: fmt.Sprintf("connection refused: nothing listens on port %s (%s)", port, portHint(port))}
	case netTimeout:
		return nil, step{cause: CauseTCPTimeout, detail: fmt.Sprintf("no answer within %s: packets are dropped; port %s must be open from the function's security group to the cluster's security group (and NACLs/routes must allow it)", d.o.timeout, port)}
	case netReset:
		return nil, step{cause: CauseConnectionReset, detail: fmt.Sprintf("%v: the broker (or something in between) accepted the connection and reset it at once", err)}
	}
	return nil, step{cause: CauseTCPTimeout, detail: fmt.Sprintf("%v: no route to the broker; the function must run in (or route to) the cluster's VPC with port %s open", err, port)}
}

func portHint(port string) string {
	n, _ := strconv.Atoi(port)
	auths, ok := kafkaconn.PortAuth(n)
	if !ok {
		return "not an MSK port"
	}
	var s []string
	for _, a := range auths {
		s = append(s, string(a))
	}
	return "MSK's port for " + strings.Join(s, "/") + "; is that listener enabled on the cluster?"
}

// handshake does the TLS handshake; on a failure that is not about trust it
// finds out whether the port speaks plaintext Kafka (tls_not_offered).
func (d *diag) handshake(ctx context.Context, c net.Conn, a addr) (net.Conn, step) {
	cfg := d.tlsCfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = a.host
	}
	tc := tls.Client(c, cfg)
	if dl, ok := ctx.Deadline(); ok {
		_ = tc.SetDeadline(dl)
	}
	err := tc.HandshakeContext(ctx)
	if err == nil {
		st := tc.ConnectionState()
		if len(st.PeerCertificates) > 0 {
			d.noteCert(st.PeerCertificates[0])
		}
		detail := fmt.Sprintf("%s, certificate for %s trusted", tls.VersionName(st.Version), certName(st))
		_ = tc.SetDeadline(time.Time{})
		return tc, step{detail: detail}
	}
	_ = c.Close()
	var (
		ua  x509.UnknownAuthorityError
		hn  x509.HostnameError
		inv x509.CertificateInvalidError
		ver *tls.CertificateVerificationError
	)
	switch {
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &inv), errors.As(err, &ver):
		detail := "certificate not trusted: " + err.Error()
		if d.cfg.TLSCAFile == "" {
			detail += " (using the system CA pool; pass --ca-file for a private CA)"
		}
		return nil, step{cause: CauseTLSUntrusted, detail: detail}
	}
	// A silent peer is a timeout: plaintext brokers close the connection on
	// a ClientHello (its first bytes read as an oversized request) rather
	// than wait, so no probe is spent and the layer stays within its bound.
	if classifyNet(err) == netTimeout {
		return nil, step{cause: CauseBrokerTimeout, detail: fmt.Sprintf("TLS handshake got no answer within %s: the broker accepted the connection but does not respond", d.o.timeout)}
	}
	// Not a trust problem: does the port speak plaintext Kafka?
	pctx, cancel := context.WithTimeout(d.root, d.o.timeout/2)
	defer cancel()
	if d.speaksPlainKafka(pctx, a) {
		return nil, step{cause: CauseTLSNotOffered, detail: fmt.Sprintf("TLS handshake failed (%v), and the port answers plaintext Kafka: it is a plaintext listener", err)}
	}
	switch classifyNet(err) {
	case netReset:
		return nil, step{cause: CauseConnectionReset, detail: fmt.Sprintf("the broker closed the connection during the TLS handshake: %v", err)}
	}
	return nil, step{cause: CauseTLSNotOffered, detail: fmt.Sprintf("TLS handshake failed: %v", err)}
}

func certName(st tls.ConnectionState) string {
	if len(st.PeerCertificates) == 0 {
		return "?"
	}
	c := st.PeerCertificates[0]
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.CommonName
}

// speaksPlainKafka reports whether a plaintext ApiVersions on a new
// connection to a gets a Kafka answer.
func (d *diag) speaksPlainKafka(ctx context.Context, a addr) bool {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", a.dial)
	if err != nil {
		return false
	}
	defer c.Close()
	w := d.newWconn(c, a)
	_, err = w.apiVersions(ctx)
	return err == nil
}

// speaksTLS reports whether a new connection to a completes a TLS
// handshake (certificate not checked).
func (d *diag) speaksTLS(ctx context.Context, a addr) bool {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", a.dial)
	if err != nil {
		return false
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: a.host}) //nolint:gosec // only probing whether TLS is spoken
	return tc.HandshakeContext(ctx) == nil
}

func (d *diag) newWconn(c net.Conn, a addr) *wconn {
	clientID := d.cfg.ClientID
	if clientID == "" {
		clientID = "msklink-doctor"
	}
	return &wconn{c: c, addr: a.name, host: a.host, f: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// hello sends ApiVersions and authenticates (SASL modes).
func (d *diag) hello(ctx context.Context, c net.Conn, a addr) (*wconn, step) {
	w := d.newWconn(c, a)
	d.track(w)
	resp, err := w.apiVersions(ctx)
	if err != nil {
		// A TLS listener rejects a plaintext request at once (its first
		// byte is no TLS record type); only then is the TLS probe worth it.
		if !d.usesTLS() && classifyNet(err) != netTimeout {
			pctx, cancel := context.WithTimeout(d.root, d.o.timeout/2)
			defer cancel()
			if d.speaksTLS(pctx, a) {
				return nil, step{cause: CauseTLSRequired, detail: fmt.Sprintf("ApiVersions failed (%v), and the port completes a TLS handshake: it expects TLS", err)}
			}
		}
		return nil, d.connStep("ApiVersions", err)
	}
	detail := fmt.Sprintf("ApiVersions: %d APIs", len(resp.ApiKeys))
	if !d.usesSASL() {
		return w, step{detail: detail}
	}
	if _, ok := w.versions[17]; !ok {
		return nil, step{cause: CauseAuthMechanism, detail: detail + "; the broker offers no SaslHandshake: the listener has no SASL"}
	}
	offered, life, err := w.authenticate(ctx, d.mech)
	var se *saslError
	switch {
	case err == nil:
		detail += fmt.Sprintf("; listener offers %s; %s authenticated", strings.Join(offered, ", "), d.mech.Name())
		if life > 0 {
			detail += fmt.Sprintf(", session lifetime %s", life.Round(time.Second))
		}
		return w, step{detail: detail}
	case errors.As(err, &se) && se.stage == "handshake" && se.code == kerr.IllegalSaslState.Code:
		return nil, step{cause: CauseAuthMechanism, detail: detail + "; SaslHandshake answered ILLEGAL_SASL_STATE: the listener has no SASL (MSK's TLS-only port 9094); IAM uses port 9098"}
	case errors.As(err, &se) && se.stage == "handshake":
		return nil, step{cause: CauseAuthMechanism, detail: fmt.Sprintf("%s; mechanism %s not offered; the listener offers [%s]%s", detail, d.mech.Name(), strings.Join(se.offered, ", "), mechHint(se.offered))}
	case errors.As(err, &se):
		cause, why := d.authCause(a, se.message)
		return nil, step{cause: cause, detail: fmt.Sprintf("%s; %s rejected: %v%s", detail, d.mech.Name(), kmsgErr(se), why)}
	}
	if classifyNet(err) == netReset && len(offered) == 0 {
		return nil, step{cause: CauseAuthMechanism, detail: detail + "; the broker closed the connection on SaslHandshake: the listener has no SASL (" + err.Error() + ")"}
	}
	s := d.connStep("SASL", err)
	s.detail = detail + "; " + s.detail
	return nil, s
}

func kmsgErr(se *saslError) string {
	if se.message != "" {
		return fmt.Sprintf("%q", se.message)
	}
	return fmt.Sprintf("error code %d", se.code)
}

func mechHint(offered []string) string {
	for _, m := range offered {
		if m == "PLAIN" {
			// MSK never offers PLAIN: a broker without SASL configured on
			// this listener (MSK's TLS-only port 9094 has no SASL).
			return ": MSK offers no PLAIN, so this is not an MSK SASL listener (9094 is TLS without SASL); IAM uses port 9098, SCRAM 9096"
		}
	}
	for _, m := range offered {
		if strings.HasPrefix(m, "SCRAM") {
			return ": this is a SCRAM listener (MSK port 9096); IAM uses port 9098"
		}
		if m == kafkaconn.MechanismOAuthBearer || m == kafkaconn.MechanismAWSMSKIAM {
			return ": this is the IAM listener (MSK port 9098); SCRAM uses port 9096"
		}
	}
	return ""
}

// connStep classifies a connection failure during a request.
func (d *diag) connStep(what string, err error) step {
	switch classifyNet(err) {
	case netTimeout:
		return step{cause: CauseBrokerTimeout, detail: fmt.Sprintf("%s got no answer within %s: the broker accepted the connection but does not respond", what, d.o.timeout)}
	case netReset:
		return step{cause: CauseConnectionReset, detail: fmt.Sprintf("the broker closed the connection during %s without an answer (%v)", what, err)}
	}
	if errors.Is(err, errNotKafka) {
		return step{cause: CauseConnectionReset, detail: fmt.Sprintf("%s: %v", what, err)}
	}
	return step{cause: CauseConnectionReset, detail: fmt.Sprintf("%s failed: %v", what, err)}
}
