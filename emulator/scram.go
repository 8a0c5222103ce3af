package emulator

import "github.com/msklink/msklink/internal/scram"

// scramExchange is a server-side SCRAM exchange after the client-first
// message (package internal/scram, shared with the proxy).
type scramExchange struct {
	*scram.Exchange
	user string
}

// scramFirst handles the client-first message and returns the exchange and
// the server-first message.
func (c *Cluster) scramFirst(mech string, in []byte) (*scramExchange, []byte, error) {
	x, first, err := scram.Start(mech, in, func(user string) (string, bool) {
		u, ok := c.scram[user]
		return u.Password, ok && u.Mechanism == mech
	})
	if err != nil {
		return nil, nil, err
	}
	return &scramExchange{Exchange: x, user: x.User}, first, nil
}

// final checks the client-final message and returns the server-final one.
func (x *scramExchange) final(in []byte) ([]byte, error) { return x.Final(in) }
