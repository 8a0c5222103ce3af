package proxy

import (
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/internal/kafkawire"
)

// FuzzRewrite feeds arbitrary bytes as the responses the proxy decodes
// (ApiVersions, Metadata, FindCoordinator, DescribeCluster) at every
// version: decoding, rewriting and encoding must not panic, and an
// ApiVersions answer keeps only what the proxy forwards.
func FuzzRewrite(f *testing.F) {
	for _, key := range []int16{18, 3, 10, 60} {
		resp := kmsg.ResponseForKey(key)
		resp.SetVersion(resp.MaxVersion())
		f.Add(key, resp.MaxVersion(), resp.AppendTo([]byte{0, 0, 0, 1}))
	}
	p := &Proxy{log: slog.New(slog.DiscardHandler), closed: true, byUpstream: map[string]*listener{}}
	f.Fuzz(func(t *testing.T, key, version int16, body []byte) {
		if !rewrites(key) {
			return
		}
		h := kafkawire.Header{Key: key, Version: version, Corr: 1}
		req := kmsg.RequestForKey(key)
		if version < 0 || version > req.MaxVersion() {
			return
		}
		req.SetVersion(version)
		h.Flexible = req.IsFlexible()
		if key == 18 {
			_ = apiVersionsError(body[min(len(body), kafkawire.RespHeaderLen(h)):])
		}
		resp, err := kafkawire.DecodeResponse(h, body)
		if err != nil {
			return
		}
		if p.rewrite(resp) != nil {
			return // a new broker address: no listener on a closed proxy
		}
		_ = kafkawire.EncodeResponseFrame(h, resp)
		if av, ok := resp.(*kmsg.ApiVersionsResponse); ok {
			for _, k := range av.ApiKeys {
				if !offered(k.ApiKey, k.MaxVersion) {
					t.Fatalf("offers %d v%d", k.ApiKey, k.MaxVersion)
				}
			}
		}
	})
}
