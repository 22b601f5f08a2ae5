package cadir

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// SignRequest describes a CSR to sign. The CA decides the profile: key usages, extended key usages and
// basic constraints requested in the CSR are ignored, and a CSR that asks to be a CA is refused.
type SignRequest struct {
	CSR      []byte  // PEM or DER
	Name     string  // overrides the CSR's common name
	Kind     ca.Kind // ca.KindClient (default) or ca.KindServer
	Validity time.Duration
	Renew    bool
	Out      string // certificate path; "" returns the PEM without writing a file
	Bundle   bool   // append the chain (intermediate, root) to the written certificate
}

// SignResult is the recorded certificate and the PEM that was (or is to be) written.
type SignResult struct {
	Record store.Record
	PEM    []byte
	Path   string
}

// Sign verifies a CSR, issues a certificate for its key, records it, and then writes it to req.Out.
func (d *Dir) Sign(req SignRequest) (*SignResult, error) {
	csr, err := ca.ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	kind := req.Kind
	if kind == "" {
		kind = ca.KindClient
	}
	lr := ca.LeafRequestFromCSR(csr, kind)
	name := req.Name
	if name == "" {
		name = csr.Subject.CommonName
	}
	if name == "" {
		return nil, fmt.Errorf("the CSR has no common name: pass --name")
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	lr.Subject.CommonName = name
	lr.Validity = req.Validity
	if lr.Validity == 0 {
		lr.Validity = DefaultValidity
	}
	if req.Out != "" {
		if err := checkAbsent(req.Out); err != nil {
			return nil, err
		}
	}
	ok := []bool{true}
	var rowErr error
	urls, err := d.preflight([]IssueRequest{{Name: name, Renew: req.Renew}}, ok, func(_ int, e error) { rowErr = e })
	if err != nil {
		return nil, err
	}
	if rowErr != nil {
		return nil, rowErr
	}
	if urls.crl != "" {
		lr.CRLURLs = []string{urls.crl}
	}
	if urls.ocsp != "" {
		lr.OCSPURLs = []string{urls.ocsp}
	}
	inter, chain, err := d.issuer()
	if err != nil {
		return nil, err
	}
	now := d.now()
	cert, err := ca.Issue(d.Rand, now, inter, lr)
	if err != nil {
		return nil, err
	}
	p := pendingLeaf{req: &IssueRequest{Name: name, Renew: req.Renew}, cert: cert,
		rec: recordFor(cert, name, string(kind), now, d.User)}
	if err := d.commit([]pendingLeaf{p}, []int{0}, ok, func(_ int, e error) { rowErr = e }); err != nil {
		return nil, err
	}
	if rowErr != nil {
		return nil, rowErr
	}
	certs := []*x509.Certificate{cert}
	if req.Bundle {
		certs = append(certs, chain...)
	}
	res := &SignResult{Record: p.rec, PEM: ca.EncodeCertificates(certs...), Path: req.Out}
	if req.Out != "" {
		if err := atomicfile.WriteNew(req.Out, res.PEM, 0o644); err != nil {
			return nil, fmt.Errorf("certificate %s is recorded but could not be written: %w (wsca show %s --pem prints it)",
				store.SerialHex(cert.SerialNumber), err, store.SerialHex(cert.SerialNumber))
		}
	}
	return res, nil
}
