package cadir

import (
	"crypto/x509"
	"fmt"
	"math/big"
	"os"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

// The steps of Import, one helper each. Every file they create is recorded in files, so that Import's
// rollback removes it again if a later step fails.

// writeImportKeyAndCerts writes the issuing key (encrypted with req.Passphrase), root.crt (root, which is
// the issuer itself for a single-CA directory), intermediate.crt and ca.crt (the issuer alone when single).
// It stops at the first file that cannot be written and returns that error.
func (d *Dir) writeImportKeyAndCerts(files *newFiles, req ImportRequest, root *x509.Certificate, single bool) error {
	write := func(name string, data []byte, perm os.FileMode) error { return files.write(d.File(name), data, perm) }
	if err := files.writeKey(d, d.File(IntermediateKeyFile), req.IssuerKey, req.Passphrase); err != nil {
		return err
	}
	if err := write(RootCertFile, ca.EncodeCertificates(root), 0o644); err != nil {
		return err
	}
	if err := write(IntermediateCertFile, ca.EncodeCertificates(req.Issuer), 0o644); err != nil {
		return err
	}
	bundle := ca.EncodeCertificates(req.Issuer, root)
	if single {
		bundle = ca.EncodeCertificates(req.Issuer)
	}
	return write(BundleFile, bundle, 0o644)
}

// recordImport adds the CA records (one "root" record for a single-CA directory, else root and
// intermediate) and every imported record to st, and continues the intermediate's CRL numbers after
// req.LastCRLNumber when it is positive. It returns the store's error.
func (d *Dir) recordImport(st *store.Store, req ImportRequest, root *x509.Certificate, single bool, now time.Time) error {
	var caRecs []store.Record
	if single {
		caRecs = []store.Record{recordFor(req.Issuer, "root", ca.KindRoot, now, d.User)}
	} else {
		caRecs = []store.Record{recordFor(root, "root", ca.KindRoot, now, d.User), recordFor(req.Issuer, "intermediate", ca.KindIntermediate, now, d.User)}
	}
	if err := st.Add(append(caRecs, req.Records...)...); err != nil {
		return fmt.Errorf("recording the imported certificates: %w", err)
	}
	if req.LastCRLNumber != nil && req.LastCRLNumber.Sign() > 0 {
		if err := st.SetCRLNumber(ScopeIntermediate, req.LastCRLNumber); err != nil {
			return err
		}
	}
	return nil
}

// importRootCRL checks that rootCRL (PEM or DER) is exactly one CRL signed by root, writes it as
// root-crl.pem and records its number and validity in st, so wsca reuses it until the root's owner
// publishes a new one. It returns an error naming "the root CRL" for a CRL that does not parse or verify.
func (d *Dir) importRootCRL(files *newFiles, st *store.Store, rootCRL []byte, root *x509.Certificate) error {
	crls, err := crl.Parse(rootCRL, []*x509.Certificate{root})
	if err != nil {
		return fmt.Errorf("the root CRL: %w", err)
	}
	if len(crls) != 1 {
		return fmt.Errorf("the root CRL: want 1 CRL, found %d", len(crls))
	}
	rc := crls[0]
	if err := files.write(d.File(RootCRLFile), pemCRL(rc.Raw), 0o644); err != nil {
		return err
	}
	number := rc.Number
	if number == nil {
		number = new(big.Int)
	}
	return st.RecordCRL(ScopeRoot, number, rc.ThisUpdate, rc.NextUpdate)
}

// auditImport counts the imported and revoked records of req into a new ImportResult and appends the
// import to st's audit log. It returns the result, or the store's error.
func (d *Dir) auditImport(st *store.Store, req ImportRequest, single bool, now time.Time) (*ImportResult, error) {
	res := &ImportResult{SingleCA: single, Imported: len(req.Records), NameWarnings: nameWarnings(req.Records)}
	for _, r := range req.Records {
		if r.Revocation != nil {
			res.Revoked++
		}
	}
	detail := fmt.Sprintf("from %s: issuer %s, %d certificates (%d revoked), last CRL number %v",
		req.Source, req.Issuer.Subject, res.Imported, res.Revoked, req.LastCRLNumber)
	if err := st.AppendAudit(store.AuditEntry{Time: now, Action: store.ActionImport, User: d.User, Detail: detail}); err != nil {
		return nil, err
	}
	return res, nil
}

// writeImportCRL generates the first crl.pem of an imported directory (the database must be closed) and
// records it in files if it was written, also when GenerateCRL then failed. The first CRL proves the
// import end to end: the key opens, the records are readable, the numbers continue. The passphrase is the
// one just used, so the operator is not asked again.
func (d *Dir) writeImportCRL(files *newFiles, req ImportRequest) (*CRLResult, error) {
	gen := *d
	gen.Passphrase = func() ([]byte, error) { return req.Passphrase, nil }
	opt := CRLOptions{Validity: req.CRLValidity}
	cr, err := gen.GenerateCRL(opt)
	if _, statErr := os.Stat(d.File(CRLFile)); statErr == nil {
		files.paths = append(files.paths, d.File(CRLFile))
	}
	if err != nil {
		return nil, fmt.Errorf("writing the first CRL: %w", err)
	}
	return cr, nil
}
