package proxy

import (
	"context"
	"fmt"
	"sync"
)

// Warm opens and authenticates one upstream connection to every broker
// known so far (Discover first) and one to a bootstrap broker, in
// parallel, and keeps each for the first client connection of its
// listener, which then starts without a TLS handshake or an IAM
// authentication of its own. A host that starts the proxy ahead of its
// clients (a Lambda extension's Init) pays those costs there. ctx bounds
// the connects; the result names the first failure, with its type kept
// for doctor.CauseOf. A kept connection that is not taken is closed by
// Close; with WithUpstreamChecks it is checked before its first use after
// a silence, like any other.
func (p *Proxy) Warm(ctx context.Context) error {
	p.mu.Lock()
	addrs := []string{""}
	for a := range p.byUpstream {
		addrs = append(addrs, a)
	}
	p.mu.Unlock()
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			up, err := p.dialListener(ctx, addr)
			p.remember(addr, err)
			if err != nil {
				errs[i] = err
				return
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.closed {
				up.nc.Close()
				return
			}
			if p.ls.warm == nil {
				p.ls.warm = map[string]*upstream{}
			}
			if old := p.ls.warm[addr]; old != nil {
				old.nc.Close()
			}
			p.ls.warm[addr] = up
		})
	}
	wg.Wait()
	failed, first := 0, error(nil)
	for i, err := range errs {
		if err != nil {
			failed++
			if first == nil {
				first = fmt.Errorf("connecting to %s: %w", orSeeds(addrs[i]), err)
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d upstream connections failed; the first: %w", failed, len(addrs), first)
	}
	return nil
}

func orSeeds(addr string) string {
	if addr == "" {
		return "a bootstrap broker"
	}
	return addr
}

// takeWarm returns the connection Warm kept for addr ("": the seeds), or
// nil.
func (p *Proxy) takeWarm(addr string) *upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	up := p.ls.warm[addr]
	delete(p.ls.warm, addr)
	return up
}

// closeWarmLocked closes the connections Warm kept. p.mu is held.
func (p *Proxy) closeWarmLocked() {
	for a, up := range p.ls.warm {
		up.nc.Close()
		delete(p.ls.warm, a)
	}
}
