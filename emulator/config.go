package emulator

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/iampolicy"
	"github.com/msklink/msklink/kafkaconn"
)

// ListenerKind is one of MSK's client listener kinds. Its text form
// ("plaintext", "tls", "scram", "iam") is used in JSON configs and by the CLI.
type ListenerKind int

// The listener kinds, each with MSK's port number.
const (
	Plaintext ListenerKind = iota // 9092, no encryption, no authentication
	TLS                           // 9094, TLS, no authentication
	SCRAM                         // 9096, TLS + SASL/SCRAM-SHA-512 (and -256)
	IAM                           // 9098, TLS + SASL OAUTHBEARER / AWS_MSK_IAM, IAM policies
)

// allListeners is every listener kind, in port order.
var allListeners = [...]ListenerKind{Plaintext, TLS, SCRAM, IAM}

// String returns "plaintext", "tls", "scram" or "iam".
func (k ListenerKind) String() string {
	switch k {
	case Plaintext:
		return "plaintext"
	case TLS:
		return "tls"
	case SCRAM:
		return "scram"
	case IAM:
		return "iam"
	}
	return fmt.Sprintf("ListenerKind(%d)", int(k))
}

// Port is the port MSK uses for the listener kind.
func (k ListenerKind) Port() int { return 9092 + 2*int(k) }

func (k ListenerKind) tls() bool  { return k != Plaintext }
func (k ListenerKind) sasl() bool { return k == SCRAM || k == IAM }

// MarshalText implements encoding.TextMarshaler.
func (k ListenerKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *ListenerKind) UnmarshalText(b []byte) error {
	kk, err := ParseListenerKind(string(b))
	*k = kk
	return err
}

// ParseListenerKind parses "plaintext", "tls", "scram" or "iam".
func ParseListenerKind(s string) (ListenerKind, error) {
	for _, k := range allListeners {
		if strings.EqualFold(s, k.String()) {
			return k, nil
		}
	}
	return 0, fmt.Errorf("emulator: unknown listener kind %q: use plaintext, tls, scram or iam", s)
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1h30m") or a number of seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("emulator: bad duration %q: write it like \"90s\" or \"1h\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("emulator: bad duration %s: write it like \"90s\" or a number of seconds", b)
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// Identity is an IAM identity the IAM listener accepts. The secret key and
// session token never reach a log (see LogValue).
type Identity struct {
	// Name is a label for logs and the CLI ("admin").
	Name string `json:"name"`
	// ARN is the principal's ARN, e.g. arn:aws:iam::000000000000:user/admin.
	ARN string `json:"arn"`
	// AccessKeyID and SecretAccessKey are the credentials clients sign with.
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	// SessionToken, if set, must be presented by clients (temporary credentials).
	SessionToken string `json:"session_token,omitempty"`
	// Expires, if not zero, is when the credentials expire: sessions are
	// bounded by it and later signatures are rejected.
	Expires time.Time `json:"expires,omitzero"`
	// Policies are IAM policy documents (raw JSON) attached to the identity.
	// An identity without policies is allowed nothing, not even Connect.
	Policies []json.RawMessage `json:"policies,omitempty"`
}

// LogValue implements slog.LogValuer without the secret and session token.
func (id Identity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", id.Name), slog.String("arn", id.ARN),
		slog.String("access_key_id", id.AccessKeyID))
}

// SCRAMUser is a user of the SCRAM listener.
type SCRAMUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Mechanism is "SCRAM-SHA-512" (the default, MSK's only one) or
	// "SCRAM-SHA-256".
	Mechanism string `json:"mechanism,omitempty"`
}

// LogValue implements slog.LogValuer without the password.
func (u SCRAMUser) LogValue() slog.Value {
	return slog.GroupValue(slog.String("username", u.Username), slog.String("mechanism", u.Mechanism))
}

// Topic is a topic created at start.
type Topic struct {
	Name       string `json:"name"`
	Partitions int32  `json:"partitions"` // <= 0: 3
}

// Limits are MSK's per-broker connection limits. Zero values mean no limit.
type Limits struct {
	// NewConnectionsPerSecond bounds new connections per broker per second;
	// over it, SASL authentication fails with "Too many connects" and
	// non-SASL connections are closed. MSK: 100 (4 on t3.small).
	NewConnectionsPerSecond int `json:"new_connections_per_second,omitempty"`
	// MaxConnections bounds open connections per broker (MSK: 3000 with IAM);
	// over it, new connections are closed at once.
	MaxConnections int `json:"max_connections,omitempty"`
	// IdleTimeout closes connections idle that long, like
	// connections.max.idle.ms (Kafka's default 10m): no request arrives,
	// or an answer cannot be written because the client stops reading.
	// Each close is logged at Info ("connection closed: idle").
	IdleTimeout Duration `json:"idle_timeout,omitempty"`
}

