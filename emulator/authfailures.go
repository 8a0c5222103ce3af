package emulator

import "time"

// maxAuthFailures bounds the authentication failures a Cluster keeps.
const maxAuthFailures = 256

// AuthFailure is one rejected authentication, with what the client was
// told and why. MSK tells a client only "[<request id>]: Access denied"
// (and its few other texts); the request id is how the client's message
// is matched with the reason here. Never holds a secret.
type AuthFailure struct {
	Time      time.Time `json:"time"`
	RequestID string    `json:"request_id"`
	Broker    int32     `json:"broker"`
	Listener  string    `json:"listener"`
	Remote    string    `json:"remote"`
	Mechanism string    `json:"mechanism"`
	// Principal is the ARN or User:<name> when it was known before the
	// failure, else empty.
	Principal string `json:"principal,omitempty"`
	// ClientMessage is the SaslAuthenticate error message the client got
	// (empty after a v0 SaslHandshake: the connection is just closed).
	ClientMessage string `json:"client_message"`
	// Reason is the emulator's exact cause.
	Reason string `json:"reason"`
}

// AuthFailures returns the most recent authentication failures (up to
// 256), oldest first.
func (c *Cluster) AuthFailures() []AuthFailure {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	out := make([]AuthFailure, 0, len(c.failures))
	return append(out, c.failures...)
}

func (c *Cluster) recordAuthFailure(f AuthFailure) {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	if len(c.failures) == maxAuthFailures {
		copy(c.failures, c.failures[1:])
		c.failures = c.failures[:maxAuthFailures-1]
	}
	c.failures = append(c.failures, f)
}
