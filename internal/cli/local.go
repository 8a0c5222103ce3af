package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/msklink/msklink/emulator"
	"github.com/msklink/msklink/kafkaconn"
)

const localUsage = `[--config FILE] [--brokers N] [--ephemeral] [--topic NAME[:PARTITIONS]]... [--auto-create-topics] [--data-dir DIR] [--ready-file PATH] [--env-file PATH] [--log-format json|text] ` + logLevelUsage + ` [--admin-addr 127.0.0.1:PORT] [--schema-registry-addr 127.0.0.1:PORT] [--verbose-auth-errors]`

// topicFlags collects repeated --topic NAME[:PARTITIONS] flags.
type topicFlags []emulator.Topic

func (t *topicFlags) String() string { return fmt.Sprint(*t) }

func (t *topicFlags) Set(s string) error {
	name, parts, ok := strings.Cut(s, ":")
	if name == "" {
		return fmt.Errorf("empty topic name in %q: use NAME or NAME:PARTITIONS", s)
	}
	if err := kafkaconn.CheckTopicName(name); err != nil {
		return err
	}
	tp := emulator.Topic{Name: name}
	if ok {
		n, err := strconv.ParseInt(parts, 10, 32)
		if err != nil || n < 1 {
			return fmt.Errorf("bad partition count in %q: use NAME:PARTITIONS with PARTITIONS >= 1", s)
		}
		tp.Partitions = int32(n)
	}
	*t = append(*t, tp)
	return nil
}

// localReady is the --ready-file JSON.
type localReady struct {
	Region     string            `json:"region"`
	ClusterARN string            `json:"cluster_arn"`
	Bootstrap  map[string]string `json:"bootstrap"`
	CAFile     string            `json:"ca_file"`
	AdminURL   string            `json:"admin_url,omitempty"`
	Identities []localIdentity   `json:"identities"`
	SCRAMUsers []localSCRAMUser  `json:"scram_users"`

	// SchemaRegistryURL is the local Confluent-compatible registry's.
	SchemaRegistryURL string `json:"schema_registry_url,omitempty"`
}

