package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"time"
)

// CA is a certificate authority made with crypto/x509 directly rather than with the ca package, for tests of
// what a verifier does with certificates wsca never issues: several intermediates under one root, a path length
// of the test's choosing, leaves without an extended key usage or with "any". Keys are ECDSA P-256 (fast).
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// RandSerial returns a random positive 127-bit serial.
func RandSerial() *big.Int {
	s, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return s.Add(s, big.NewInt(1))
}

func newKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

// NewCA makes a CA valid from an hour ago for a day, self-signed when parent is nil, with the given
// maximum path length (0: it may only issue leaves).
func NewCA(name string, parent *CA, maxPathLen int) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          RandSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"wsca test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// Leaf describes a leaf certificate for CA.Issue. Zero values mean: valid from ten minutes ago for twelve
// hours, extended key usage clientAuth.
type Leaf struct {
	CN        string
	OU        []string
	Emails    []string
	EKU       x509.ExtKeyUsage
	EKUs      []x509.ExtKeyUsage // replaces EKU when set
	NoEKU     bool               // no extended key usage extension at all
	IPs       []net.IP
	NotBefore time.Time
	NotAfter  time.Time
}

// Issue returns a tls.Certificate holding the leaf followed by chain (what the client presents).
func (c *CA) Issue(o Leaf, chain ...*CA) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-10 * time.Minute)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(12 * time.Hour)
	}
	if o.EKU == 0 {
		o.EKU = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber:   RandSerial(),
		Subject:        pkix.Name{CommonName: o.CN, OrganizationalUnit: o.OU},
		EmailAddresses: o.Emails,
		IPAddresses:    o.IPs,
		NotBefore:      o.NotBefore,
		NotAfter:       o.NotAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{o.EKU},
	}
	if o.EKUs != nil {
		tmpl.ExtKeyUsage = o.EKUs
	}
	if o.NoEKU {
		tmpl.ExtKeyUsage = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.Cert, key.Public(), c.Key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	for _, ca := range chain {
		out.Certificate = append(out.Certificate, ca.Cert.Raw)
	}
	return out, nil
}

// CRLPEM returns a PEM "X509 CRL" signed by c listing revoked, each revoked a minute before thisUpdate
// (whole seconds) with reason keyCompromise.
func (c *CA) CRLPEM(number *big.Int, thisUpdate, nextUpdate time.Time, revoked ...*x509.Certificate) ([]byte, error) {
	var entries []x509.RevocationListEntry
	for _, r := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: r.SerialNumber,
			RevocationTime: thisUpdate.Add(-time.Minute).Truncate(time.Second), ReasonCode: 1})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: number, ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
		RevokedCertificateEntries: entries,
	}, c.Cert, c.Key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}), nil
}

// PEMCerts encodes certs as PEM "CERTIFICATE" blocks, in order.
func PEMCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// KeyPEM encodes key as PEM "PRIVATE KEY" (PKCS#8), as wsca writes keys.
func KeyPEM(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
