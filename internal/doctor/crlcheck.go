package doctor

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// parsedCRLs are the CRLs of crl.pem that verified, by CA.
type parsedCRLs struct {
	inter, root *crl.CRL
}

// splitCRLs returns the DER of each CRL in data: PEM "X509 CRL" blocks, or data itself when it is not PEM.
func splitCRLs(data []byte) ([][]byte, error) {
	rest := bytes.TrimSpace(data)
	if len(rest) == 0 {
		return nil, errors.New("the file is empty")
	}
	if !bytes.HasPrefix(rest, []byte("-----BEGIN")) {
		return [][]byte{rest}, nil
	}
	var ders [][]byte
	for len(rest) > 0 {
		block, after := pem.Decode(rest)
		if block == nil || !bytes.HasPrefix(rest, []byte("-----BEGIN")) {
			return nil, fmt.Errorf("unexpected data after CRL %d", len(ders))
		}
		if block.Type != "X509 CRL" {
			return nil, fmt.Errorf("block %d is %q, not \"X509 CRL\"", len(ders)+1, block.Type)
		}
		ders = append(ders, block.Bytes)
		rest = bytes.TrimSpace(after)
	}
	return ders, nil
}

// describeForeign explains why a CRL did not verify against this CA: another CA's CRL, or one that carries this
// CA's name but was signed with another key.
func (c *checker) describeForeign(i int, der []byte, err error) string {
	rl, perr := x509.ParseRevocationList(der)
	if perr != nil {
		return fmt.Sprintf("CRL %d in %s does not verify against this CA: %v", i, c.file(cadir.CRLFile), err)
	}
	for _, ours := range []*x509.Certificate{c.inter, c.root} {
		if ours != nil && bytes.Equal(rl.RawIssuer, ours.RawSubject) {
			return fmt.Sprintf("CRL %d in %s names %s as its issuer but was signed with another key (authority key id %x, "+
				"this CA's is %x): it comes from another CA with the same name, and servers reject it or ignore it",
				i, c.file(cadir.CRLFile), rl.Issuer, rl.AuthorityKeyId, ours.SubjectKeyId)
		}
	}
	return fmt.Sprintf("CRL %d in %s is signed by %s, which is not a CA of this directory (root %s, intermediate %s)",
		i, c.file(cadir.CRLFile), rl.Issuer, subjectOrNone(c.root), subjectOrNone(c.inter))
}

func subjectOrNone(cert *x509.Certificate) string {
	if cert == nil {
		return "unknown"
	}
	return cert.Subject.String()
}

func (c *checker) checkCRLFile() {
	p := c.file(cadir.CRLFile)
	data, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.add(SeverityError, CheckCRLFile, "", "cannot read %s: %v", p, err)
		}
		return // a missing crl.pem was reported by checkFiles
	}
	ders, err := splitCRLs(data)
	if err != nil {
		c.add(SeverityError, CheckCRLFile, "run wsca crl to rewrite it", "%s is not a CRL file: %v", p, err)
		return
	}
	var issuers []*x509.Certificate
	for _, cert := range []*x509.Certificate{c.inter, c.root} {
		if cert != nil {
			issuers = append(issuers, cert)
		}
	}
	if len(issuers) == 0 {
		return // nothing to verify against; the certificate findings say why
	}
	interCRLs, rootCRLs := c.sortCRLs(p, ders, issuers)
	if len(interCRLs)+len(rootCRLs) == len(ders) {
		c.add(SeverityOK, CheckCRLSigner, "", "every CRL in %s is signed by this CA", p)
	}
	for _, set := range []struct {
		what string
		ca   *x509.Certificate
		crls []*crl.CRL
		dst  **crl.CRL
		why  string
	}{
		{"intermediate", c.inter, interCRLs, &c.crls.inter,
			"every server checking revocation rejects every client certificate"},
		{"root", c.root, rootCRLs, &c.crls.root,
			"servers that check the whole chain (Apache SSLCARevocationCheck chain, nginx ssl_crl, " +
				"openssl verify -crl_check_all, wsca serve) reject every client"},
	} {
		if set.ca == nil || (c.single && set.what == "root") { // single: the one CRL is the issuer's
			continue
		}
		switch len(set.crls) {
		case 0:
			c.add(SeverityError, CheckCRLCoverage, "run wsca crl: it writes the intermediate's CRL followed by the root's",
				"%s holds no CRL from the %s CA %s: %s", p, set.what, set.ca.Subject, set.why)
			continue
		case 1:
			c.add(SeverityOK, CheckCRLCoverage, "", "%s holds the %s CA's CRL (number %s)", p, set.what, numberOf(set.crls[0]))
		default:
			c.add(SeverityWarning, CheckCRLCoverage, "run wsca crl to rewrite it",
				"%s holds %d CRLs from the %s CA: servers may pick an old one", p, len(set.crls), set.what)
		}
		*set.dst = newest(set.crls)
		c.checkCRLExpiry(set.what, *set.dst)
	}
	if c.crls.root != nil && c.inter != nil {
		if rv, ok := c.crls.root.Revoked.Lookup(c.inter.SerialNumber.Bytes()); ok {
			c.add(SeverityError, CheckCertChain, "every client certificate of this CA is refused: create a new CA "+
				"(wsca init --dir NEW) and reissue",
				"the intermediate CA certificate %s is revoked in the root CRL (at %s, %s)", c.inter.Subject,
				rv.RevokedAt.UTC().Format(time.RFC3339), crl.ReasonString(rv.Reason))
		}
	}
}

