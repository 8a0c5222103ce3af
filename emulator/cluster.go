package emulator

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/iampolicy"
)

// Opt configures Start.
type Opt func(*options)

type options struct {
	cfg    Config
	logger *slog.Logger
	now    func() time.Time
	kfake  []kfake.Opt
}

// WithConfig replaces the whole configuration (default DefaultConfig()).
// Options given after it adjust it.
func WithConfig(c Config) Opt { return func(o *options) { o.cfg = c } }

// WithBrokers sets the number of brokers (default 3).
func WithBrokers(n int) Opt { return func(o *options) { o.cfg.Brokers = n } }

// Ephemeral listens on 127.0.0.1 with free ports (default: 127.0.0.N with
// MSK's ports). Use it in tests, which may run in parallel.
func Ephemeral() Opt { return func(o *options) { o.cfg.Ephemeral = true } }

// WithLogger sets the logger for audit (authentication, authorization) and
// connection events (default: discard).
func WithLogger(l *slog.Logger) Opt { return func(o *options) { o.logger = l } }

// WithListeners sets the listener kinds to open (default all four).
func WithListeners(kinds ...ListenerKind) Opt {
	return func(o *options) { o.cfg.Listeners = append([]ListenerKind(nil), kinds...) }
}

// WithTopic creates topic name with partitions partitions at start
// (partitions <= 0: 3).
func WithTopic(name string, partitions int32) Opt {
	return func(o *options) { o.cfg.Topics = append(o.cfg.Topics, Topic{Name: name, Partitions: partitions}) }
}

// WithAutoCreateTopics lets Metadata requests create topics (default off,
// as on MSK).
func WithAutoCreateTopics() Opt { return func(o *options) { o.cfg.AutoCreateTopics = true } }

// WithIdentity adds an IAM identity (the default admin identity stays
// unless WithConfig set other identities).
func WithIdentity(id Identity) Opt {
	return func(o *options) {
		if o.cfg.Identities == nil {
			o.cfg.Identities = DefaultConfig().Identities
		}
		o.cfg.Identities = append(o.cfg.Identities, id)
	}
}

// WithSCRAMUser adds a SCRAM user (mechanism default SCRAM-SHA-512; the
// default msklink user stays unless WithConfig set other users).
func WithSCRAMUser(u SCRAMUser) Opt {
	return func(o *options) {
		if o.cfg.SCRAMUsers == nil {
			o.cfg.SCRAMUsers = DefaultConfig().SCRAMUsers
		}
		o.cfg.SCRAMUsers = append(o.cfg.SCRAMUsers, u)
	}
}

// WithSessionMaxLifetime bounds SASL sessions (default: only by the
// credentials' expiry).
func WithSessionMaxLifetime(d time.Duration) Opt {
	return func(o *options) { o.cfg.SessionMaxLifetime = Duration(d) }
}

// WithFaults injects faults from the start on broker (-1: every broker)
// and listener kind kinds (none: every kind).
func WithFaults(broker int32, f Faults, kinds ...ListenerKind) Opt {
	return func(o *options) {
		r := FaultRule{RequestLatency: Duration(f.RequestLatency), ResponseLatency: Duration(f.ResponseLatency),
			ResetAfterRequests: f.ResetAfterRequests, ResetProbability: f.ResetProbability, Blackhole: f.Blackhole}
		if broker >= 0 {
			r.Broker = &broker
		}
		if len(kinds) == 0 {
			o.cfg.Faults = append(o.cfg.Faults, r)
		}
		for _, k := range kinds {
			r.Listener = &k
			o.cfg.Faults = append(o.cfg.Faults, r)
		}
	}
}

// WithVerboseAuthErrors appends the emulator's reason to the error
// message of a failed authentication (default off: MSK's exact texts, such
// as "[<request id>]: Access denied"). MSK never sends the reason; code
// that reads it passes here and fails on MSK.
func WithVerboseAuthErrors() Opt { return func(o *options) { o.cfg.VerboseAuthErrors = true } }

// WithLimits sets MSK's connection limits (default none).
func WithLimits(l Limits) Opt { return func(o *options) { o.cfg.Limits = l } }

// WithDataDir persists data in dir (default memory only).
func WithDataDir(dir string) Opt { return func(o *options) { o.cfg.DataDir = dir } }

// WithCertDir sets where the CA file is written (default a temporary
// directory removed at Close).
func WithCertDir(dir string) Opt { return func(o *options) { o.cfg.CertDir = dir } }

// WithClock sets the clock used to verify tokens and bound sessions
// (default time.Now).
func WithClock(now func() time.Time) Opt { return func(o *options) { o.now = now } }