// Config describes an emulated cluster. The zero value is completed by
// defaults (see DefaultConfig) field by field.
type Config struct {
	Region      string `json:"region,omitempty"`       // default us-east-1
	AccountID   string `json:"account_id,omitempty"`   // default 000000000000
	ClusterName string `json:"cluster_name,omitempty"` // default local
	// ClusterUUID completes the cluster ARN, in MSK's "<uuid>-<n>" form;
	// default the fixed 00000000-0000-0000-0000-000000000000-1, so ARNs in
	// policies stay the same between runs.
	ClusterUUID string `json:"cluster_uuid,omitempty"`
	// Brokers is the number of brokers, default 3.
	Brokers int `json:"brokers,omitempty"`
	// Listeners are the listener kinds to open, default all four.
	Listeners []ListenerKind `json:"listeners,omitempty"`
	// Ephemeral listens on 127.0.0.1 with free ports instead of 127.0.0.N
	// with MSK's ports.
	Ephemeral bool `json:"ephemeral,omitempty"`
	// Identities are the IAM identities; default one "admin" identity with
	// the AWS documentation example keys allowed kafka-cluster:*.
	Identities []Identity `json:"identities,omitempty"`
	// SCRAMUsers default to msklink / msklink-secret (SCRAM-SHA-512).
	SCRAMUsers []SCRAMUser `json:"scram_users,omitempty"`
	// Topics are created at start.
	Topics []Topic `json:"topics,omitempty"`
	// AutoCreateTopics lets Metadata requests create topics (off, as on MSK).
	AutoCreateTopics bool `json:"auto_create_topics,omitempty"`
	// DataDir persists kfake's state there (kfake.DataDir); default memory.
	DataDir string `json:"data_dir,omitempty"`
	// CertDir is where the generated CA is written (ca.pem); default a new
	// temporary directory removed at Close.
	CertDir string `json:"cert_dir,omitempty"`
	// CertFile and KeyFile, both set, are the PEM certificate (chain) and key
	// every TLS listener serves instead of generated ones; CAFile then names
	// the CA clients should trust (may be empty).
	CertFile string `json:"cert_file,omitempty"`
	KeyFile  string `json:"key_file,omitempty"`
	CAFile   string `json:"ca_file,omitempty"`
	// SessionMaxLifetime bounds SASL sessions (KIP-368 connections.max.reauth.ms);
	// default 0: bounded only by the credentials' expiry.
	SessionMaxLifetime Duration `json:"session_max_lifetime,omitempty"`
	// VerboseAuthErrors appends the emulator's reason to the error message
	// of a failed authentication ("[<id>]: Access denied: iamauth: token
	// rejected (region): ..."). Off by default: the messages are MSK's
	// exact texts, and the reason goes only to the log line (with the
	// request id) and the admin endpoint. MSK never sends the reason, so
	// code tested with it on can pass here and fail on MSK.
	VerboseAuthErrors bool `json:"verbose_auth_errors,omitempty"`
	// Limits are MSK's connection limits, all off by default.
	Limits Limits `json:"limits,omitzero"`
	// Faults are injected from the start (see Listener.SetFaults to change
	// them at run time). Rules apply in order; on each listener the last
	// matching rule wins.
	Faults []FaultRule `json:"faults,omitempty"`
}

// FaultRule selects listeners and the faults injected on them.
type FaultRule struct {
	// Broker is the broker ID (0-based); nil selects every broker.
	Broker *int32 `json:"broker,omitempty"`
	// Listener is the listener kind; nil selects every kind.
	Listener *ListenerKind `json:"listener,omitempty"`

	// The faults, as in Faults.
	RequestLatency     Duration `json:"request_latency,omitempty"`
	ResponseLatency    Duration `json:"response_latency,omitempty"`
	ResetAfterRequests int      `json:"reset_after_requests,omitempty"`
	ResetProbability   float64  `json:"reset_probability,omitempty"`
	Blackhole          bool     `json:"blackhole,omitempty"`
}

func (r FaultRule) faults() Faults {
	return Faults{RequestLatency: time.Duration(r.RequestLatency), ResponseLatency: time.Duration(r.ResponseLatency),
		ResetAfterRequests: r.ResetAfterRequests, ResetProbability: r.ResetProbability, Blackhole: r.Blackhole}
}

// Default identity and SCRAM user (AWS documentation example keys).
const (
	DefaultAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	DefaultSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	DefaultSCRAMUser       = "msklink"
	DefaultSCRAMPassword   = "msklink-secret"
)

// AllowAllPolicy is the IAM policy of the default identity.
const AllowAllPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kafka-cluster:*","Resource":"*"}]}`

// DefaultConfig returns the configuration used when no file is given.
func DefaultConfig() Config {
	var c Config
	c.fill()
	return c
}

