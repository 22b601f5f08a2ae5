package cadir

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// UnwrittenError means a signed certificate is in the database but its file could not be written: the caller
// can print it again from the record (wsca: wsca show SERIAL --pem).
type UnwrittenError struct {
	Serial *big.Int
	Err    error
}

func (e *UnwrittenError) Error() string {
	return fmt.Sprintf("certificate %s is recorded but could not be written: %v", ca.SerialHex(e.Serial), e.Err)
}

// Unwrap returns the write error.
func (e *UnwrittenError) Unwrap() error { return e.Err }

// SignRequest describes a CSR to sign. The CA decides the profile and the identity: key usages, extended
// key usages and basic constraints requested in the CSR are ignored, a CSR that asks to be a CA is refused,
// and of the CSR's names only the common name is used (Name overrides it). OU, O, e-mail and URI come from
// the request's own fields, as for wsca issue; DNS names and IP addresses only into server certificates,
// from the fields or the CSR. AcceptCSRNames copies the CSR's other subject attributes and names too.
type SignRequest struct {
	CSR            []byte  // PEM or DER
	Name           string  // overrides the CSR's common name
	Kind           ca.Kind // ca.KindClient (default) or ca.KindServer
	OU             string
	Organization   string
	Emails, URIs   []string
	DNSNames, IPs  []string // server certificates only
	AcceptCSRNames bool
	Validity       time.Duration
	Renew          bool
	Out            string // certificate path; "" returns the PEM without writing a file
	Bundle         bool   // append the chain (intermediate, root) to the written certificate
}

// SignResult is the recorded certificate and the PEM that was (or is to be) written.
type SignResult struct {
	Record   store.Record
	PEM      []byte
	Path     string
	Plan     *SignPlan
	Warnings []string // e.g. a name that differs from another only by letter case
}

// SignPlan is what signing a CSR will certify, worked out before anything is recorded so that the command
// can show it first.
type SignPlan struct {
	Name      string
	Certified []string // the certificate's identity (ca.Identity entries)
	FromCSR   []string // the part of Certified taken from the CSR besides its common name
	Ignored   []string // what the CSR asked for and the certificate will not carry

	csr  *x509.CertificateRequest
	leaf ca.LeafRequest
}

// PlanSign parses and checks req.CSR and returns what signing it will certify. It records nothing.
func PlanSign(req SignRequest) (*SignPlan, error) {
	csr, err := ca.ParseCSR(req.CSR)
	if err != nil {
		return nil, err
	}
	name := req.Name
	if name == "" {
		name = csr.Subject.CommonName
	}
	if name == "" {
		return nil, fmt.Errorf("the CSR has no common name: %w", ErrBadName)
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	kind := req.Kind
	if kind == "" {
		kind = ca.KindClient
	}
	ir := IssueRequest{Name: name, Kind: kind, OU: req.OU, Organization: req.Organization,
		Emails: req.Emails, URIs: req.URIs, DNSNames: req.DNSNames, IPs: req.IPs}
	lr, err := ir.leafRequest(csr.PublicKey)
	if err != nil {
		return nil, err
	}
	own := lr.Identity()
	switch {
	case req.AcceptCSRNames:
		lr = ca.WithCSRNames(lr, csr)
	case kind == ca.KindServer:
		// A server's names are what its CSR is for; they identify no client.
		lr = ca.WithCSRNames(lr, &x509.CertificateRequest{DNSNames: csr.DNSNames, IPAddresses: csr.IPAddresses})
	}
	lr.Validity = req.Validity
	if lr.Validity == 0 {
		lr.Validity = DefaultValidity
	}
	certified := lr.Identity()
	return &SignPlan{
		Name:      name,
		Certified: certified,
		FromCSR:   ca.Missing(certified, own),
		Ignored:   ca.Missing(ca.CSRIdentity(csr), certified),
		csr:       csr,
		leaf:      lr,
	}, nil
}

// Sign verifies a CSR, issues a certificate for its key with the identity PlanSign works out, records it,
// and then writes it to req.Out.
func (d *Dir) Sign(req SignRequest) (*SignResult, error) {
	plan, err := PlanSign(req)
	if err != nil {
		return nil, err
	}
	name, lr, kind := plan.Name, plan.leaf, plan.leaf.Kind
	if req.Out != "" {
		if err := checkAbsent(req.Out); err != nil {
			return nil, err
		}
	}
	// A CSR is a batch of one: its identity is decided by PlanSign, so preflight carries nothing over.
	pre := []IssueRequest{{Name: name, Renew: req.Renew, fromCSR: true}}
	b := newBatch(pre, nil)
	it := &b.items[0]
	urls, err := d.preflight(b)
	if err != nil {
		return nil, err
	}
	if it.err != nil {
		return nil, it.err
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
	// rec is kept apart from the item: the result reports the record as signed (commit links a renewal
	// in the item's copy only), as it always has.
	rec := recordFor(cert, name, kind, now, d.User)
	it.cert, it.rec = cert, rec
	if err := d.commit(b, []*batchItem{it}); err != nil {
		return nil, err
	}
	if it.err != nil {
		return nil, it.err
	}
	certs := []*x509.Certificate{cert}
	if req.Bundle {
		certs = append(certs, chain...)
	}
	res := &SignResult{Record: rec, PEM: ca.EncodeCertificates(certs...), Path: req.Out, Plan: plan, Warnings: pre[0].warnings}
	if req.Out != "" {
		if err := atomicfile.WriteNew(req.Out, res.PEM, 0o644); err != nil {
			return nil, &UnwrittenError{Serial: cert.SerialNumber, Err: err}
		}
	}
	return res, nil
}
