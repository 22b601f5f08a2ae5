package relay

import (
	"crypto/tls"
	"crypto/x509"
	"time"
)

// ClientVerifier is the relay's client-certificate verification for other TLS servers of wsca (wsca enroll):
// chain to the client CA bundle, clientAuth EKU required, verify depth, and the CRLs of the whole chain — the
// checks wsca serve makes in VerifyConnection. It is one immutable generation of the files it was loaded from.
type ClientVerifier struct{ m *material }

// LoadClientVerifier reads the server certificate and key, the client CA bundle and the CRL file as wsca serve
// does (every CA needs its CRL) and returns a verifier for them; it fails on any unreadable or inconsistent file.
func LoadClientVerifier(certFile, keyFile, clientCAFile, crlFile string, now time.Time) (*ClientVerifier, error) {
	cfg := NewSimpleConfig("127.0.0.1:0", "http://verifier.invalid", certFile, keyFile, clientCAFile, crlFile)
	m, err := loadMaterial(cfg, now)
	if err != nil {
		return nil, err
	}
	return &ClientVerifier{m: m}, nil
}

// Verify verifies a presented chain (leaf first) at now and returns the verified chains, or a *RejectError.
func (v *ClientVerifier) Verify(certs []*x509.Certificate, now time.Time) ([][]*x509.Certificate, error) {
	chains, rej := v.m.verifyClient(certs, now)
	if rej != nil {
		return nil, rej
	}
	return chains, nil
}

// Certificate returns the server certificate chain and key; ClientCAs the pool named in a CertificateRequest;
// CipherSuites the TLS 1.2 suites wsca serve offers.
func (v *ClientVerifier) Certificate() []tls.Certificate { return v.m.cert }

// ClientCAs returns the client CA pool to name in the CertificateRequest.
func (v *ClientVerifier) ClientCAs() *x509.CertPool { return v.m.clientCAs }

// CipherSuites returns the TLS 1.2 cipher suites wsca serve offers.
func (v *ClientVerifier) CipherSuites() []uint16 { return v.m.ciphers }