// WithKfakeOpts passes extra options to kfake.NewCluster (for example
// kfake.BrokerConfigs). Options that conflict with the emulator's own
// (ListenFn, NumBrokers, TLS, SASL) break it.
func WithKfakeOpts(opts ...kfake.Opt) Opt {
	return func(o *options) { o.kfake = append(o.kfake, opts...) }
}

// Cluster is a running emulated MSK cluster. Its methods are safe for
// concurrent use.
type Cluster struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	kf      *kfake.Cluster
	certs   *certs
	tmpDir  string
	brokers []*Broker
	byAddr  map[string]*Broker          // kfake's internal host:port -> broker
	offers  map[bool]map[int16][2]int16 // by ListenerKind.sasl: API key -> min, max version; see offered
	zstd    sync.Pool                   // *zstd.Decoder, see batchSize
	gzip    sync.Pool                   // *gzip.Reader
	lz4     sync.Pool                   // *lz4.Reader
	arn     iampolicy.ClusterARN
	kafkaID string // the Kafka cluster id, see Config.kafkaClusterID

	idents map[string]*identity // by access key id
	scram  map[string]SCRAMUser // by user name

	failMu   sync.Mutex
	failures []AuthFailure // the latest, see AuthFailures

	closeOnce sync.Once
	closeErr  error
}

// identity is a configured identity with parsed policies.
type identity struct {
	Identity
	policies []*iampolicy.Policy
}

