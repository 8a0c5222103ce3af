package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Responses that carry broker addresses, from kmsg's generated types:
//
//   - Metadata, FindCoordinator and DescribeCluster: rewritten (rewrite).
//   - Produce v10+ and Fetch v16+ (NodeEndpoints, KIP-951 leader hints):
//     not offered. Produce and Fetch are the hot path and are forwarded
//     byte for byte; rewriting a hint would mean decoding and re-encoding
//     every Fetch response with its records. Without hints a client learns
//     a new leader from a Metadata refresh, as before KIP-951.
//   - ShareFetch and ShareAcknowledge (NodeEndpoints): not offered, nor
//     the other share-group APIs, useless without them.
//   - KRaft's Vote, BeginQuorumEpoch, EndQuorumEpoch, FetchSnapshot and
//     UpdateRaftVoter (controller endpoints): not offered; brokers do not
//     serve them to clients. DescribeQuorum is capped at v1, before node
//     listeners.
//
// Other host fields (ACL hosts, group members' client hosts, Kafka
// Streams application endpoints) are not broker addresses and pass.
var versionCaps = map[int16]int16{
	0:  9,                                  // Produce
	1:  15,                                 // Fetch
	55: 1,                                  // DescribeQuorum
	52: -1, 53: -1, 54: -1, 59: -1, 82: -1, // KRaft
	76: -1, 77: -1, 78: -1, 79: -1, 90: -1, 91: -1, 92: -1, // share groups
}

// offered reports whether a client may send key at version through the
// proxy: every key kmsg knows, within versionCaps.
func offered(key, version int16) bool {
	if c, ok := versionCaps[key]; ok && version > c {
		return false
	}
	return kmsg.RequestForKey(key) != nil
}

// rewrites marks the responses that are decoded and rewritten.
func rewrites(key int16) bool {
	switch key {
	case 18, 3, 10, 60: // ApiVersions, Metadata, FindCoordinator, DescribeCluster
		return true
	}
	return false
}

// rewrite changes a decoded response for clients of the proxy.
func (p *Proxy) rewrite(r kmsg.Response) error {
	var errs []error
	switch resp := r.(type) {
	case *kmsg.ApiVersionsResponse:
		fixVersions(resp)
		p.setVersions(resp)
	case *kmsg.MetadataResponse:
		return p.rewriteBrokers(resp)
	case *kmsg.FindCoordinatorResponse:
		if resp.ErrorCode == 0 && resp.Host != "" { // v0-v3
			errs = append(errs, p.localize(resp.NodeID, &resp.Host, &resp.Port))
		}
		for i := range resp.Coordinators { // v4+
			if co := &resp.Coordinators[i]; co.ErrorCode == 0 && co.Host != "" {
				errs = append(errs, p.localize(co.NodeID, &co.Host, &co.Port))
			}
		}
	case *kmsg.DescribeClusterResponse:
		for i := range resp.Brokers {
			b := &resp.Brokers[i]
			errs = append(errs, p.localize(b.NodeID, &b.Host, &b.Port))
		}
	}
	return errors.Join(errs...)
}

// rewriteBrokers points every broker of a Metadata response at its local
// listener, opening listeners for brokers not seen before.
func (p *Proxy) rewriteBrokers(resp *kmsg.MetadataResponse) error {
	var errs []error
	for i := range resp.Brokers {
		b := &resp.Brokers[i]
		errs = append(errs, p.localize(b.NodeID, &b.Host, &b.Port))
	}
	return errors.Join(errs...)
}

// localize points a broker address of a response at the broker's local
// listener.
func (p *Proxy) localize(node int32, host *string, port *int32) (err error) {
	*host, *port, err = p.localFor(node, *host, *port)
	return err
}

// fixVersions caps the upstream's versions to what the proxy forwards
// (versionCaps, and kmsg's own maximum, since the proxy parses every
// request header) and offers the SASL versions the proxy answers itself.
func fixVersions(resp *kmsg.ApiVersionsResponse) {
	keys := resp.ApiKeys[:0]
	for _, k := range resp.ApiKeys {
		req := kmsg.RequestForKey(k.ApiKey)
		if req == nil || k.ApiKey == 17 || k.ApiKey == 36 {
			continue
		}
		k.MaxVersion = min(k.MaxVersion, req.MaxVersion())
		if c, ok := versionCaps[k.ApiKey]; ok {
			k.MaxVersion = min(k.MaxVersion, c)
		}
		if k.MaxVersion < k.MinVersion {
			continue
		}
		keys = append(keys, k)
	}
	for _, k := range [][3]int16{{17, 0, 1}, {36, 0, 2}} { // SaslHandshake, SaslAuthenticate
		v := kmsg.NewApiVersionsResponseApiKey()
		v.ApiKey, v.MinVersion, v.MaxVersion = k[0], k[1], k[2]
		keys = append(keys, v)
	}
	resp.ApiKeys = keys
}

// apiVersionsError reports the error code of an ApiVersions response body
// (after the response header), which sits first in every version: an
// error answer (UNSUPPORTED_VERSION) is encoded at v0 whatever the
// request's version, so it is forwarded as it is.
func apiVersionsError(body []byte) int16 {
	if len(body) < 2 {
		return 0
	}
	return int16(binary.BigEndian.Uint16(body))
}

// localFor returns the local address for the broker at host:port, opening
// a listener for it when it is new.
func (p *Proxy) localFor(node int32, host string, port int32) (string, int32, error) {
	upstream := net.JoinHostPort(host, strconv.Itoa(int(port)))
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.byUpstream[upstream]; l != nil {
		return p.advHost, l.port, nil
	}
	if p.closed {
		return "", 0, errClosed
	}
	if len(p.byUpstream) >= maxListeners {
		return "", 0, fmt.Errorf("proxy: more than %d brokers in metadata: not opening a listener for %s", maxListeners, upstream)
	}
	l, err := p.listenBrokerLocked(upstream, node)
	if err != nil {
		return "", 0, err
	}
	p.byUpstream[upstream] = l
	p.log.Info("broker listener opened", "node_id", node, "upstream", upstream, "local", l.local)
	return p.advHost, l.port, nil
}
