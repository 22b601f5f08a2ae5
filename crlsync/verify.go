package crlsync

import (
	"bytes"
	"crypto/x509"
	"fmt"

	"github.com/wsca/wsca/crl"
)

// Verify parses data (PEM CRLs, as in wsca's crl.pem, or one DER CRL), checks each CRL's signature against the
// CA certificates in cas and requires a CRL from every CA in cas: with chain checking (the relay, Apache
// SSLCARevocationCheck chain, nginx ssl_crl) a CA without its CRL would lock out every client under it. Errors
// wrap the crl package's sentinels (crl.ErrMalformed, crl.ErrUnknownIssuer, crl.ErrBadSignature, crl.ErrNoCRL).
func Verify(data []byte, cas []*x509.Certificate) ([]*crl.CRL, error) {
	crls, err := crl.Parse(data, cas)
	if err != nil {
		return nil, err
	}
	for _, ca := range cas {
		if !hasCRL(crls, ca) {
			return nil, fmt.Errorf("no CRL from CA %q (%w)", ca.Subject, crl.ErrNoCRL)
		}
	}
	return crls, nil
}

func hasCRL(crls []*crl.CRL, ca *x509.Certificate) bool {
	for _, c := range crls {
		if bytes.Equal(c.Issuer.RawSubject, ca.RawSubject) &&
			bytes.Equal(c.Issuer.RawSubjectPublicKeyInfo, ca.RawSubjectPublicKeyInfo) {
			return true
		}
	}
	return false
}