// Start starts an emulated cluster and returns once every listener accepts
// connections. ctx bounds the start only; call Close to stop the cluster.
func Start(ctx context.Context, opts ...Opt) (*Cluster, error) {
	o := options{now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	o.cfg.fill()
	if err := o.cfg.validate(); err != nil {
		return nil, err
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	c := &Cluster{cfg: o.cfg, log: o.logger, now: o.now, byAddr: map[string]*Broker{},
		idents: map[string]*identity{}, scram: map[string]SCRAMUser{}}
	c.kafkaID = c.cfg.kafkaClusterID()
	var err error
	if c.arn, err = iampolicy.ParseClusterARN(c.cfg.clusterARN()); err != nil {
		return nil, fmt.Errorf("emulator: cluster ARN: %w", err)
	}
	for _, id := range c.cfg.Identities {
		ci := &identity{Identity: id}
		for i, raw := range id.Policies {
			p, err := iampolicy.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("emulator: identity %q policy %d: %w", id.Name, i+1, err)
			}
			ci.policies = append(ci.policies, p)
		}
		c.idents[id.AccessKeyID] = ci
	}
	for _, u := range c.cfg.SCRAMUsers {
		c.scram[u.Username] = u
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()

	// kfake: one in-process listener per broker (no socket: see
	// backendListener), recorded in order.
	var (
		lnMu sync.Mutex
		lns  []*backendListener
	)
	kopts := []kfake.Opt{
		kfake.NumBrokers(c.cfg.Brokers),
		kfake.ClusterID(c.kafkaID),
		kfake.DefaultNumPartitions(3),
		kfake.ListenFn(func(string, string) (net.Listener, error) {
			lnMu.Lock()
			defer lnMu.Unlock()
			ln := newBackendListener(len(lns))
			lns = append(lns, ln)
			return ln, nil
		}),
	}
	if c.cfg.AutoCreateTopics {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if c.cfg.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(c.cfg.DataDir))
	}
	for _, t := range c.cfg.Topics {
		kopts = append(kopts, kfake.SeedTopics(t.Partitions, t.Name))
	}
	kopts = append(kopts, o.kfake...)
	if c.kf, err = kfake.NewCluster(kopts...); err != nil {
		return nil, fmt.Errorf("emulator: starting kfake: %w", err)
	}
	addrs := c.kf.ListenAddrs()
	if len(addrs) != c.cfg.Brokers || len(lns) != c.cfg.Brokers {
		err = fmt.Errorf("emulator: kfake started %d brokers (%d listeners), want %d", len(addrs), len(lns), c.cfg.Brokers)
		return nil, err
	}
	// kfake creates broker i with node ID i, calling ListenFn in order; we
	// check that against ListenAddrs (also in broker order).
	for i, a := range addrs {
		if lns[i].Addr().String() != a {
			err = fmt.Errorf("emulator: kfake broker order differs from listener order (%s != %s)", lns[i].Addr(), a)
			return nil, err
		}
	}
	if err = ctx.Err(); err != nil {
		return nil, err
	}

	// Addresses and TLS.
	hosts := []string{}
	for i := range c.cfg.Brokers {
		host := "127.0.0.1"
		if !c.cfg.Ephemeral {
			host = "127.0.0." + strconv.Itoa(i+1)
		}
		b := &Broker{c: c, id: int32(i), host: host, backend: lns[i], listeners: map[ListenerKind]*Listener{}}
		c.brokers = append(c.brokers, b)
		c.byAddr[addrs[i]] = b // kfake advertises its listener's address
		hosts = append(hosts, host)
	}
	apis, err := kfakeAPIs(ctx, lns[0])
	if err != nil {
		return nil, err
	}
	c.offers = map[bool]map[int16][2]int16{}
	for _, sasl := range []bool{false, true} {
		m := map[int16][2]int16{}
		for _, k := range offer(slices.Clone(apis), sasl) {
			m[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		c.offers[sasl] = m
	}
	needTLS := false
	for _, k := range c.cfg.Listeners {
		needTLS = needTLS || k.tls()
	}
	if needTLS {
		dir := c.cfg.CertDir
		if dir == "" {
			if c.tmpDir, err = os.MkdirTemp("", "msklink-emulator-"); err != nil {
				return nil, fmt.Errorf("emulator: creating a directory for the CA: %w", err)
			}
			dir = c.tmpDir
		} else if err = os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("emulator: creating cert dir: %w", err)
		}
		if c.certs, err = newCerts(dir, hosts, c.cfg.brokerDomain(), c.cfg.CertFile, c.cfg.KeyFile, c.cfg.CAFile, c.now()); err != nil {
			return nil, err
		}
	}
	for _, b := range c.brokers {
		for _, k := range c.cfg.Listeners {
			l := &Listener{b: b, kind: k, conns: map[*conn]struct{}{}}
			port := 0
			if !c.cfg.Ephemeral {
				port = k.Port()
			}
			l.addr = net.JoinHostPort(b.host, strconv.Itoa(port))
			for _, r := range c.cfg.Faults {
				if (r.Broker == nil || *r.Broker == b.id) && (r.Listener == nil || *r.Listener == k) {
					l.faults = r.faults()
				}
			}
			if err = l.Start(); err != nil {
				return nil, err
			}
			b.listeners[k] = l
		}
	}
	c.log.Info("emulator started", "cluster_arn", c.ClusterARN(), "brokers", c.cfg.Brokers,
		"bootstrap_plaintext", c.Bootstrap(Plaintext), "bootstrap_tls", c.Bootstrap(TLS),
		"bootstrap_scram", c.Bootstrap(SCRAM), "bootstrap_iam", c.Bootstrap(IAM))
	return c, nil
}

// Close stops every listener, closes every connection and stops kfake. It
// removes the generated CA directory unless a CertDir was given. It is safe
// to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		for _, b := range c.brokers {
			for _, l := range b.listeners {
				l.mu.Lock()
				l.closed = true
				l.mu.Unlock()
				l.Stop()
				l.ResetConnections()
				l.wg.Wait()
			}
		}
		if c.kf != nil {
			c.kf.Close()
		}
		if c.tmpDir != "" {
			c.closeErr = os.RemoveAll(c.tmpDir)
		}
	})
	return c.closeErr
}

// Bootstrap returns the bootstrap string of the listener kind,
// "host:port,host:port,...", or "" if that kind is not open.
func (c *Cluster) Bootstrap(kind ListenerKind) string {
	var s string
	for _, b := range c.brokers {
		l := b.listeners[kind]
		if l == nil {
			return ""
		}
		if s != "" {
			s += ","
		}
		s += l.Addr()
	}
	return s
}

// BootstrapAddrs returns the addresses of the listeners of kind, in broker
// order (nil if that kind is not open).
func (c *Cluster) BootstrapAddrs(kind ListenerKind) []string {
	var out []string
	for _, b := range c.brokers {
		if l := b.listeners[kind]; l != nil {
			out = append(out, l.Addr())
		}
	}
	return out
}

// CAFile is the path of the PEM CA certificate clients should trust, or ""
// when no TLS listener is open (or user certificates came without a CA).
func (c *Cluster) CAFile() string {
	if c.certs == nil {
		return ""
	}
	return c.certs.caFile
}

// CAPool returns a pool holding the CA (empty without TLS listeners).
func (c *Cluster) CAPool() *x509.CertPool {
	if c.certs == nil {
		return x509.NewCertPool()
	}
	return c.certs.pool.Clone()
}

// Region is the cluster's AWS region.
func (c *Cluster) Region() string { return c.cfg.Region }

// ClusterARN is arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>.
func (c *Cluster) ClusterARN() string { return c.cfg.clusterARN() }

