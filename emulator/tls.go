package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certBackdate is how long before the emulator starts its certificates
// are valid: MSK's were issued long before a client connects, so a client
// whose clock is hours off (or a cluster started WithClock) still trusts
// them and meets the token's time check instead.
const certBackdate = 30 * 24 * time.Hour

// certs holds the TLS material of a cluster.
type certs struct {
	caPEM  []byte
	pool   *x509.CertPool
	caFile string
	server *tls.Config
}

// newCerts generates an ECDSA P-256 CA and one server certificate whose SANs
// cover every advertised host plus "localhost", writes ca.pem into dir, and
// returns the server TLS config. Like MSK's, the certificate is issued for
// "*."+domain (its common name and first DNS name) when domain is set.
// With certFile/keyFile given, those are served instead and caFile (if
// any) is what clients are told to trust.
func newCerts(dir string, hosts []string, domain, certFile, keyFile, caFile string, now time.Time) (*certs, error) {
	c := &certs{pool: x509.NewCertPool()}
	if certFile != "" {
		kp, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("emulator: loading cert_file/key_file: %w", err)
		}
		c.server = &tls.Config{Certificates: []tls.Certificate{kp}, MinVersion: tls.VersionTLS12}
		if caFile != "" {
			pemb, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("emulator: reading ca_file: %w", err)
			}
			if !c.pool.AppendCertsFromPEM(pemb) {
				return nil, fmt.Errorf("emulator: ca_file %s holds no PEM certificate", caFile)
			}
			c.caPEM, c.caFile = pemb, caFile
		}
		return c, nil
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "msklink emulator CA", Organization: []string{"msklink"}},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "msklink emulator broker"},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(825 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
	}
	if domain != "" {
		tmpl.Subject.CommonName = "*." + domain
		tmpl.DNSNames = []string{"*." + domain, "localhost"}
	}
	seen := map[string]bool{}
	for _, h := range append(hosts, "127.0.0.1", "::1") {
		if seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "localhost" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	c.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	c.pool.AddCert(ca)
	c.server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der, caDER}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
	c.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(c.caFile, c.caPEM, 0o644); err != nil {
		return nil, fmt.Errorf("emulator: writing CA: %w", err)
	}
	return c, nil
}
