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
	crls, err := parse(data, cas)
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

// parse is crl.Parse, faster on PEM in its plain form (splitPEM): each block's DER goes to crl.Parse on its own,
// and a failing block is reported as crl.Parse reports it ("CRL n: …"). data is not used once split, so that a
// CRL file's buffer can be collected while the DER is parsed.
func parse(data []byte, cas []*x509.Certificate) ([]*crl.CRL, error) {
	ders, ok := splitPEM(data)
	if !ok {
		return crl.Parse(data, cas)
	}
	crls := make([]*crl.CRL, 0, len(ders))
	for i, der := range ders {
		c, err := crl.Parse(der, cas)
		if err != nil {
			return nil, fmt.Errorf("CRL %d: %w", i+1, err)
		}
		ders[i] = nil // crl.Parse copied it: let the GC have it before the next block
		crls = append(crls, c...)
	}
	return crls, nil
}