// LoadConfig reads a JSON config file and checks it (see Start). Unknown
// fields are errors, so typos do not silently fall back to defaults.
// Errors name the file, and the line and column where the JSON does not
// parse.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("emulator: reading config: %w", err)
	}
	c, err := parseConfig(path, b)
	if err != nil {
		return Config{}, err
	}
	check := c
	check.fill()
	if err := check.problems(); err != nil {
		return Config{}, fmt.Errorf("emulator: %s: invalid config: %w", path, err)
	}
	return c, nil
}

// ParseConfig parses a JSON config. Errors give the line and column where
// the JSON does not parse.
func ParseConfig(b []byte) (Config, error) { return parseConfig("config", b) }

// parseConfig parses the JSON config b read from the file name.
func parseConfig(name string, b []byte) (Config, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return Config{}, fmt.Errorf(`emulator: %s: the file is empty: write a JSON object, such as {"topics": [{"name": "orders"}]}`, name)
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	at := func(off int64, msg string) error {
		line, col := lineCol(b, off)
		return fmt.Errorf("emulator: %s:%d:%d: %s", name, line, col, msg)
	}
	if err := dec.Decode(&c); err != nil {
		var (
			se *json.SyntaxError
			te *json.UnmarshalTypeError
		)
		switch {
		case errors.As(err, &se):
			return Config{}, at(se.Offset-1, err.Error())
		case errors.As(err, &te):
			return Config{}, at(te.Offset-1, err.Error())
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Config{}, at(int64(len(b)), "unexpected end of the file: a '}' or ']' is missing")
		}
		off := dec.InputOffset()
		if _, field, ok := strings.Cut(err.Error(), "unknown field "); ok {
			// The decoder has read past the field: point at its name.
			// (encoding/json has no typed error for an unknown field;
			// the text only moves the position, not the outcome.)
			if i := bytes.LastIndex(b[:off], []byte(field)); i >= 0 {
				off = int64(i)
			}
		}
		return Config{}, at(off, err.Error())
	}
	if dec.More() {
		off := dec.InputOffset()
		for off < int64(len(b)) && strings.ContainsRune(" \t\r\n", rune(b[off])) {
			off++
		}
		return Config{}, at(off, "more JSON after the config object: a file holds one object")
	}
	return c, nil
}

// lineCol returns the line and column (from 1) of byte offset off of b.
func lineCol(b []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(b))))
	before := b[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	return line, int(off) - bytes.LastIndexByte(before, '\n')
}

// fill completes zero fields with defaults.
func (c *Config) fill() {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.ClusterName == "" {
		c.ClusterName = "local"
	}
	if c.ClusterUUID == "" {
		c.ClusterUUID = "00000000-0000-0000-0000-000000000000-1"
	}
	if c.Brokers == 0 {
		c.Brokers = 3
	}
	if len(c.Listeners) == 0 {
		c.Listeners = allListeners[:]
	}
	if c.Identities == nil {
		c.Identities = []Identity{{
			Name:            "admin",
			ARN:             "arn:aws:iam::" + c.AccountID + ":user/admin",
			AccessKeyID:     DefaultAccessKeyID,
			SecretAccessKey: DefaultSecretAccessKey,
			Policies:        []json.RawMessage{json.RawMessage(AllowAllPolicy)},
		}}
	}
	if c.SCRAMUsers == nil {
		c.SCRAMUsers = []SCRAMUser{{Username: DefaultSCRAMUser, Password: DefaultSCRAMPassword}}
	}
	for i := range c.SCRAMUsers {
		if c.SCRAMUsers[i].Mechanism == "" {
			c.SCRAMUsers[i].Mechanism = "SCRAM-SHA-512"
		}
	}
	for i := range c.Topics {
		if c.Topics[i].Partitions <= 0 {
			c.Topics[i].Partitions = 3
		}
	}
}

func (c *Config) validate() error {
	if err := c.problems(); err != nil {
		return fmt.Errorf("emulator: invalid config: %w", err)
	}
	return nil
}

