package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/msklink/msklink/emulator"
)

// TestLogLevelBadValue: a --log-level other than debug, info, warn or
// error is a usage error (exit 2) naming the flag and the accepted values,
// for every long-running command.
func TestLogLevelBadValue(t *testing.T) {
	cleanAWSEnv(t)
	for _, cmd := range [][]string{
		{"proxy", "--listen", "127.0.0.1:0"},
		{"local", "--ephemeral", "--admin-addr", ""},
		{"esm", "--topic", "orders", "--handler-cmd", "cat"},
	} {
		for _, bad := range []string{"loud", "INFO+2", ""} {
			t.Run(cmd[0]+"/"+bad, func(t *testing.T) {
				_, errOut, code := runCLI(t, "", append(cmd, "--log-level", bad)...)
				want := `invalid value "` + bad + `" for flag -log-level: use debug, info, warn or error`
				if code != 2 || !strings.Contains(errOut, want) {
					t.Errorf("exit %d, stderr %q; want exit 2 and %q", code, errOut, want)
				}
			})
		}
	}
}

// background runs a command line until the test ends (or stop), with its
// stderr readable meanwhile.
func background(t *testing.T, args ...string) (stderr *syncBuf, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var o syncBuf
	stderr = new(syncBuf)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, args, strings.NewReader(""), &o, stderr) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%v did not stop 30s after Ctrl-C", args)
			}
		}
		return err
	}
	t.Cleanup(func() { stop() })
	return stderr, stop
}

// waitFile waits for a ready file and decodes it into v.
func waitFile(t *testing.T, path string, stderr *syncBuf, v any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, v) == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file %s; stderr:\n%s", path, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProxyLogLevel: `msklink proxy` logs each upstream re-authentication
// at info, the default level (they were at debug, which the command could
// not show); --log-level warn leaves out the info lines, and debug adds
// the debug ones.
func TestProxyLogLevel(t *testing.T) {
	cleanAWSEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := emulator.Start(ctx, emulator.Ephemeral(), emulator.WithTopic("orders", 3), emulator.WithSessionMaxLifetime(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	for k, v := range map[string]string{
		"MSK_BOOTSTRAP_SERVERS": c.Bootstrap(emulator.IAM), "MSK_TLS_CA_FILE": c.CAFile(), "MSK_REGION": c.Region(),
		"AWS_ACCESS_KEY_ID": emulator.DefaultAccessKeyID, "AWS_SECRET_ACCESS_KEY": emulator.DefaultSecretAccessKey,
	} {
		t.Setenv(k, v)
	}
	for _, tc := range []struct {
		level      []string
		want, lack []string
	}{
		{nil, []string{"level=INFO msg=\"proxy listening\"", "level=INFO msg=\"upstream re-authenticated\""}, []string{"level=DEBUG"}},
		{[]string{"--log-level", "warn"}, nil, []string{"level=INFO", "level=DEBUG"}},
		{[]string{"--log-level", "debug"}, []string{"level=INFO msg=\"upstream re-authenticated\""}, nil},
	} {
		t.Run(strings.Join(append([]string{"level"}, tc.level...), " "), func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready.json")
			stderr, stop := background(t, append([]string{"proxy", "--listen", "127.0.0.1:0", "--ready-file", ready}, tc.level...)...)
			var r proxyReady
			waitFile(t, ready, stderr, &r)
			// Records for two session lifetimes and more, on connections
			// the proxy re-authenticates in place.
			cl, err := kgo.NewClient(kgo.SeedBrokers(r.Bootstrap), kgo.DefaultProduceTopic("orders"), kgo.DisableClientMetrics())
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
			defer pcancel()
			for i := 0; i < 50; i++ {
				if err := cl.ProduceSync(pctx, &kgo.Record{Value: []byte("r")}).FirstErr(); err != nil {
					t.Fatalf("produce through the proxy: %v\n%s", err, stderr.String())
				}
				time.Sleep(100 * time.Millisecond)
			}
			if s := stderr.String(); tc.want != nil && !strings.Contains(s, `msg="upstream re-authenticated"`) {
				t.Fatalf("no re-authentication in 5 s of 2 s sessions:\n%s", s)
			}
			cl.Close()
			if err := stop(); err != nil {
				t.Fatalf("proxy: %v", err)
			}
			out := stderr.String()
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
			for _, l := range tc.lack {
				if strings.Contains(out, l) {
					t.Errorf("stderr has %q:\n%s", l, out)
				}
			}
		})
	}
}

// TestLocalAndESMLogLevel: --log-level sets what `msklink local` and
// `msklink esm` log (default info).
func TestLocalAndESMLogLevel(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		for _, tc := range []struct {
			level []string
			info  bool
		}{{nil, true}, {[]string{"--log-level", "error"}, false}} {
			ready := filepath.Join(t.TempDir(), "ready.json")
			stderr, stop := background(t, append([]string{"local", "--ephemeral", "--admin-addr", "", "--ready-file", ready}, tc.level...)...)
			var r localReady
			waitFile(t, ready, stderr, &r)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(stderr.String(), `level=INFO msg="emulator started"`); got != tc.info {
				t.Errorf("%v: info line %v, want %v:\n%s", tc.level, got, tc.info, stderr.String())
			}
		}
	})
	t.Run("esm", func(t *testing.T) {
		useEmulator(t, "orders")
		for _, tc := range []struct {
			level []string
			info  bool
		}{{nil, true}, {[]string{"--log-level", "warn"}, false}, {[]string{"-v"}, true}} {
			stderr, stop := background(t, append([]string{"esm", "--topic", "orders", "--handler-cmd", "cat"}, tc.level...)...)
			deadline := time.Now().Add(30 * time.Second)
			for !strings.Contains(stderr.String(), "msklink esm: group ") && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the mapping logs "polling" as it starts
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(stderr.String(), `level=INFO msg="esm: polling"`); got != tc.info {
				t.Errorf("%v: info line %v, want %v:\n%s", tc.level, got, tc.info, stderr.String())
			}
		}
	})
}