// sortCRLs verifies each CRL of crl.pem (at p) against issuers and sorts them by CA, reporting the ones this CA
// did not sign.
func (c *checker) sortCRLs(p string, ders [][]byte, issuers []*x509.Certificate) (interCRLs, rootCRLs []*crl.CRL) {
	for i, der := range ders {
		parsed, err := crl.Parse(der, issuers)
		switch {
		case errors.Is(err, crl.ErrUnknownIssuer), errors.Is(err, crl.ErrBadSignature):
			c.add(SeverityError, CheckCRLSigner, "regenerate it: wsca crl (and remove CRLs of other CAs from the file)",
				"%s", c.describeForeign(i+1, der, err))
			continue
		case err != nil:
			c.add(SeverityError, CheckCRLFile, "run wsca crl to rewrite it", "CRL %d in %s: %v", i+1, p, err)
			continue
		}
		cl := parsed[0]
		if c.inter != nil && cl.Issuer.Equal(c.inter) {
			interCRLs = append(interCRLs, cl)
		} else {
			rootCRLs = append(rootCRLs, cl)
		}
	}
	return interCRLs, rootCRLs
}

func numberOf(cl *crl.CRL) string {
	if cl.Number == nil {
		return "none"
	}
	return cl.Number.String()
}

func newest(crls []*crl.CRL) *crl.CRL {
	best := crls[0]
	for _, cl := range crls[1:] {
		if cl.ThisUpdate.After(best.ThisUpdate) {
			best = cl
		}
	}
	return best
}

func (c *checker) checkCRLExpiry(what string, cl *crl.CRL) {
	left := cl.NextUpdate.Sub(c.now)
	next := cl.NextUpdate.UTC().Format(time.RFC3339)
	fix := "run wsca crl now, and from cron or the systemd timer (docs/operations.md)"
	if what == "root" && !c.exists(cadir.RootKeyFile) {
		fix = "copy the root key back as " + c.file(cadir.RootKeyFile) + ", run wsca crl, then remove it again"
	}
	switch {
	case cl.ThisUpdate.After(c.now.Add(crl.MaxClockSkew)):
		c.add(SeverityError, CheckCRLExpiry, "check the clocks of this machine and of the one that ran wsca crl",
			"the %s CRL's thisUpdate %s is in the future: servers treat it as not yet valid", what,
			cl.ThisUpdate.UTC().Format(time.RFC3339))
	case left <= 0:
		c.add(SeverityError, CheckCRLExpiry, fix, "the %s CRL in %s expired %s ago (nextUpdate %s): Apache, nginx and "+
			"wsca serve reject every client certificate until a new CRL is published", what, c.file(cadir.CRLFile),
			days(-left), next)
	case left < CRLExpiryWarning:
		c.add(SeverityWarning, CheckCRLExpiry, fix, "the %s CRL expires in %s (nextUpdate %s): if it is not renewed, "+
			"servers reject every client certificate after that", what, days(left), next)
	case what == "root" && left < cadir.RootCRLWarnWindow && !c.exists(cadir.RootKeyFile):
		c.add(SeverityWarning, CheckCRLExpiry, fix, "the root CRL expires in %s (nextUpdate %s) and the root key is "+
			"offline: wsca crl cannot renew it", days(left), next)
	default:
		c.add(SeverityOK, CheckCRLExpiry, "", "the %s CRL is valid for %s more (nextUpdate %s)", what, days(left), next)
	}
}

// checkRootCRLFile checks root-crl.pem, which wsca crl reuses while the root key is offline.
func (c *checker) checkRootCRLFile() {
	p := c.file(cadir.RootCRLFile)
	data, err := os.ReadFile(p)
	if err != nil || c.root == nil {
		return // a missing file was reported by checkFiles
	}
	crls, err := crl.Parse(data, []*x509.Certificate{c.root})
	if err != nil || len(crls) != 1 {
		if err == nil {
			err = fmt.Errorf("it holds %d CRLs, want 1", len(crls))
		}
		sev := SeverityWarning
		if !c.exists(cadir.RootKeyFile) {
			sev = SeverityError // wsca crl has no other source for the root's CRL
		}
		c.add(sev, CheckRootCRLFile, "with the root key in the directory, run wsca crl: it re-signs it",
			"%s is not a CRL of the root CA: %v", p, err)
	}
}

