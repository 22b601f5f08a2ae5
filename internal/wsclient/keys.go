package wsclient

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/wsca/wsca/ca"
)

// LoadKeyPair builds a client certificate from PEM: certPEM holds the certificate, optionally followed by its
// intermediates (sent along); keyPEM its unencrypted private key (as wsca issue writes NAME.key). It fails on
// anything but CERTIFICATE blocks, on an encrypted key (ca.ErrPassphraseRequired) and on a key that does not
// belong to the certificate (ca.ErrKeyMismatch).
func LoadKeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	certs, err := ca.ParseCertificates(certPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading the certificate: %w", err)
	}
	key, err := ca.ParseKey(keyPEM, nil)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading the key: %w", err)
	}
	if err := ca.CheckKeyMatches(key, certs[0]); err != nil {
		return tls.Certificate{}, fmt.Errorf("the key does not belong to the certificate %s: %w", certs[0].Subject, err)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, c := range certs {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out, nil
}

// ErrBadP12Password means a PKCS#12 bundle's password is wrong (or its integrity check failed).
var ErrBadP12Password = errors.New("wrong password for the PKCS#12 bundle (or the bundle is damaged)")

// LoadPKCS12 builds a client certificate from a PKCS#12 bundle (wsca issue --p12, or any browser export): the
// key, its certificate and the CA certificates in it, sent along as the chain. A wrong password is
// ErrBadP12Password.
func LoadPKCS12(data []byte, password string) (tls.Certificate, error) {
	key, leaf, cas, err := pkcs12.DecodeChain(data, password)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return tls.Certificate{}, ErrBadP12Password
	}
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("reading the PKCS#12 bundle: %w", err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return tls.Certificate{}, fmt.Errorf("reading the PKCS#12 bundle: unsupported key type %T", key)
	}
	if err := ca.CheckKeyMatches(signer, leaf); err != nil {
		return tls.Certificate{}, fmt.Errorf("reading the PKCS#12 bundle: %w", err)
	}
	out := tls.Certificate{PrivateKey: signer, Leaf: leaf, Certificate: [][]byte{leaf.Raw}}
	for _, c := range cas {
		// The bundle may hold the root too; a server ignores it, and sending it costs a few hundred bytes.
		if !selfSigned(c) {
			out.Certificate = append(out.Certificate, c.Raw)
		}
	}
	return out, nil
}

// selfSigned reports whether c is a root: issued by itself and verified by its own key.
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}
