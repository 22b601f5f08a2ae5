package doctor

import (
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// CheckOCSPSigner is the check id of the delegated OCSP signer (ocsp-signer.crt) that wsca publish signs OCSP
// responses with. It runs when the CA has an OCSP URL: then every certificate names the responder, and Apache
// (SSLOCSPEnable leaf) or nginx (ssl_ocsp leaf) refuse every client once the responder answers tryLater — which
// it does when the signer is missing, expired or from another intermediate.
const CheckOCSPSigner = "ocsp.signer"

// OCSPSignerWarning: with less life left than this the signer is a warning. wsca crl renews it half-way
// (3.5 days with the 7-day default), so a signer this close to its end means the CRL timer has not run for days.
const OCSPSignerWarning = 2 * 24 * time.Hour

const renewSigner = "run wsca crl (it renews the OCSP signer half-way to expiry) and check that the CRL timer " +
	"(wsca-crl.timer or the cron line) runs"

// checkOCSPSigner checks the OCSP signer's presence, issuer and remaining life when the CA has an OCSP URL.
func (c *checker) checkOCSPSigner(st *store.Store) {
	url, err := st.Setting(cadir.SettingOCSPURL)
	if err != nil {
		c.add(SeverityError, CheckDBOpen, "", "reading the OCSP URL from %s: %v", c.file(cadir.DBFile), err)
		return
	}
	if url == "" {
		return // no OCSP responder named in the certificates: nothing relies on the signer
	}
	p := c.file(cadir.OCSPSignerCertFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		c.add(SeverityError, CheckOCSPSigner, renewSigner,
			"the CA names the OCSP responder %s but has no OCSP signer (%s): wsca publish answers every OCSP request tryLater", url, p)
		return
	}
	if err != nil {
		c.add(SeverityError, CheckOCSPSigner, "", "cannot read %s: %v", p, err)
		return
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		c.add(SeverityError, CheckOCSPSigner, renewSigner, "%s does not parse: %v", p, err)
		return
	}
	signer := certs[0]
	if c.inter != nil && signer.CheckSignatureFrom(c.inter) != nil {
		c.add(SeverityError, CheckOCSPSigner, renewSigner,
			"%s was not issued by this CA's intermediate: OCSP clients reject its responses", p)
		return
	}
	left := signer.NotAfter.Sub(c.now)
	end := signer.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case left <= 0:
		c.add(SeverityError, CheckOCSPSigner, renewSigner,
			"the OCSP signer %s expired at %s: wsca publish answers every OCSP request tryLater, and servers checking OCSP refuse every client", p, end)
	case left < OCSPSignerWarning:
		c.add(SeverityWarning, CheckOCSPSigner, renewSigner,
			"the OCSP signer %s expires at %s (in %s) and was not renewed half-way: OCSP stops answering then", p, end, left.Round(time.Minute))
	default:
		c.add(SeverityOK, CheckOCSPSigner, "", "the OCSP signer for %s is valid until %s", url, end)
	}
}
