package kafkaconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/msklink/msklink/iamauth"
)

// Refused reports whether err, met while connecting or on a request,
// says the cluster refused the connection itself: the broker's
// certificate failed verification, the broker does not speak TLS, SASL
// authentication failed (wrong or expired credentials, a policy without
// kafka-cluster:Connect, a mechanism the listener does not take), or no
// credentials could be had. franz-go retries such a connection for as long
// as records wait, though nothing changes until the configuration does: a
// caller that sees Refused can stop at once and say why, instead of
// waiting for its deadline. doctor.CauseOf names the cause.
func Refused(err error) bool {
	var (
		ua   x509.UnknownAuthorityError
		hn   x509.HostnameError
		inv  x509.CertificateInvalidError
		ver  *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
		cred *iamauth.CredentialsError
	)
	return errors.As(err, &ua) || errors.As(err, &hn) || errors.As(err, &inv) || errors.As(err, &ver) || errors.As(err, &rec) ||
		errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.UnsupportedSaslMechanism) || errors.Is(err, kerr.IllegalSaslState) ||
		errors.As(err, &cred)
}
