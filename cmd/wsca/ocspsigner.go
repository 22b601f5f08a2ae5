package main

import (
	"fmt"
	"time"

	"github.com/wsca/wsca/internal/cadir"
)

// ensureOCSPSigner is wsca crl's second job when the CA has an OCSP URL: keep the delegated OCSP signer
// that wsca publish answers with from expiring (see cadir.EnsureOCSPSigner).
func ensureOCSPSigner(g *globals, d *cadir.Dir) error {
	res, err := d.EnsureOCSPSigner(0)
	if err != nil {
		return fmt.Errorf("renewing the OCSP signer (wsca publish signs with it): %w", err)
	}
	if res.Issued && g.verbose {
		fmt.Fprintf(g.env.stderr, "wsca: issued a new OCSP signer (%s), valid until %s\n", cadir.OCSPSignerCertFile, res.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// configOCSPURL is the responder wsca config puts in a block: --ocsp-responder, else the CA's OCSP URL.
func configOCSPURL(d *cadir.Dir, flag string) (string, error) {
	switch flag {
	case "none":
		return "", nil
	case "":
		return d.OCSPURL()
	}
	if err := cadir.CheckOCSPURL(flag); err != nil {
		return "", usageError{err}
	}
	return flag, nil
}