type localIdentity struct {
	Name            string `json:"name"`
	ARN             string `json:"arn"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	SessionToken    string `json:"session_token,omitempty"`
}

type localSCRAMUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

func runLocal(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "local", localUsage)
	configFile := fs.String("config", "", "JSON config file (region, identities, policies, SCRAM users, topics, limits); default: built-in defaults")
	brokers := fs.Int("brokers", 0, "number of brokers (default 3, or the config's)")
	ephemeral := fs.Bool("ephemeral", false, "listen on 127.0.0.1 with free ports instead of 127.0.0.N with MSK's ports")
	var topics topicFlags
	fs.Var(&topics, "topic", "create topic `NAME[:PARTITIONS]` at start (repeatable; default 3 partitions)")
	autoCreate := fs.Bool("auto-create-topics", false, "create topics on first use (off, as on MSK)")
	dataDir := fs.String("data-dir", "", "persist data in this directory (default: memory)")
	readyFile := fs.String("ready-file", "", "once listening, write bootstrap strings, CA file and credentials as JSON to this file")
	envFile := fs.String("env-file", "", "once every listener is up, write the export lines (as on stdout) to this file, atomically; removed on exit")
	logFormat := fs.String("log-format", "text", "log format on stderr: text or json")
	logLevel := logLevelFlag(fs)
	adminAddr := fs.String("admin-addr", "127.0.0.1:0", "loopback address of the HTTP admin endpoint for faults (GET /v1/status); empty: none")
	registryAddr := fs.String("schema-registry-addr", "127.0.0.1:0", "loopback address of the Confluent-compatible schema registry (printed as MSK_SCHEMA_REGISTRY_URL); empty: none")
	verboseAuth := fs.Bool("verbose-auth-errors", false, "append the emulator's reason to authentication failures (MSK never does: it says only \"[<id>]: Access denied\"; the reason is always in the log and GET /v1/auth-failures)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("local: unexpected argument %q", pos[0])
	}
	if *brokers < 0 {
		return usagef("local: --brokers must be positive")
	}
	var adminLn net.Listener
	if *adminAddr != "" {
		host, _, err := net.SplitHostPort(*adminAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return usagef("local: --admin-addr %q: use a loopback address such as 127.0.0.1:9099 (the endpoint has no authentication)", *adminAddr)
		}
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			return fmt.Errorf("local: admin endpoint: %w", err)
		}
		defer adminLn.Close()
	}
	handler, err := logHandler(e, "local", *logFormat, logLevel)
	if err != nil {
		return err
	}

	cfg := emulator.DefaultConfig()
	if *configFile != "" {
		if cfg, err = emulator.LoadConfig(*configFile); err != nil {
			return err
		}
	}
	opts := []emulator.Opt{emulator.WithConfig(cfg), emulator.WithLogger(slog.New(handler))}
	if *brokers > 0 {
		opts = append(opts, emulator.WithBrokers(*brokers))
	}
	if *verboseAuth {
		opts = append(opts, emulator.WithVerboseAuthErrors())
	}
	if *ephemeral {
		opts = append(opts, emulator.Ephemeral())
	}
	for _, t := range topics {
		opts = append(opts, emulator.WithTopic(t.Name, t.Partitions))
	}
	if *autoCreate {
		opts = append(opts, emulator.WithAutoCreateTopics())
	}
	if *dataDir != "" {
		opts = append(opts, emulator.WithDataDir(*dataDir))
	}
	c, err := emulator.Start(ctx, opts...)
	if err != nil {
		return err
	}
	defer c.Close()

	ready := localReady{
		Region: c.Region(), ClusterARN: c.ClusterARN(), CAFile: c.CAFile(),
		Bootstrap:  map[string]string{},
		Identities: []localIdentity{}, SCRAMUsers: []localSCRAMUser{},
	}
	for _, k := range []emulator.ListenerKind{emulator.Plaintext, emulator.TLS, emulator.SCRAM, emulator.IAM} {
		ready.Bootstrap[k.String()] = c.Bootstrap(k)
	}
	for _, id := range c.Identities() {
		ready.Identities = append(ready.Identities, localIdentity{id.Name, id.ARN, id.AccessKeyID, id.SecretAccessKey, id.SessionToken})
	}
	for _, u := range c.SCRAMUsers() {
		ready.SCRAMUsers = append(ready.SCRAMUsers, localSCRAMUser{u.Username, u.Password})
	}
	if adminLn != nil {
		srv := &http.Server{Handler: c.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(adminLn)
		defer srv.Close()
		ready.AdminURL = "http://" + adminLn.Addr().String()
	}
	registryURL, stopRegistry, err := startLocalRegistry(*registryAddr)
	if err != nil {
		return err
	}
	defer stopRegistry()
	ready.SchemaRegistryURL = registryURL
	printLocalExports(e, &ready)
	if *envFile != "" {
		var b strings.Builder
		printLocalExports(&env{stdout: &b}, &ready)
		if err := writeFileAtomic(*envFile, []byte(b.String())); err != nil {
			return fmt.Errorf("local: writing --env-file: %w", err)
		}
		defer os.Remove(*envFile)
	}
	if *readyFile != "" {
		if err := writeReadyFile("local", *readyFile, &ready); err != nil {
			return err
		}
		defer os.Remove(*readyFile)
	}
	<-ctx.Done()
	fmt.Fprintln(e.stderr, "msklink local: stopping")
	return c.Close()
}

// printLocalExports prints shell export lines: the per-kind bootstrap
// strings, and the variables kafkaconn reads for the IAM listener.
func printLocalExports(e *env, r *localReady) {
	w := e.stdout
	fmt.Fprintf(w, "# msklink local: %s (Ctrl-C to stop)\n", r.ClusterARN)
	export := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "export %s=%s\n", k, shellQuote(v))
		}
	}
	for _, k := range []string{"plaintext", "tls", "scram", "iam"} {
		export("MSK_LOCAL_BOOTSTRAP_"+strings.ToUpper(k), r.Bootstrap[k])
	}
	if r.Bootstrap["iam"] != "" {
		export("MSK_BOOTSTRAP_SERVERS", r.Bootstrap["iam"])
		export("MSK_AUTH", "iam")
	}
	export("MSK_LOCAL_ADMIN_URL", r.AdminURL)
	export("MSK_SCHEMA_REGISTRY_URL", r.SchemaRegistryURL)
	export("MSK_REGION", r.Region)
	export("MSK_TLS_CA_FILE", r.CAFile)
	export("AWS_REGION", r.Region)
	if len(r.Identities) > 0 {
		export("AWS_ACCESS_KEY_ID", r.Identities[0].AccessKeyID)
		export("AWS_SECRET_ACCESS_KEY", r.Identities[0].SecretAccessKey)
		// The emulator rejects a token whose session token does not match
		// the identity's: a session token left in the shell from real
		// credentials would fail every IAM connection.
		if tok := r.Identities[0].SessionToken; tok != "" {
			export("AWS_SESSION_TOKEN", tok)
		} else {
			fmt.Fprintln(w, "unset AWS_SESSION_TOKEN")
		}
	}
	if len(r.SCRAMUsers) > 0 {
		// Not MSK_SCRAM_*: with MSK_AUTH=iam they would only draw a
		// "set but not used" warning from every command.
		export("MSK_LOCAL_SCRAM_USERNAME", r.SCRAMUsers[0].Username)
		export("MSK_LOCAL_SCRAM_PASSWORD", r.SCRAMUsers[0].Password)
		if r.Bootstrap["scram"] != "" {
			fmt.Fprintf(w, "# for SCRAM instead of IAM: export MSK_AUTH=scram MSK_BOOTSTRAP_SERVERS=$MSK_LOCAL_BOOTSTRAP_SCRAM MSK_SCRAM_USERNAME=$MSK_LOCAL_SCRAM_USERNAME MSK_SCRAM_PASSWORD=$MSK_LOCAL_SCRAM_PASSWORD\n")
		}
	}
}

func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeReadyFile writes v as JSON atomically (writeFileAtomic); cmd names
// the command in errors.
func writeReadyFile(cmd, path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: writing --ready-file: %w", cmd, err)
	}
	if err := writeFileAtomic(path, append(b, '\n')); err != nil {
		return fmt.Errorf("%s: writing --ready-file: %w", cmd, err)
	}
	return nil
}

// writeFileAtomic writes b to path through a temporary file renamed into
// place, so a reader sees no file or all of it, readable only by the user
// since it may hold credentials.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".msklink-ready-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// logHandler returns the slog handler on stderr for --log-format (text or
// json) of command cmd.
func logHandler(e *env, cmd, format string, level slog.Leveler) (slog.Handler, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.NewTextHandler(e.stderr, opts), nil
	case "json":
		return slog.NewJSONHandler(e.stderr, opts), nil
	}
	return nil, usagef("%s: --log-format %q: use json or text", cmd, format)
}