// BrokerDomain is the DNS domain MSK would give the cluster's brokers,
// "<name>.<id>.c3.kafka.<region>.amazonaws.com". The generated TLS
// certificate is issued for "*." + BrokerDomain, as MSK's certificates
// are, so a client can read the cluster's region from it; the brokers
// still listen and advertise on 127.0.0.N (see Bootstrap).
func (c *Cluster) BrokerDomain() string { return c.cfg.brokerDomain() }

// Identities returns the IAM identities (with their secrets: for tests and
// the CLI's ready file, never logged).
func (c *Cluster) Identities() []Identity { return append([]Identity(nil), c.cfg.Identities...) }

// SCRAMUsers returns the SCRAM users (with passwords).
func (c *Cluster) SCRAMUsers() []SCRAMUser { return append([]SCRAMUser(nil), c.cfg.SCRAMUsers...) }

// Config returns the effective configuration (defaults filled in).
func (c *Cluster) Config() Config { return c.cfg }

// Kfake returns the underlying kfake cluster, for its own controls (Fault,
// MoveTopicPartition, ShufflePartitionLeaders, CreateTopic, Control...).
// kfake node ID i is broker i.
func (c *Cluster) Kfake() *kfake.Cluster { return c.kf }

// Broker returns broker id (0-based, equal to its kfake node ID), or nil.
func (c *Cluster) Broker(id int32) *Broker {
	if id < 0 || int(id) >= len(c.brokers) {
		return nil
	}
	return c.brokers[id]
}

// Listener returns the listener of kind on broker id, or nil.
func (c *Cluster) Listener(id int32, kind ListenerKind) *Listener {
	b := c.Broker(id)
	if b == nil {
		return nil
	}
	return b.listeners[kind]
}

// lookup is the iamauth.Lookup of the configured identities.
func (c *Cluster) lookup(accessKeyID string) (iamauth.Identity, bool) {
	id, ok := c.idents[accessKeyID]
	if !ok {
		return iamauth.Identity{}, false
	}
	return iamauth.Identity{
		AccessKeyID:     id.AccessKeyID,
		SecretAccessKey: iamauth.SecretKey(id.SecretAccessKey),
		SessionToken:    iamauth.SessionToken(id.SessionToken),
		ARN:             id.ARN,
		Expires:         id.Expires,
	}, true
}

// Broker is one emulated broker: its listeners and its up/down state.
// Methods are safe for concurrent use.
type Broker struct {
	c         *Cluster
	id        int32
	host      string
	backend   *backendListener // kfake's listener for this broker
	listeners map[ListenerKind]*Listener

	mu      sync.Mutex
	rateSec int64
	rateN   int
	nconns  int
}

// ID is the broker's node ID (0-based, as kfake numbers it).
func (b *Broker) ID() int32 { return b.id }

// Host is the broker's advertised host.
func (b *Broker) Host() string { return b.host }

// Listener returns the broker's listener of kind, or nil.
func (b *Broker) Listener(kind ListenerKind) *Listener { return b.listeners[kind] }

// Down stops every listener of the broker and resets its connections, as
// if the broker process died. kfake keeps the broker in metadata (so
// clients see a leader they cannot reach), as Kafka does until the
// controller notices.
func (b *Broker) Down() {
	for _, l := range b.listeners {
		l.Stop()
		l.ResetConnections()
	}
}

// Up restarts the broker's listeners after Down.
func (b *Broker) Up() error {
	var errs []error
	for _, l := range b.listeners {
		errs = append(errs, l.Start())
	}
	return errors.Join(errs...)
}

// admit applies the per-broker connection limits to a new connection. It
// returns ok=false if the connection must be closed now, and tooMany if it
// is over the rate (SASL listeners then fail authentication with "Too many
// connects"). A connection admitted must call release.
func (b *Broker) admit() (ok, tooMany bool) {
	lim := b.c.cfg.Limits
	b.mu.Lock()
	defer b.mu.Unlock()
	if lim.MaxConnections > 0 && b.nconns >= lim.MaxConnections {
		return false, false
	}
	if lim.NewConnectionsPerSecond > 0 {
		// Wall time, not the injected clock: a test's frozen clock
		// would put every later connection over the rate.
		sec := time.Now().Unix()
		if sec != b.rateSec {
			b.rateSec, b.rateN = sec, 0
		}
		b.rateN++
		tooMany = b.rateN > lim.NewConnectionsPerSecond
	}
	b.nconns++
	return true, tooMany
}

func (b *Broker) release() {
	b.mu.Lock()
	b.nconns--
	b.mu.Unlock()
}
