package relay

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
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

// Certificate returns the server certificate chain and key.
func (v *ClientVerifier) Certificate() []tls.Certificate { return v.m.cert }

// ClientCAs returns the client CA pool to name in the CertificateRequest.
func (v *ClientVerifier) ClientCAs() *x509.CertPool { return v.m.clientCAs }

// CipherSuites returns the TLS 1.2 cipher suites wsca serve offers.
func (v *ClientVerifier) CipherSuites() []uint16 { return v.m.ciphers }

// VerifyExpired is Verify for a renewal grace (wsca enroll --grace): a leaf that expired at most grace before
// now is verified as at its expiry — chain to the bundle's roots, clientAuth, verify depth — while the CRLs of
// the whole chain are checked as now, so that a certificate revoked since (or under a CA revoked since) is
// refused. Any other leaf is verified by Verify at now. (verifyClient cannot do it: it checks the CRLs at the
// time it verifies the chain, and a CRL signed after the leaf's expiry is "not yet valid" then.)
func (v *ClientVerifier) VerifyExpired(certs []*x509.Certificate, now time.Time, grace time.Duration) ([][]*x509.Certificate, error) {
	leaf := certs[0]
	if !now.After(leaf.NotAfter) || now.Sub(leaf.NotAfter) > grace {
		return v.Verify(certs, now)
	}
	m := v.m
	rej := func(reason string, err error) error {
		return &RejectError{Reason: reason, Subject: leaf.Subject.String(), CN: leaf.Subject.CommonName,
			Serial: leaf.SerialNumber, Err: err}
	}
	if err := m.checkClientEKU(leaf); err != nil {
		return nil, rej(ReasonWrongEKU, err)
	}
	inters := m.inters.Clone()
	for _, c := range certs[1:] {
		inters.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: inters, CurrentTime: leaf.NotAfter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return nil, rej(classifyVerifyError(err), err)
	}
	var ok [][]*x509.Certificate
	for _, ch := range chains {
		if len(ch) <= m.cfg.VerifyDepth+1 {
			ok = append(ok, ch)
		}
	}
	if len(ok) == 0 {
		return nil, rej(ReasonChainTooLong, fmt.Errorf("no chain within verify_depth %d", m.cfg.VerifyDepth))
	}
	for _, ch := range ok {
		if err := m.bundle.CheckChain(ch, now, m.cfg.CRLGrace.D()); err != nil {
			return nil, classifyCRLError(leaf, err)
		}
	}
	return ok, nil
}
