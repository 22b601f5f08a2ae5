package ca

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"
)

// Kind is the profile of a certificate. Issue accepts KindClient and KindServer; the issuance records (store.Kind
// is this type) also use the others. ca owns every kind, the record-only ones included, so that no other package
// spells one; the values are stored in wsca.db and never change spelling.
type Kind string

// Certificate kinds.
const (
	KindClient       Kind = "client"
	KindServer       Kind = "server"
	KindRoot         Kind = "root"
	KindIntermediate Kind = "intermediate"
	// KindOCSPSigner is the record of the CA's delegated OCSP signer (NewOCSPSigner).
	KindOCSPSigner Kind = "ocsp-signer"
	// KindSubCA is the record of a CA certificate brought along by wsca import (listed only with wsca list --all).
	KindSubCA Kind = "subca"
)

// OutlivesIssuerError is how Issue reports ErrOutlivesIssuer: with the longest validity that still fits, so that
// the caller can suggest it in its own terms (wsca: --days). It matches errors.Is(err, ErrOutlivesIssuer).
type OutlivesIssuerError struct {
	// MaxDays is the whole days left until the issuer's NotAfter; 0 or less: no leaf fits, renew the issuer.
	MaxDays int
}

// Error says what failed and, when no validity fits at all, that the issuer must be renewed first.
func (e *OutlivesIssuerError) Error() string {
	if e.MaxDays <= 0 {
		return "the issuer expires in less than a day: renew the issuing CA first: " + ErrOutlivesIssuer.Error()
	}
	return ErrOutlivesIssuer.Error()
}

// Is makes errors.Is(err, ErrOutlivesIssuer) true.
func (e *OutlivesIssuerError) Is(target error) bool { return target == ErrOutlivesIssuer }

// DefaultLeafValidity is used by Issue when LeafRequest.Validity is zero.
const DefaultLeafValidity = 365 * 24 * time.Hour

// LeafRequest describes an end-entity certificate for Issue. The profile
// (key usage, extended key usage, basic constraints) is fixed by Kind; only
// the subject, names, lifetime, CRL locations and public key come from the
// request.
type LeafRequest struct {
	Kind    Kind      // KindClient (default when empty) or KindServer
	Subject pkix.Name // CommonName required

	Emails   []string
	URIs     []*url.URL
	DNSNames []string
	IPs      []net.IP

	// Validity is the lifetime from now; DefaultLeafValidity when zero.
	// Issue fails with ErrOutlivesIssuer if the certificate would expire
	// after its issuer.
	Validity time.Duration
	// CRLURLs become the CRL distribution points (RFC 5280 4.2.1.13).
	CRLURLs []string
	// OCSPURLs become the OCSP responders of the Authority Information Access extension (RFC 5280 4.2.2.1).
	OCSPURLs []string
	// PublicKey is the certified key; it must pass CheckPublicKey.
	PublicKey crypto.PublicKey
}

