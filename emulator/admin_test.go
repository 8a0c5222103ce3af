package emulator

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAdminHandler(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	srv := httptest.NewServer(c.AdminHandler())
	defer srv.Close()
	do := func(method, path, body string, want int) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return string(b)
	}
	do("PUT", "/v1/faults", `{"broker":0,"listener":"iam","request_latency":"50ms"}`, 200)
	if f := c.Listener(0, IAM).Faults(); f.RequestLatency != 50*time.Millisecond {
		t.Errorf("faults %+v", f)
	}
	if s := do("GET", "/v1/status", "", 200); !strings.Contains(s, `"request_latency": "50ms"`) {
		t.Errorf("status: %s", s)
	}
	do("POST", "/v1/brokers/1/down", "", 200)
	if c.Listener(1, TLS).Listening() {
		t.Error("broker 1 still listening")
	}
	do("POST", "/v1/brokers/1/up", "", 200)
	do("POST", "/v1/stop?broker=2&listener=tls", "", 200)
	if c.Listener(2, TLS).Listening() || !c.Listener(2, IAM).Listening() {
		t.Error("stop selected the wrong listeners")
	}
	do("POST", "/v1/start", "", 200)
	do("POST", "/v1/reset?listener=plaintext", "", 200)
	do("POST", "/v1/leader", `{"topic":"t","partition":1,"broker":0}`, 200)
	if l := c.Kfake().LeaderFor("t", 1); l != 0 {
		t.Errorf("leader %d", l)
	}
	do("POST", "/v1/brokers/9/down", "", 404)
	do("PUT", "/v1/faults", `{"nope":1}`, 400)
	do("PUT", "/v1/faults", `{"broker":9,"blackhole":true}`, 400)
	do("PUT", "/v1/faults", `{"reset_probability":2}`, 400)

	// A listener that cannot start again says why, not "count": 0.
	l := c.Listener(0, TLS)
	l.Stop()
	squat, err := net.Listen("tcp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	if s := do("POST", "/v1/start?broker=0&listener=tls", "", 500); !strings.Contains(s, "address already in use") {
		t.Errorf("start on a taken port: %s", s)
	}
}

// TestAdminRefusesOtherHostsAndOrigins: a web page cannot drive the admin
// endpoint: not by DNS rebinding (a Host that is not the endpoint's
// address), not by a cross-origin request (an Origin that is not the
// endpoint's own); the endpoint's own address and localhost work.
func TestAdminRefusesOtherHostsAndOrigins(t *testing.T) {
	t.Parallel()
	c, _ := startCluster(t)
	srv := httptest.NewServer(c.AdminHandler())
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		name, method, path, host, origin string
		want                             int
	}{
		{"own address", "GET", "/v1/status", "", "", 200},
		{"localhost", "GET", "/v1/status", "localhost:" + port, "", 200},
		{"same origin", "POST", "/v1/reset", "", "http://" + addr, 200},
		{"rebound name", "GET", "/v1/auth-failures", "attacker.example:" + port, "", 403},
		{"rebound name, no port", "GET", "/v1/status", "attacker.example", "", 403},
		{"own address, other port", "GET", "/v1/status", "127.0.0.1:1", "", 403},
		{"foreign origin stops a broker", "POST", "/v1/brokers/0/down", "", "http://attacker.example", 403},
		{"foreign origin reads", "GET", "/v1/auth-failures", "", "https://attacker.example", 403},
		{"opaque origin", "POST", "/v1/stop", "", "null", 403},
		{"same host, other port", "POST", "/v1/stop", "", "http://127.0.0.1:1", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s %s (Host %q, Origin %q): %d %s, want %d", tc.method, tc.path, tc.host, tc.origin, resp.StatusCode, b, tc.want)
			}
		})
	}
	for _, l := range c.selectListeners(nil, nil) {
		if !l.Listening() {
			t.Errorf("broker %d %s stopped by a refused request", l.b.id, l.kind)
		}
	}
}
