package ca

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"time"
)

// OIDOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1): relying parties need not check the
// revocation of an OCSP signer that carries it. It is why the signer's validity must be short.
var OIDOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// IssueOCSPSigner issues a delegated OCSP-signing certificate (RFC 6960 §4.2.2.2) for pub, valid for
// validity from now: CN "<issuer CN> OCSP Signer", keyUsage digitalSignature, extKeyUsage id-kp-OCSPSigning
// only, CA:FALSE, id-pkix-ocsp-nocheck (a delegated signer cannot usefully be checked through OCSP itself),
// a random 128-bit serial and NotBefore backdated like every leaf. It fails like Issue for an issuer that
// cannot sign or a certificate that would outlive it.
func IssueOCSPSigner(rand io.Reader, now time.Time, issuer Authority, validity time.Duration, pub crypto.PublicKey) (*x509.Certificate, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, fmt.Errorf("issuing the OCSP signer: %w", err)
	}
	if err := CheckPublicKey(pub); err != nil {
		return nil, fmt.Errorf("issuing the OCSP signer: %w", err)
	}
	now = now.UTC().Truncate(time.Second)
	notAfter := now.Add(validity)
	if notAfter.After(issuer.Cert.NotAfter) {
		notAfter = issuer.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("issuing the OCSP signer: the issuer %q has expired: %w", issuer.Cert.Subject.CommonName, ErrOutlivesIssuer)
	}
	serial, err := NewSerial(rand)
	if err != nil {
		return nil, fmt.Errorf("issuing the OCSP signer: %w", err)
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, fmt.Errorf("issuing the OCSP signer: %w", err)
	}
	notBefore := now.Add(-Backdate)
	if notBefore.Before(issuer.Cert.NotBefore) {
		notBefore = issuer.Cert.NotBefore
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: issuer.Cert.Subject.CommonName + " OCSP Signer", Organization: issuer.Cert.Subject.Organization},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		AuthorityKeyId:        issuer.Cert.SubjectKeyId,
		ExtraExtensions:       []pkix.Extension{{Id: OIDOCSPNoCheck, Value: []byte{0x05, 0x00}}},
	}
	return sign(rand, tmpl, issuer.Cert, pub, issuer.Key)
}