// Issue signs an end-entity certificate for req with issuer.
//
// Client certificates get keyUsage digitalSignature, extKeyUsage clientAuth
// only and basicConstraints CA:FALSE; server certificates are the same with
// serverAuth instead (and keyEncipherment for RSA keys, which TLS 1.2 RSA key
// exchange needs) and need at least one DNS name or IP address. Every
// certificate has a random 128-bit serial, a Subject Key Identifier, an
// Authority Key Identifier equal to the issuer's SKI and a NotBefore five
// minutes in the past.
//
// Issue fails with ErrNoSigningKey if issuer.Key is nil, ErrNotCA if the
// issuer certificate is not a CA, ErrKeyMismatch if the key does not belong
// to it, ErrWeakKey for an unacceptable public key, ErrOutlivesIssuer if
// NotAfter would be after the issuer's NotAfter, ErrOutsideNameConstraints
// for a name the issuer's name constraints do not permit, and with a
// descriptive error for an invalid subject or names.
func Issue(rand io.Reader, now time.Time, issuer Authority, req LeafRequest) (*x509.Certificate, error) {
	if err := checkIssuer(issuer); err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	kind := req.Kind
	if kind == "" {
		kind = KindClient
	}
	if err := checkLeafRequest(kind, req); err != nil {
		return nil, fmt.Errorf("issuing %s certificate for %q: %w", kind, req.Subject.CommonName, err)
	}
	if err := checkNameConstraints(issuer.Cert, req); err != nil {
		return nil, fmt.Errorf("issuing %s certificate for %q: %w", kind, req.Subject.CommonName, err)
	}
	validity := req.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("issuing %s certificate for %q: validity %s is negative", kind, req.Subject.CommonName, validity)
	}
	now = now.UTC().Truncate(time.Second)
	notAfter := now.Add(validity)
	if notAfter.After(issuer.Cert.NotAfter) {
		over := notAfter.Sub(issuer.Cert.NotAfter)
		maxDays := int(issuer.Cert.NotAfter.Sub(now) / (24 * time.Hour))
		return nil, fmt.Errorf("issuing %s certificate for %q: it would expire %s, %s after issuer %q (expires %s): %w",
			kind, req.Subject.CommonName, notAfter.Format(time.RFC3339), roughDuration(over),
			issuer.Cert.Subject.CommonName, issuer.Cert.NotAfter.UTC().Format(time.RFC3339), &OutlivesIssuerError{MaxDays: maxDays})
	}

	serial, err := NewSerial(rand)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	ski, err := subjectKeyID(req.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("issuing certificate: %w", err)
	}
	usage, eku := leafUsage(req.PublicKey, kind)
	notBefore := leafNotBefore(now, validity, issuer.Cert)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               req.Subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		IsCA:                  false,
		SubjectKeyId:          ski,
		AuthorityKeyId:        issuer.Cert.SubjectKeyId,
		EmailAddresses:        req.Emails,
		URIs:                  req.URIs,
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPs,
		CRLDistributionPoints: req.CRLURLs,
		OCSPServer:            req.OCSPURLs,
	}
	cert, err := sign(rand, tmpl, issuer.Cert, req.PublicKey, issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("issuing %s certificate for %q: %w", kind, req.Subject.CommonName, err)
	}
	return cert, nil
}

