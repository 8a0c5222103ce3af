package doctor

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/msklink/msklink/iamauth"
	"github.com/msklink/msklink/kafkaconn"
)

// CauseOf returns the cause code of an error met while connecting to MSK
// as a Kafka client does: a dial (*net.OpError with Op "dial", a
// *net.DNSError), a TLS handshake, a SASL exchange (an error wrapping
// kerr.SaslAuthenticationFailed followed by the broker's message, as
// franz-go's "%w: %s", or kerr.UnsupportedSaslMechanism), credentials (*iamauth.CredentialsError),
// settings (*kafkaconn.ConfigError) or a request on an open connection. It
// is for programs that report failures in the doctor's terms, such as the
// proxy's logs; it sees only the error, so it cannot tell apart what Run
// finds by probing (a plaintext port from a TLS one, say). Unknown errors
// are connection_reset. CauseOf(nil) is ok.
func CauseOf(err error) string {
	if err == nil {
		return CauseOK
	}
	var (
		cfgErr  *kafkaconn.ConfigError
		credErr *iamauth.CredentialsError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		ua      x509.UnknownAuthorityError
		hn      x509.HostnameError
		inv     x509.CertificateInvalidError
		ver     *tls.CertificateVerificationError
		rec     tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &cfgErr):
		return CauseConfig
	case errors.As(err, &credErr):
		return CauseCredentials
	case errors.As(err, &dnsErr):
		return CauseDNS
	case errors.As(err, &ua), errors.As(err, &hn), errors.As(err, &inv), errors.As(err, &ver):
		return CauseTLSUntrusted
	case errors.As(err, &rec):
		return CauseTLSNotOffered
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		// The broker's message follows the Kafka error, as franz-go
		// formats it ("SASL_AUTHENTICATION_FAILED: ...: <message>"). The
		// diagnosis's own reading of it, without credentials of its own
		// to probe with: MSK's "Access denied" stays auth_denied.
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, kerr.SaslAuthenticationFailed.Error()+": "); ok {
			msg = after
		}
		cause, _ := (&diag{}).authCause(addr{}, msg)
		return cause
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return CauseAuthMechanism
	case errors.As(err, &opErr) && opErr.Op == "dial":
		// A reset can end the connect itself: the broker (or a load
		// balancer) accepted and reset before the dial returned, "connect:
		// connection reset by peer". Packets reached the host, so it is no
		// timeout. Other dial failures (no route, a timeout) are packets
		// that go nowhere.
		switch classifyNet(err) {
		case netRefused:
			return CauseTCPRefused
		case netReset:
			return CauseConnectionReset
		}
		return CauseTCPTimeout
	}
	switch classifyNet(err) {
	case netTimeout:
		return CauseBrokerTimeout
	case netRefused:
		return CauseTCPRefused
	}
	return CauseConnectionReset
}
