package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
)

// AdminHandler returns an HTTP handler to control the cluster at run time,
// for people and scripts driving `msklink local` (serve it on loopback
// only: it has no authentication). All bodies and answers are JSON.
//
//	GET  /v1/status                      brokers, listeners, connections, faults
//	GET  /v1/auth-failures               the latest rejected authentications, with their reasons
//	PUT  /v1/faults                      a FaultRule: set faults (last rule wins)
//	POST /v1/reset?broker=N&listener=K   reset connections (both optional)
//	POST /v1/stop?broker=N&listener=K    stop listening (both optional)
//	POST /v1/start?broker=N&listener=K   start listening again
//	POST /v1/brokers/{id}/down           broker down (all its listeners)
//	POST /v1/brokers/{id}/up             broker up
//	POST /v1/leader                      {"topic","partition","broker"}: move a partition leader
//
// Requests a web page could make are refused (403), since the endpoint
// stops brokers and tells why logins failed: one whose Host header is not
// the address the connection came to (DNS rebinding: a page whose name
// resolves to 127.0.0.1), and one with an Origin header other than the
// endpoint's own (a page posting across origins). "localhost" is accepted
// for a loopback address. Tools such as curl send no Origin.
//
// The handler is safe for concurrent use.
func (c *Cluster) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		type lst struct {
			Kind      string `json:"kind"`
			Addr      string `json:"addr"`
			Listening bool   `json:"listening"`
			Conns     int    `json:"conns"`
			Faults    Faults `json:"faults"`
		}
		type brk struct {
			ID        int32 `json:"id"`
			Listeners []lst `json:"listeners"`
		}
		var out []brk
		for _, b := range c.brokers {
			bb := brk{ID: b.id}
			for _, k := range allListeners {
				if l := b.listeners[k]; l != nil {
					bb.Listeners = append(bb.Listeners, lst{k.String(), l.Addr(), l.Listening(), l.Conns(), l.Faults()})
				}
			}
			out = append(out, bb)
		}
		writeAdmin(w, http.StatusOK, map[string]any{"cluster_arn": c.ClusterARN(), "brokers": out})
	})
	mux.HandleFunc("GET /v1/auth-failures", func(w http.ResponseWriter, r *http.Request) {
		writeAdmin(w, http.StatusOK, map[string]any{"failures": c.AuthFailures()})
	})
	mux.HandleFunc("PUT /v1/faults", func(w http.ResponseWriter, r *http.Request) {
		var fr FaultRule
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&fr); err != nil {
			adminError(w, http.StatusBadRequest, "bad fault rule: %v", err)
			return
		}
		if fr.Broker != nil && c.Broker(*fr.Broker) == nil {
			adminError(w, http.StatusBadRequest, "bad fault rule: no broker %d (0..%d)", *fr.Broker, len(c.brokers)-1)
			return
		}
		if fr.ResetProbability < 0 || fr.ResetProbability > 1 {
			adminError(w, http.StatusBadRequest, "bad fault rule: reset_probability %v: use 0 to 1", fr.ResetProbability)
			return
		}
		n := 0
		for _, l := range c.selectListeners(fr.Broker, fr.Listener) {
			l.SetFaults(fr.faults())
			n++
		}
		writeAdmin(w, http.StatusOK, map[string]int{"listeners": n})
	})
	each := func(fn func(*Listener) (int, error)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			var broker *int32
			var kind *ListenerKind
			if s := r.URL.Query().Get("broker"); s != "" {
				n, err := strconv.ParseInt(s, 10, 32)
				if err != nil {
					adminError(w, http.StatusBadRequest, "bad broker %q", s)
					return
				}
				b := int32(n)
				broker = &b
			}
			if s := r.URL.Query().Get("listener"); s != "" {
				k, err := ParseListenerKind(s)
				if err != nil {
					adminError(w, http.StatusBadRequest, "%v", err)
					return
				}
				kind = &k
			}
			n := 0
			var errs []error
			for _, l := range c.selectListeners(broker, kind) {
				k, err := fn(l)
				n += k
				if err != nil {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				adminError(w, http.StatusInternalServerError, "%v", err)
				return
			}
			writeAdmin(w, http.StatusOK, map[string]int{"count": n})
		}
	}
	mux.HandleFunc("POST /v1/reset", each(func(l *Listener) (int, error) { return l.ResetConnections(), nil }))
	mux.HandleFunc("POST /v1/stop", each(func(l *Listener) (int, error) { l.Stop(); return 1, nil }))
	mux.HandleFunc("POST /v1/start", each(func(l *Listener) (int, error) {
		if err := l.Start(); err != nil {
			return 0, err // names the listener and what to do
		}
		return 1, nil
	}))
	brokerOp := func(up bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			id, err := strconv.ParseInt(r.PathValue("id"), 10, 32)
			b := c.Broker(int32(id))
			if err != nil || b == nil {
				adminError(w, http.StatusNotFound, "no broker %q (0..%d)", r.PathValue("id"), len(c.brokers)-1)
				return
			}
			if up {
				if err := b.Up(); err != nil {
					adminError(w, http.StatusInternalServerError, "%v", err)
					return
				}
			} else {
				b.Down()
			}
			writeAdmin(w, http.StatusOK, map[string]bool{"up": up})
		}
	}
	mux.HandleFunc("POST /v1/brokers/{id}/down", brokerOp(false))
	mux.HandleFunc("POST /v1/brokers/{id}/up", brokerOp(true))
	mux.HandleFunc("POST /v1/leader", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Broker    int32  `json:"broker"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
			adminError(w, http.StatusBadRequest, "want {\"topic\",\"partition\",\"broker\"}: %v", err)
			return
		}
		if err := c.kf.MoveTopicPartition(req.Topic, req.Partition, req.Broker); err != nil {
			adminError(w, http.StatusBadRequest, "%v", err)
			return
		}
		writeAdmin(w, http.StatusOK, req)
	})
	return localOnly(mux)
}

// localOnly refuses the requests a browser sends for another site, see
// AdminHandler.
func localOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		local, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
		if !ownHost(r.Host, local) {
			want := "the endpoint's address"
			if local != nil {
				want = local.String()
			}
			adminError(w, http.StatusForbidden, "Host %q is not this endpoint (%s): refused, as a web page's request through DNS rebinding would be; use http://%s", r.Host, want, want)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			adminError(w, http.StatusForbidden, "Origin %q is not this endpoint's own (http://%s): cross-origin requests are refused", o, r.Host)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ownHost reports whether host, a request's Host header, names local, the
// address its connection came to: its IP, or localhost for a loopback IP,
// and its port. Without local (a handler not behind net/http's server),
// any loopback IP or localhost is accepted.
func ownHost(host string, local net.Addr) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, "80"
	}
	ip, ipErr := netip.ParseAddr(name)
	if local == nil {
		return strings.EqualFold(name, "localhost") || ipErr == nil && ip.IsLoopback()
	}
	lap, err := netip.ParseAddrPort(local.String())
	if err != nil || port != strconv.Itoa(int(lap.Port())) {
		return false
	}
	want := lap.Addr().Unmap()
	if strings.EqualFold(name, "localhost") {
		return want.IsLoopback()
	}
	return ipErr == nil && ip.Unmap() == want
}

// Listening reports whether the listener accepts connections.
func (l *Listener) Listening() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ln != nil
}

func (c *Cluster) selectListeners(broker *int32, kind *ListenerKind) []*Listener {
	var out []*Listener
	for _, b := range c.brokers {
		if broker != nil && *broker != b.id {
			continue
		}
		for _, k := range allListeners {
			if l := b.listeners[k]; l != nil && (kind == nil || *kind == k) {
				out = append(out, l)
			}
		}
	}
	return out
}

func writeAdmin(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func adminError(w http.ResponseWriter, code int, format string, args ...any) {
	writeAdmin(w, code, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// MarshalJSON writes durations as Go duration strings.
func (f Faults) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		RequestLatency     string  `json:"request_latency"`
		ResponseLatency    string  `json:"response_latency"`
		ResetAfterRequests int     `json:"reset_after_requests"`
		ResetProbability   float64 `json:"reset_probability"`
		Blackhole          bool    `json:"blackhole"`
	}{f.RequestLatency.String(), f.ResponseLatency.String(), f.ResetAfterRequests, f.ResetProbability, f.Blackhole})
}