// leafUsage returns the key usage and extended key usage of a leaf of the
// given kind with public key pub: digitalSignature always, keyEncipherment
// only for an RSA server key, and clientAuth or serverAuth.
func leafUsage(pub crypto.PublicKey, kind Kind) (x509.KeyUsage, []x509.ExtKeyUsage) {
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok && kind == KindServer {
		// RFC 5246 7.4.2: a TLS 1.2 server's RSA key may be used for key
		// transport (RSA key exchange). A client only signs
		// (CertificateVerify): keyEncipherment is inconsistent with
		// clientAuth (RFC 5280 4.2.1.12), and zlint flags it.
		usage |= x509.KeyUsageKeyEncipherment
	}
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if kind == KindServer {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	return usage, eku
}

// leafNotBefore returns the NotBefore of a leaf issued at now for validity:
// backdated for clock skew, but never before the issuer's own NotBefore.
func leafNotBefore(now time.Time, validity time.Duration, issuer *x509.Certificate) time.Time {
	// A short-lived certificate (wsca issue --valid 2m, renewed by wsca renew) is backdated by a tenth of its
	// lifetime at most: a full Backdate would put 2/3 of its lifetime before its issuance, and a holder
	// renewing at 2/3 would renew again at once.
	notBefore := now.Add(-min(Backdate, validity/10))
	if notBefore.Before(issuer.NotBefore) {
		// Keep the leaf's validity inside the issuer's: some relying
		// parties (and RFC 5280 6.1.3 readers) find the opposite confusing.
		notBefore = issuer.NotBefore
	}
	return notBefore
}

// checkIssuer verifies that issuer can sign certificates.
func checkIssuer(issuer Authority) error {
	if issuer.Cert == nil {
		return errors.New("issuer certificate is missing")
	}
	if issuer.Key == nil {
		return fmt.Errorf("%q: %w", issuer.Cert.Subject.CommonName, ErrNoSigningKey)
	}
	if !issuer.Cert.BasicConstraintsValid || !issuer.Cert.IsCA ||
		(issuer.Cert.KeyUsage != 0 && issuer.Cert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return fmt.Errorf("%q: %w", issuer.Cert.Subject.CommonName, ErrNotCA)
	}
	if len(issuer.Cert.SubjectKeyId) == 0 {
		return fmt.Errorf("issuer %q has no subject key identifier", issuer.Cert.Subject.CommonName)
	}
	if err := CheckKeyMatches(issuer.Key, issuer.Cert); err != nil {
		return fmt.Errorf("issuer %q: %w", issuer.Cert.Subject.CommonName, err)
	}
	return nil
}

// checkLeafRequest validates the caller-controlled parts of req.
func checkLeafRequest(kind Kind, req LeafRequest) error {
	switch kind {
	case KindClient, KindServer:
	default:
		return fmt.Errorf("unknown certificate kind %q (want %q or %q)", kind, KindClient, KindServer)
	}
	if strings.TrimSpace(req.Subject.CommonName) == "" {
		return errors.New("subject common name is empty")
	}
	if err := checkName(req.Subject); err != nil {
		return err
	}
	if req.PublicKey == nil {
		return errors.New("public key is missing")
	}
	if err := CheckPublicKey(req.PublicKey); err != nil {
		return err
	}
	for _, e := range req.Emails {
		if err := checkPrintable(e); err != nil || !strings.Contains(e, "@") || strings.ContainsAny(e, " <>") {
			return fmt.Errorf("invalid email address %q", e)
		}
	}
	for _, d := range req.DNSNames {
		if err := checkPrintable(d); err != nil || d == "" || strings.ContainsAny(d, " /@") {
			return fmt.Errorf("invalid DNS name %q", d)
		}
	}
	for _, u := range req.URIs {
		if u == nil || u.Scheme == "" {
			return fmt.Errorf("invalid URI %v: want an absolute URI", u)
		}
	}
	for _, ip := range req.IPs {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return fmt.Errorf("invalid IP address %v", ip)
		}
	}
	for _, c := range req.CRLURLs {
		u, err := url.Parse(c)
		if err != nil || checkPrintable(c) != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "ldap") {
			return fmt.Errorf("invalid CRL URL %q: want an http:// or https:// URL", c)
		}
	}
	for _, o := range req.OCSPURLs {
		if u, err := url.Parse(o); err != nil || checkPrintable(o) != nil || u.Scheme != "http" {
			return fmt.Errorf("invalid OCSP URL %q: want an http:// URL", o)
		}
	}
	if kind == KindServer && len(req.DNSNames) == 0 && len(req.IPs) == 0 {
		// RFC 6125 6.4.4 / CA/B BR: clients match server names against
		// subjectAltName only; Go ignores the common name entirely.
		return errors.New("a server certificate needs at least one DNS name or IP address")
	}
	return nil
}

// checkName rejects control characters in every subject attribute.
func checkName(n pkix.Name) error {
	fields := [][]string{
		{n.CommonName, n.SerialNumber}, n.Country, n.Organization, n.OrganizationalUnit,
		n.Locality, n.Province, n.StreetAddress, n.PostalCode,
	}
	for _, f := range fields {
		for _, v := range f {
			if err := checkPrintable(v); err != nil {
				return fmt.Errorf("subject %q: %w", v, err)
			}
		}
	}
	for _, a := range n.ExtraNames {
		if s, ok := a.Value.(string); ok {
			if err := checkPrintable(s); err != nil {
				return fmt.Errorf("subject %q: %w", s, err)
			}
		}
	}
	return nil
}

// roughDuration formats d in days (or hours/minutes below a day).
func roughDuration(d time.Duration) string {
	if d >= 24*time.Hour {
		n := (d + 24*time.Hour - 1) / (24 * time.Hour)
		if n == 1 {
			return "1 day"
		}
		return fmt.Sprintf("%d days", n)
	}
	return d.Round(time.Minute).String()
}
