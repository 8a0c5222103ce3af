package kafkaconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/msklink/msklink/iamauth"
)

// TestRefused: what franz-go returns for a refused connection (wrapped as
// it and publish.Warm wrap it) is Refused; a connection that may come
// (refused at TCP, a timeout) or a refusal of one request is not.
func TestRefused(t *testing.T) {
	sasl := fmt.Errorf("%w: [id]: Access denied", kerr.SaslAuthenticationFailed)
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{sasl, true},
		{fmt.Errorf("publish: loading the idempotent producer id: %w", sasl), true},
		{errors.Join(context.Canceled, fmt.Errorf("pid: %w", sasl)), true},
		{kerr.UnsupportedSaslMechanism, true},
		{&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, true},
		{fmt.Errorf("unable to dial: %w", x509.HostnameError{Host: "b-1"}), true},
		{tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
		{&iamauth.CredentialsError{Source: "environment", Err: iamauth.ErrNoCredentials}, true},
		{nil, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{context.DeadlineExceeded, false},
		{kerr.TopicAuthorizationFailed, false},
		{kerr.UnknownTopicOrPartition, false},
	} {
		if got := Refused(tc.err); got != tc.want {
			t.Errorf("Refused(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
