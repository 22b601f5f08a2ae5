package cadir

import (
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// The steps of Init, one helper each. Every file they create is recorded in files, so that Init's
// rollback removes it again if a later step fails.

// writeInitKeysAndCerts writes the two CA keys (encrypted with req.Passphrase; the root key to
// req.RootKeyOut when set), root.crt, intermediate.crt and ca.crt. It stops at the first file that cannot
// be written and returns that error.
func (d *Dir) writeInitKeysAndCerts(files *newFiles, h *ca.Hierarchy, req InitRequest) error {
	rootKeyPath := d.File(RootKeyFile)
	if req.RootKeyOut != "" {
		rootKeyPath = req.RootKeyOut
	}
	if err := files.writeKey(d, rootKeyPath, h.Root.Key, req.Passphrase); err != nil {
		return err
	}
	if err := files.writeKey(d, d.File(IntermediateKeyFile), h.Intermediate.Key, req.Passphrase); err != nil {
		return err
	}
	if err := files.write(d.File(RootCertFile), ca.EncodeCertificates(h.Root.Cert), 0o644); err != nil {
		return err
	}
	if err := files.write(d.File(IntermediateCertFile), ca.EncodeCertificates(h.Intermediate.Cert), 0o644); err != nil {
		return err
	}
	// ca.crt is intermediate then root: the order Apache's SSLCACertificateFile and nginx's
	// ssl_client_certificate expect for a complete client chain.
	return files.write(d.File(BundleFile), ca.EncodeCertificates(h.Intermediate.Cert, h.Root.Cert), 0o644)
}

// storeInitSettings records the CRL distribution point and OCSP responder URLs of req in st, each only
// when set. It returns the store's error.
func storeInitSettings(st *store.Store, req InitRequest) error {
	if req.CRLURL != "" {
		if err := st.SetSetting(SettingCRLURL, req.CRLURL); err != nil {
			return err
		}
	}
	if req.OCSPURL != "" {
		if err := st.SetSetting(SettingOCSPURL, req.OCSPURL); err != nil {
			return err
		}
	}
	return nil
}

// writeInitCRLs signs the first (empty) root and intermediate CRLs, issued at now, with the validities of req (or their
// defaults), writes root-crl.pem and crl.pem, and only then commits their numbers to st. It returns the
// first signing, writing or store error.
func (d *Dir) writeInitCRLs(files *newFiles, st *store.Store, h *ca.Hierarchy, req InitRequest, now time.Time) error {
	rootCRLValidity := req.RootCRLValidity
	if rootCRLValidity == 0 {
		rootCRLValidity = DefaultRootCRLValidity
	}
	crlValidity := req.CRLValidity
	if crlValidity == 0 {
		crlValidity = DefaultCRLValidity
	}
	g := &crlGen{d: d, st: st, now: now}
	rootCRL, err := g.signRoot(h.Root, rootCRLValidity)
	if err != nil {
		return err
	}
	interCRL, err := g.signIntermediate(h.Intermediate, crlValidity)
	if err != nil {
		return err
	}
	if err := files.write(d.File(RootCRLFile), pemCRL(rootCRL), 0o644); err != nil {
		return err
	}
	if err := files.write(d.File(CRLFile), pemCRL(interCRL, rootCRL), 0o644); err != nil {
		return err
	}
	return g.commit()
}
