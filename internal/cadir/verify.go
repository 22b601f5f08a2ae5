package cadir

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// VerifyError says which check a certificate failed: "parse", "expiry", "chain", "eku" or "revocation".
type VerifyError struct {
	Check string
	Err   error
}

func (e *VerifyError) Error() string { return e.Check + ": " + e.Err.Error() }
func (e *VerifyError) Unwrap() error { return e.Err }

// VerifyResult is the verified chain, leaf first.
type VerifyResult struct {
	Chain []*x509.Certificate
}

// Verify checks a certificate (PEM; extra certificates after the first are used as intermediates) the way
// openssl verify -crl_check_all does: validity period, chain to this CA's root, extended key usage
// (clientAuth or serverAuth), and revocation of every certificate in the chain against crlPath (default:
// crl.pem in the directory), whose CRLs must be signed by this CA and current. Failures are *VerifyError.
func (d *Dir) Verify(certPEM []byte, crlPath string) (*VerifyResult, error) {
	certs, err := ca.ParseCertificates(certPEM)
	if err != nil {
		return nil, &VerifyError{"parse", err}
	}
	leaf := certs[0]
	inter, root, err := d.Chain()
	if err != nil {
		return nil, err
	}
	now := d.now()
	if now.Before(leaf.NotBefore) {
		return nil, &VerifyError{"expiry", fmt.Errorf("not valid before %s", leaf.NotBefore.Format("2006-01-02 15:04:05Z07:00"))}
	}
	if now.After(leaf.NotAfter) {
		return nil, &VerifyError{"expiry", fmt.Errorf("expired on %s", leaf.NotAfter.Format("2006-01-02 15:04:05Z07:00"))}
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	inters.AddCert(inter)
	for _, c := range certs[1:] {
		inters.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, &VerifyError{"chain", fmt.Errorf("does not chain to %q: %w", root.Subject.CommonName, err)}
	}
	if !ca.HasClientAuth(leaf) && !ca.HasServerAuth(leaf) {
		return nil, &VerifyError{"eku", errors.New("the certificate allows neither clientAuth nor serverAuth")}
	}
	if crlPath == "" {
		crlPath = d.File(CRLFile)
	}
	data, err := os.ReadFile(crlPath)
	if err != nil {
		return nil, &VerifyError{"revocation", fmt.Errorf("reading CRL: %w", err)}
	}
	crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
	if err != nil {
		return nil, &VerifyError{"revocation", fmt.Errorf("%s: %w", crlPath, err)}
	}
	bundle := crl.NewBundle(crls)
	var lastErr error
	for _, chain := range chains {
		if lastErr = bundle.CheckChain(chain, now, 0); lastErr == nil {
			return &VerifyResult{Chain: chain}, nil
		}
	}
	return nil, &VerifyError{"revocation", lastErr}
}
