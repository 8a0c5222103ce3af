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