// problems returns every problem of the config (filled), joined, or nil.
func (c *Config) problems() error {
	var errs []error
	if iamauth.ValidateRegion(c.Region) != nil {
		errs = append(errs, fmt.Errorf("region %q does not look like an AWS region (us-east-1)", c.Region))
	}
	if len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "" {
		errs = append(errs, fmt.Errorf("account_id %q must be 12 digits", c.AccountID))
	}
	if c.Brokers < 1 || c.Brokers > 250 {
		errs = append(errs, fmt.Errorf("brokers %d: use 1 to 250", c.Brokers))
	}
	seen := map[ListenerKind]bool{}
	for _, k := range c.Listeners {
		if k < Plaintext || k > IAM {
			errs = append(errs, fmt.Errorf("unknown listener kind %d", int(k)))
		}
		if seen[k] {
			errs = append(errs, fmt.Errorf("listener %s listed twice", k))
		}
		seen[k] = true
	}
	keys := map[string]bool{}
	for i, id := range c.Identities {
		if id.AccessKeyID == "" || id.SecretAccessKey == "" {
			errs = append(errs, fmt.Errorf("identity %d (%q): access_key_id and secret_access_key are required", i, id.Name))
		}
		if keys[id.AccessKeyID] {
			errs = append(errs, fmt.Errorf("identity %q: access key id %s used twice", id.Name, id.AccessKeyID))
		}
		keys[id.AccessKeyID] = true
		if !strings.HasPrefix(id.ARN, "arn:") {
			errs = append(errs, fmt.Errorf("identity %q: arn %q must start with arn:", id.Name, id.ARN))
		}
		for j, raw := range id.Policies {
			p, err := iampolicy.Parse(raw)
			if err != nil {
				errs = append(errs, fmt.Errorf("identity %q policy %d: %w", id.Name, j+1, err))
				continue
			}
			// IAM accepts an action no service has, and it allows
			// nothing: a typo would only show as a denial.
			for _, a := range p.UnknownActions() {
				errs = append(errs, fmt.Errorf("identity %q policy %d: action %q matches no kafka-cluster action (IAM accepts it, but it allows nothing)%s", id.Name, j+1, a, didYouMean(a)))
			}
		}
	}
	for i, u := range c.SCRAMUsers {
		if u.Username == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("scram user %d: username and password are required", i))
		}
		if u.Mechanism != "SCRAM-SHA-512" && u.Mechanism != "SCRAM-SHA-256" {
			errs = append(errs, fmt.Errorf("scram user %q: mechanism %q: use SCRAM-SHA-512 or SCRAM-SHA-256", u.Username, u.Mechanism))
		}
	}
	for _, t := range c.Topics {
		if err := kafkaconn.CheckTopicName(t.Name); err != nil {
			errs = append(errs, err)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("cert_file and key_file must be given together"))
	}
	if c.SessionMaxLifetime < 0 {
		errs = append(errs, errors.New("session_max_lifetime must not be negative"))
	}
	for i, f := range c.Faults {
		if f.Broker != nil && (*f.Broker < 0 || int(*f.Broker) >= c.Brokers) {
			errs = append(errs, fmt.Errorf("fault %d: broker %d does not exist (0..%d)", i, *f.Broker, c.Brokers-1))
		}
		if f.ResetProbability < 0 || f.ResetProbability > 1 {
			errs = append(errs, fmt.Errorf("fault %d: reset_probability must be between 0 and 1", i))
		}
	}
	return errors.Join(errs...)
}

// didYouMean suggests the kafka-cluster action closest to the unknown
// action pattern a ("; did you mean kafka-cluster:Connect?"), or "" when
// none is within a few edits.
func didYouMean(a string) string {
	_, name, _ := strings.Cut(a, ":")
	name = strings.ToLower(name)
	best, bestDist := "", 3 // at most 2 edits
	for _, act := range iampolicy.Actions() {
		if d := editDistance(name, strings.ToLower(act.Name())); d < bestDist {
			best, bestDist = string(act), d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// brokerDomain is the DNS domain MSK would give the cluster's brokers,
// <name>.<id>.c3.kafka.<region>.amazonaws.com: the cluster name as a DNS
// label and a 6-character id derived from the cluster ARN (MSK's is
// random).
func (c *Config) brokerDomain() string {
	label := []byte(strings.ToLower(c.ClusterName))
	for i, b := range label {
		if (b < 'a' || b > 'z') && (b < '0' || b > '9') {
			label[i] = '-'
		}
	}
	name := strings.Trim(string(label[:min(len(label), 63)]), "-")
	if name == "" {
		name = "local"
	}
	sum := sha256.Sum256([]byte(c.clusterARN()))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	id := make([]byte, 6)
	for i := range id {
		id[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	return fmt.Sprintf("%s.%s.c3.kafka.%s.amazonaws.com", name, id, c.Region)
}

// kafkaClusterID is the Kafka cluster id (Metadata, DescribeCluster): like
// Kafka's and MSK's, 16 bytes in unpadded URL-safe base64 (22
// characters), derived from the cluster ARN so that it is the same across
// runs.
func (c *Config) kafkaClusterID() string {
	sum := sha256.Sum256([]byte("kafka-cluster-id:" + c.clusterARN()))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// ClusterARN is arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>.
func (c *Config) clusterARN() string {
	return fmt.Sprintf("arn:aws:kafka:%s:%s:cluster/%s/%s", c.Region, c.AccountID, c.ClusterName, c.ClusterUUID)
}
