package ca

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Default validity periods. A root outlives every intermediate it signs so
// the intermediate can be replaced without re-distributing the root.
const (
	DefaultRootValidity         = 10 * 365 * 24 * time.Hour
	DefaultIntermediateValidity = 5 * 365 * 24 * time.Hour
	// Backdate is how far NotBefore is set before "now", so that a relying
	// party whose clock runs a little behind still accepts a new certificate.
	Backdate = 5 * time.Minute
)

// Authority is a CA certificate and, when available, its private key. A nil
// Key means the authority cannot sign (its key is offline).
type Authority struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// HierarchyRequest describes a new root and intermediate CA.
type HierarchyRequest struct {
	// Name is the CA's display name: "Example Corp" gives the common names
	// "Example Corp Root CA" and "Example Corp Intermediate CA".
	Name string
	// Organization and Country fill O and C of both subjects when set.
	Organization, Country string
	// RootValidity and IntermediateValidity default to 10 and 5 years.
	RootValidity, IntermediateValidity time.Duration
	// KeyType is used for both CA keys; DefaultKeyType when empty.
	KeyType KeyType
	// Constraints, when not empty, become the intermediate's critical
	// nameConstraints extension (the root stays unconstrained, so a new
	// intermediate can be given other constraints later).
	Constraints NameConstraints
}

// Hierarchy is a freshly created root CA and the intermediate it signed.
type Hierarchy struct{ Root, Intermediate Authority }

// NewHierarchy creates a self-signed root CA and an intermediate CA signed by
// it. The root has path length 1, the intermediate path length 0 (it may sign
// only end-entity certificates); both carry keyCertSign, cRLSign and
// digitalSignature and a Subject Key Identifier; the intermediate carries
// req.Constraints as name constraints. It fails on an invalid name or
// constraint,
// a non-positive validity, an intermediate that would outlive the root
// (ErrOutlivesIssuer), or a key generation or signing error.
func NewHierarchy(rand io.Reader, now time.Time, req HierarchyRequest) (*Hierarchy, error) {
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return nil, errors.New("creating CA: name is empty")
	}
	for _, f := range []struct{ what, v string }{{"name", name}, {"organization", req.Organization}, {"country", req.Country}} {
		if err := checkPrintable(f.v); err != nil {
			return nil, fmt.Errorf("creating CA: %s: %w", f.what, err)
		}
	}
	if err := req.Constraints.check(); err != nil {
		return nil, fmt.Errorf("creating CA: %w", err)
	}
	if req.RootValidity == 0 {
		req.RootValidity = DefaultRootValidity
	}
	if req.IntermediateValidity == 0 {
		req.IntermediateValidity = DefaultIntermediateValidity
	}
	if req.RootValidity < 0 || req.IntermediateValidity < 0 {
		return nil, errors.New("creating CA: validity must be positive")
	}
	if req.IntermediateValidity > req.RootValidity {
		return nil, fmt.Errorf("creating CA: intermediate validity %s exceeds root validity %s: %w",
			roughDuration(req.IntermediateValidity), roughDuration(req.RootValidity), ErrOutlivesIssuer)
	}
	now = now.UTC().Truncate(time.Second)

	subject := func(cn string) pkix.Name {
		s := pkix.Name{CommonName: cn}
		if req.Organization != "" {
			s.Organization = []string{req.Organization}
		}
		if req.Country != "" {
			s.Country = []string{req.Country}
		}
		return s
	}

	rootKey, err := GenerateKey(rand, req.KeyType)
	if err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	rootTmpl, err := caTemplate(rand, rootKey.Public(), subject(name+" Root CA"), now, req.RootValidity)
	if err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}
	// Path length 1: the root may sign intermediates, which may sign only
	// leaves (RFC 5280 4.2.1.9).
	rootTmpl.MaxPathLen = 1
	root, err := sign(rand, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("creating root CA: %w", err)
	}

	interKey, err := GenerateKey(rand, req.KeyType)
	if err != nil {
		return nil, fmt.Errorf("creating intermediate CA: %w", err)
	}
	interTmpl, err := caTemplate(rand, interKey.Public(), subject(name+" Intermediate CA"), now, req.IntermediateValidity)
	if err != nil {
		return nil, fmt.Errorf("creating intermediate CA: %w", err)
	}
	// Path length 0: the intermediate issues end-entity certificates only, so
	// a stolen intermediate key cannot mint further CAs.
	interTmpl.MaxPathLen = 0
	interTmpl.MaxPathLenZero = true
	req.Constraints.apply(interTmpl)
	inter, err := sign(rand, interTmpl, root, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("creating intermediate CA: %w", err)
	}
	return &Hierarchy{
		Root:         Authority{Cert: root, Key: rootKey},
		Intermediate: Authority{Cert: inter, Key: interKey},
	}, nil
}

// caTemplate returns the common part of a CA certificate template.
func caTemplate(rand io.Reader, pub crypto.PublicKey, subject pkix.Name, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := NewSerial(rand)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      subject,
		NotBefore:    now.Add(-Backdate),
		NotAfter:     now.Add(validity),
		// keyCertSign and cRLSign are what a CA needs (RFC 5280 4.2.1.3);
		// digitalSignature lets the key sign OCSP responses later.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SubjectKeyId:          ski,
	}, nil
}

// sign creates and parses the certificate for tmpl signed by key as parent.
// crypto/x509 copies the parent's Subject Key Identifier into the Authority
// Key Identifier (RFC 5280 4.2.1.1) and checks the signature it produced.
func sign(rand io.Reader, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand, tmpl, parent, pub, key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing signed certificate: %w", err)
	}
	return cert, nil
}

// checkPrintable rejects control characters and invalid UTF-8, which would
// make subjects ambiguous in logs and terminal output.
func checkPrintable(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("invalid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("contains control character %U", r)
		}
	}
	return nil
}
