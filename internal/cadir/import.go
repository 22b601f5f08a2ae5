package cadir

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// An imported CA whose issuing certificate is a self-signed root ("single-CA" directory) is laid out as:
//
//	root.crt = intermediate.crt   the same certificate, so Chain, Intermediate and Verify work unchanged
//	intermediate.key              its key (re-encrypted with wsca's passphrase); there is no root.key
//	ca.crt                        the certificate once
//	crl.pem                       ONE CRL, signed by that CA, listing every revoked certificate
//	root-crl.pem                  absent
//	wsca.db                       one record, kind "root", for the CA; the imported certificates
//
// One CRL, because two CRLs from one issuer in crl.pem (a "root" CRL and an "intermediate" CRL) make
// OpenSSL pick one by thisUpdate and crl.Bundle by number: either could choose the root-scope CRL, which
// lists no leaf, and let revoked clients in. GenerateCRL therefore writes only the issuer's CRL for a
// single-CA directory (see SingleCA).

// ImportedBy starts the IssuedBy (and Revocation.By) of every imported record, followed by the source tool
// ("imported from easy-rsa"): doctor tells imported certificates from wsca's own by it.
const ImportedBy = "imported from "

// WithoutClientAuthEKU reports whether cert, recorded as a client certificate, lacks an explicit clientAuth
// extended key usage: no EKU extension at all (openssl ca without extensions) or anyExtendedKeyUsage. Go and
// OpenSSL accept such a certificate for client authentication, and for every other purpose too; wsca itself
// issues client certificates with clientAuth only.
func WithoutClientAuthEKU(cert *x509.Certificate) bool {
	return !ca.HasClientAuth(cert)
}

// ImportRequest is an existing CA to take over (built by package importer).
type ImportRequest struct {
	Issuer    *x509.Certificate // issues every certificate from now on; wsca's "intermediate"
	IssuerKey crypto.Signer
	// Root is the issuer's root when the issuer is not self-signed; nil makes a single-CA directory.
	Root *x509.Certificate
	// RootCRL is the root's current CRL (PEM or DER), required with Root: the root key is not imported,
	// so wsca reuses this CRL until the root's owner publishes a new one.
	RootCRL []byte
	// Passphrase encrypts the issuing key; nil writes it unencrypted.
	Passphrase []byte
	// Records are the imported certificates, with their revocations.
	Records []store.Record
	// LastCRLNumber is the highest CRL number the old CA published; the first wsca CRL gets a higher one.
	LastCRLNumber *big.Int
	// Source names the old tooling for the audit log ("openssl", "easy-rsa").
	Source string
	// CRLValidity is the validity of the first CRL (default DefaultCRLValidity).
	CRLValidity time.Duration
}

// ImportResult describes what Import created.
type ImportResult struct {
	SingleCA bool
	Imported int // certificates recorded, not counting the CA certificates
	Revoked  int
	// NameWarnings lists imported certificates whose names wsca would refuse (ValidateName): the old CA
	// accepted them, wsca keeps them, the operator should know.
	NameWarnings []string
	CRL          *CRLResult
	Files        []string
}

// SingleCA reports whether root.crt and intermediate.crt hold the same certificate: a directory made by
// Import from a CA that is its own root. It is false when either file is missing or unreadable.
func (d *Dir) SingleCA() bool {
	root, err := d.readCert(RootCertFile)
	if err != nil {
		return false
	}
	inter, err := d.readCert(IntermediateCertFile)
	return err == nil && bytes.Equal(root.Raw, inter.Raw)
}

// Import creates a CA directory from an existing CA: the issuing certificate and key (encrypted with
// req.Passphrase), root.crt, ca.crt, the database with every imported record and revocation, the CRL
// number continuing after the old one, and a first crl.pem. An existing CA is refused with
// ErrAlreadyInitialized; on any failure every file Import created is removed again. It checks before
// writing anything that the key matches, the issuer chains to the root, and every record was signed by
// the issuer.
func (d *Dir) Import(req ImportRequest) (res *ImportResult, err error) {
	if err := checkImport(req); err != nil {
		return nil, err
	}
	if d.Initialized() {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrAlreadyInitialized)
	}
	if err := atomicfile.MkdirPrivate(d.Path); err != nil {
		return nil, err
	}
	now := d.now()
	single := req.Root == nil
	root := req.Root
	if single {
		root = req.Issuer
	}

	var files newFiles
	defer func() {
		if err != nil {
			files.rollback()
		}
	}()
	st, err := files.createStore(d)
	if err != nil {
		return nil, err
	}
	stClosed := false
	defer func() {
		if !stClosed {
			st.Close()
		}
	}()

	if err := d.writeImportKeyAndCerts(&files, req, root, single); err != nil {
		return nil, err
	}
	if err := d.recordImport(st, req, root, single, now); err != nil {
		return nil, err
	}
	if !single {
		if err := d.importRootCRL(&files, st, req.RootCRL, root); err != nil {
			return nil, err
		}
	}
	res, err = d.auditImport(st, req, single, now)
	if err != nil {
		return nil, err
	}
	stClosed = true
	if err := st.Close(); err != nil {
		return nil, err
	}

	cr, err := d.writeImportCRL(&files, req)
	if err != nil {
		return nil, err
	}
	res.CRL = cr
	res.Files = append([]string(nil), files.paths...)
	return res, nil
}

func checkImport(req ImportRequest) error {
	if req.Issuer == nil || req.IssuerKey == nil {
		return errors.New("importing: the CA certificate and key are required")
	}
	if err := ca.CheckKeyMatches(req.IssuerKey, req.Issuer); err != nil {
		return fmt.Errorf("importing: %w", err)
	}
	if req.Root != nil {
		if err := req.Issuer.CheckSignatureFrom(req.Root); err != nil {
			return fmt.Errorf("importing: %s is not signed by %s: %w", req.Issuer.Subject, req.Root.Subject, err)
		}
		if len(req.RootCRL) == 0 {
			return errors.New("importing: a CA with a separate root needs the root's CRL")
		}
	} else if err := req.Issuer.CheckSignatureFrom(req.Issuer); err != nil {
		return fmt.Errorf("importing: %s has no root given and is not self-signed: %w", req.Issuer.Subject, err)
	}
	for _, r := range req.Records {
		cert, err := x509.ParseCertificate(r.DER)
		if err != nil {
			return fmt.Errorf("importing serial %s: %w", ca.SerialHex(r.Serial), err)
		}
		if cert.SerialNumber.Cmp(r.Serial) != 0 {
			return fmt.Errorf("importing serial %s: the certificate has serial %s", ca.SerialHex(r.Serial), ca.SerialHex(cert.SerialNumber))
		}
		if err := cert.CheckSignatureFrom(req.Issuer); err != nil {
			return fmt.Errorf("importing serial %s: not signed by %s: %w", ca.SerialHex(r.Serial), req.Issuer.Subject, err)
		}
	}
	return nil
}
