package ca

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
)

// oidBasicConstraints is id-ce-basicConstraints (RFC 5280 4.2.1.9).
var oidBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}

// maxCSRSize bounds the input ParseCSR accepts; real CSRs are a few KiB.
const maxCSRSize = 64 << 10

// ParseCSR parses one PKCS#10 certificate signing request, PEM ("CERTIFICATE
// REQUEST" or "NEW CERTIFICATE REQUEST", exactly one block, only whitespace
// around it) or DER (no trailing bytes). It checks the self-signature (proof
// of possession), the key with CheckPublicKey (ErrWeakKey) and refuses a
// request for basicConstraints CA:TRUE (ErrCSRRequestsCA).
//
// The CA, not the requester, decides the profile: callers should take only
// the subject, optionally the subject alternative names, and the public key
// from the result (see LeafRequestFromCSR); other requested extensions are
// ignored.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > maxCSRSize {
		return nil, fmt.Errorf("reading CSR: %d bytes is too large for a certificate request", len(data))
	}
	der := data
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) {
		block, err := decodeOnePEM(trimmed)
		if err != nil {
			return nil, fmt.Errorf("reading CSR: %w", err)
		}
		if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("reading CSR: found PEM block %q, want \"CERTIFICATE REQUEST\"", block.Type)
		}
		der = block.Bytes
	} else if len(trimmed) == 0 {
		return nil, errors.New("reading CSR: input is empty")
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("reading CSR: not a PEM or DER certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("reading CSR for %q: bad self-signature: %w", csr.Subject.CommonName, err)
	}
	if err := CheckPublicKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("reading CSR for %q: %w", csr.Subject.CommonName, err)
	}
	// csr.Extensions holds the extensionRequest attribute (RFC 2986 4.1,
	// RFC 2985 5.4.2). We never copy requested extensions, but a request for
	// a CA certificate signals a misunderstanding or an attack: refuse it
	// loudly rather than silently issuing a leaf.
	for _, ext := range csr.Extensions {
		if !ext.Id.Equal(oidBasicConstraints) {
			continue
		}
		var bc struct {
			IsCA       bool `asn1:"optional"`
			MaxPathLen int  `asn1:"optional,default:-1"`
		}
		if err := unmarshalStrict(ext.Value, &bc); err != nil {
			return nil, fmt.Errorf("reading CSR for %q: malformed basicConstraints request: %w", csr.Subject.CommonName, err)
		}
		if bc.IsCA {
			return nil, fmt.Errorf("reading CSR for %q: %w", csr.Subject.CommonName, ErrCSRRequestsCA)
		}
	}
	return csr, nil
}

// LeafRequestFromCSR returns a LeafRequest of the given kind with the common
// name and public key of csr, and nothing else: the rest of the identity (OU,
// O, e-mail, URI, DNS and IP names) is the CA's decision, not the requester's
// (a requester who could choose them could claim another user's e-mail or a
// route's OU). Use WithCSRNames to copy them on purpose and RequestedIdentity
// to list what the CSR asked for. Validity and CRLURLs are left for the
// caller. csr should come from ParseCSR.
func LeafRequestFromCSR(csr *x509.CertificateRequest, kind Kind) LeafRequest {
	if csr == nil {
		return LeafRequest{Kind: kind}
	}
	return LeafRequest{
		Kind:      kind,
		Subject:   pkix.Name{CommonName: csr.Subject.CommonName},
		PublicKey: csr.PublicKey,
	}
}

// WithCSRNames returns req with the subject attributes and subject
// alternative names csr asks for added: the explicit opt-in of wsca sign
// --accept-csr-names. DNS names and IP addresses are added only to server
// certificates. Values already in req are kept; the CSR's common name is not
// used (req decides it).
func WithCSRNames(req LeafRequest, csr *x509.CertificateRequest) LeafRequest {
	if csr == nil {
		return req
	}
	s := csr.Subject
	req.Subject.Country = orCSR(req.Subject.Country, s.Country)
	req.Subject.Organization = orCSR(req.Subject.Organization, s.Organization)
	req.Subject.OrganizationalUnit = orCSR(req.Subject.OrganizationalUnit, s.OrganizationalUnit)
	req.Subject.Locality = orCSR(req.Subject.Locality, s.Locality)
	req.Subject.Province = orCSR(req.Subject.Province, s.Province)
	req.Subject.StreetAddress = orCSR(req.Subject.StreetAddress, s.StreetAddress)
	req.Subject.PostalCode = orCSR(req.Subject.PostalCode, s.PostalCode)
	if req.Subject.SerialNumber == "" {
		req.Subject.SerialNumber = s.SerialNumber
	}
	req.Emails = orCSR(req.Emails, csr.EmailAddresses)
	if len(req.URIs) == 0 {
		req.URIs = csr.URIs
	}
	if req.Kind == KindServer {
		req.DNSNames = orCSR(req.DNSNames, csr.DNSNames)
		if len(req.IPs) == 0 {
			req.IPs = csr.IPAddresses
		}
	}
	return req
}

func orCSR(have, csr []string) []string {
	if len(have) > 0 {
		return have
	}
	return csr
}
