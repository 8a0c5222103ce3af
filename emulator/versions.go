package emulator

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/msklink/msklink/internal/kafkawire"
)

// kfakeAPIs asks kfake, in-process, which APIs and versions it serves.
func kfakeAPIs(ctx context.Context, ln *backendListener) ([]kmsg.ApiVersionsResponseApiKey, error) {
	be, err := ln.dial(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("emulator: asking kfake for its API versions: %w", err)
	}
	defer be.Close()
	deadline := time.Now().Add(5 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	be.SetDeadline(deadline)
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "msklink-emulator", "1"
	if _, err := be.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		return nil, fmt.Errorf("emulator: asking kfake for its API versions: %w", err)
	}
	body, err := kafkawire.ReadFrame(be, kafkawire.MaxFrame)
	if err != nil {
		return nil, fmt.Errorf("emulator: reading kfake's API versions: %w", err)
	}
	resp, err := kafkawire.DecodeResponse(kafkawire.Header{Key: 18, Version: req.Version}, body)
	if err != nil {
		return nil, fmt.Errorf("emulator: reading kfake's API versions: %w", err)
	}
	r := resp.(*kmsg.ApiVersionsResponse)
	if r.ErrorCode != 0 || len(r.ApiKeys) == 0 {
		return nil, fmt.Errorf("emulator: kfake answered ApiVersions with error %d and %d keys", r.ErrorCode, len(r.ApiKeys))
	}
	return r.ApiKeys, nil
}

// offer returns the APIs a listener kind advertises, from kfake's: capped
// by versionCaps, and with the SASL versions the front itself serves on
// SASL listeners. keys is changed in place.
func offer(keys []kmsg.ApiVersionsResponseApiKey, sasl bool) []kmsg.ApiVersionsResponseApiKey {
	out := keys[:0]
	for _, k := range keys {
		if cp, ok := versionCaps[k.ApiKey]; ok {
			if cp < 0 {
				continue
			}
			k.MaxVersion = min(k.MaxVersion, cp)
		}
		if sasl {
			switch k.ApiKey {
			case 17:
				k.MinVersion, k.MaxVersion = 0, 1
			case 36:
				k.MinVersion, k.MaxVersion = 0, 2
			}
		}
		out = append(out, k)
	}
	return out
}

// offered reports whether the listener advertises request h's API at h's
// version. A request it does not is refused as Kafka refuses it (its
// SocketServer closes the connection on a request "which is not
// enabled"), never forwarded: kfake serves more than the front can
// answer for (versions whose answers carry broker addresses, share
// groups).
func (c *conn) offered(h kafkawire.Header) bool {
	if h.Key == 18 {
		return true // any version: Kafka answers what it knows (KIP-511)
	}
	v, ok := c.l.b.c.offers[c.l.kind.sasl()][h.Key]
	return ok && h.Version >= v[0] && h.Version <= v[1]
}
