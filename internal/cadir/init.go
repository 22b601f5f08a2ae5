package cadir

import (
	"fmt"
	"os"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// InitRequest is what wsca init needs beyond the hierarchy itself.
type InitRequest struct {
	Hierarchy ca.HierarchyRequest
	// Passphrase encrypts both CA keys; nil writes them unencrypted (--insecure-no-passphrase).
	Passphrase []byte
	// RootKeyOut, when set, is where the root key goes instead of the directory (offline root).
	RootKeyOut string
	// CRLURL, when set, is put as a CRL distribution point into every certificate issued later.
	CRLURL string
	// OCSPURL, when set, is put as the OCSP responder (AIA) into every certificate issued later.
	OCSPURL string
	// RootCRLValidity is the validity of the first root CRL (default 1 year: the root key may live offline).
	RootCRLValidity time.Duration
	// CRLValidity is the validity of the first intermediate CRL (default 7 days).
	CRLValidity time.Duration
}

// InitResult describes what init created.
type InitResult struct {
	Root, Intermediate store.Record
	Files              []string
}

// Init creates the CA: the hierarchy, the encrypted keys, ca.crt, the database and the first CRLs. An
// existing CA is refused with ErrAlreadyInitialized and nothing is changed; on any later failure every file
// Init created is removed again, so a failed init can simply be retried.
func (d *Dir) Init(req InitRequest) (res *InitResult, err error) {
	if d.Initialized() {
		return nil, fmt.Errorf("%s: %w", d.Path, ErrAlreadyInitialized)
	}
	if err := atomicfile.MkdirPrivate(d.Path); err != nil {
		return nil, err
	}
	// An existing directory (mkdir /etc/wsca, 0755 by the umask) keeps its mode in MkdirPrivate. Init
	// owns the directory it fills with keys, so it narrows it here; later commands only report a loose mode.
	if err := os.Chmod(d.Path, 0o700); err != nil {
		return nil, fmt.Errorf("making %s private (0700): %w", d.Path, err)
	}
	now := d.now()
	h, err := ca.NewHierarchy(d.Rand, now, req.Hierarchy)
	if err != nil {
		return nil, fmt.Errorf("creating the CA hierarchy: %w", err)
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
	defer func() {
		if cerr := st.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing the database: %w", cerr)
		}
	}()

	if err := d.writeInitKeysAndCerts(&files, h, req); err != nil {
		return nil, err
	}

	rootRec := recordFor(h.Root.Cert, "root", ca.KindRoot, now, d.User)
	interRec := recordFor(h.Intermediate.Cert, "intermediate", ca.KindIntermediate, now, d.User)
	if err := st.Add(rootRec, interRec); err != nil {
		return nil, fmt.Errorf("recording the CA certificates: %w", err)
	}
	if err := storeInitSettings(st, req); err != nil {
		return nil, err
	}
	if err := d.writeInitCRLs(&files, st, h, req, now); err != nil {
		return nil, err
	}
	if err := st.AppendAudit(store.AuditEntry{Time: now, Action: store.ActionInit, User: d.User,
		Detail: fmt.Sprintf("root %s, intermediate %s", h.Root.Cert.Subject.CommonName, h.Intermediate.Cert.Subject.CommonName)}); err != nil {
		return nil, err
	}
	return &InitResult{Root: rootRec, Intermediate: interRec, Files: append([]string(nil), files.paths...)}, nil
}