// checkDBCRL compares the revocations recorded in the database with the CRLs in crl.pem: every revoked,
// unexpired certificate must be listed, and every listed serial must be revoked in the database.
func (c *checker) checkDBCRL(st *store.Store) {
	ok := true
	if c.crls.inter != nil {
		ok = c.compareScope(st, cadir.ScopeIntermediate, c.crls.inter) && ok
	}
	if c.crls.root != nil {
		ok = c.compareScope(st, cadir.ScopeRoot, c.crls.root) && ok
	}
	if ok && (c.crls.inter != nil || c.crls.root != nil) {
		c.add(SeverityOK, CheckDBCRL, "", "crl.pem lists exactly the revoked, unexpired certificates of the database")
	}
}

func (c *checker) compareScope(st *store.Store, scope string, cl *crl.CRL) bool {
	listed := make(map[string]crl.Revoked, cl.Revoked.Len())
	for serial, r := range cl.Revoked.All() {
		listed[ca.SerialHex(new(big.Int).SetBytes(serial))] = r
	}
	var unpublished, dropped, reasons []string
	name := func(serial *big.Int) string {
		if rec, err := st.Get(serial); err == nil {
			return fmt.Sprintf("%s (serial %s)", rec.Name, ca.SerialText(serial))
		}
		return "serial " + ca.SerialText(serial)
	}
	err := st.ForEachRevokedEntry(scope, func(serial *big.Int, at time.Time, reason store.Reason, notAfter time.Time) error {
		key := ca.SerialHex(serial)
		r, inCRL := listed[key]
		delete(listed, key)
		switch {
		case !inCRL && !notAfter.After(c.now):
			// RFC 5280 §3.3: an expired certificate may leave the CRL; wsca crl drops it.
		case !inCRL && at.Truncate(time.Second).Before(cl.ThisUpdate):
			dropped = append(dropped, name(serial))
		case !inCRL:
			unpublished = append(unpublished, name(serial))
		case r.Reason != int(reason):
			reasons = append(reasons, fmt.Sprintf("%s: %s in the database, %s in crl.pem", name(serial), reason,
				crl.ReasonString(r.Reason)))
		}
		return nil
	})
	if err != nil {
		c.add(SeverityError, CheckDBOpen, "", "reading the revocations: %v", err)
		return false
	}
	good := true
	what := scope + " CRL"
	if len(unpublished) > 0 {
		good = false
		c.add(SeverityWarning, CheckDBCRL, "run wsca crl to publish them",
			"%d revocation(s) recorded in the database are not yet published in the %s: %s — servers still accept them",
			len(unpublished), what, list(unpublished))
	}
	if len(dropped) > 0 {
		good = false
		c.add(SeverityError, CheckDBCRL, "run wsca crl; if crl.pem was restored or copied from elsewhere, find out why",
			"the %s was made after these revocations but does not list them: %s", what, list(dropped))
	}
	if len(reasons) > 0 {
		good = false
		c.add(SeverityWarning, CheckDBCRL, "run wsca crl", "revocation reasons differ between the database and the %s: %s",
			what, list(reasons))
	}
	var lifted, unknown []string
	for key := range listed {
		serial, _ := new(big.Int).SetString(key, 16)
		rec, err := st.Get(serial)
		switch {
		case errors.Is(err, store.ErrNotFound):
			unknown = append(unknown, "serial "+ca.SerialText(serial))
		case err == nil && rec.Revocation == nil:
			lifted = append(lifted, name(serial))
		}
	}
	if len(lifted) > 0 {
		good = false
		c.add(SeverityWarning, CheckDBCRL, "run wsca crl to publish the change",
			"the %s still lists certificates that are no longer revoked in the database (hold lifted): %s — servers "+
				"still refuse them", what, list(lifted))
	}
	if len(unknown) > 0 {
		good = false
		c.add(SeverityError, CheckDBCRL, "check that crl.pem and wsca.db come from the same CA and the same backup; "+
			"wsca crl rewrites crl.pem from the database",
			"the %s lists serials the database does not know: %s", what, list(unknown))
	}
	return good
}

// list joins up to five items and says how many more there are.
func list(items []string) string {
	const max = 5
	if len(items) <= max {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:max], ", ") + fmt.Sprintf(" and %d more", len(items)-max)
}
