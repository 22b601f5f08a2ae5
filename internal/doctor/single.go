package doctor

import (
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// CheckImportedEKU is the check id of imported client certificates without an explicit clientAuth EKU.
const CheckImportedEKU = "cert.eku"

// maxListed bounds the names one finding lists.
const maxListed = 10

// bundleFix is the command that rewrites ca.crt: the intermediate then the root, or the one certificate of a
// single-CA directory (listing it twice would be harmless to servers but is not what wsca writes).
func (c *checker) bundleFix() string {
	if c.single {
		return fmt.Sprintf("cp %s %s", c.file(cadir.IntermediateCertFile), c.file(cadir.BundleFile))
	}
	return fmt.Sprintf("cat %s %s > %s", c.file(cadir.IntermediateCertFile), c.file(cadir.RootCertFile), c.file(cadir.BundleFile))
}

// checkBundle checks that ca.crt holds intermediate.crt then root.crt, or, in a single-CA directory, the CA
// certificate once.
func (c *checker) checkBundle() {
	bundle := c.readCerts(cadir.BundleFile)
	if bundle == nil {
		return
	}
	want := []*x509.Certificate{c.inter, c.root}
	what := "intermediate.crt then root.crt"
	if c.single {
		want, what = want[:1], "the CA certificate once (single-CA directory)"
	}
	ok := len(bundle) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = bundle[i].Equal(want[i])
	}
	if ok {
		return
	}
	var names []string
	for _, b := range bundle {
		names = append(names, b.Subject.String())
	}
	c.add(SeverityError, CheckCertChain, c.bundleFix(), "%s must hold %s (what Apache, nginx and wsca serve trust), but holds: %s",
		c.file(cadir.BundleFile), what, strings.Join(names, "; "))
}

// checkImportedEKU lists the imported client certificates that carry no explicit clientAuth extended key usage.
// Only imported records are parsed (wsca's own always carry clientAuth), so a large CA costs one decode per record.
func (c *checker) checkImportedEKU(st *store.Store) {
	var names []string
	n := 0
	err := st.ForEach(func(r store.Record) error {
		if r.Kind != ca.KindClient || !strings.HasPrefix(r.IssuedBy, cadir.ImportedBy) || r.Revocation != nil || !r.NotAfter.After(c.now) {
			return nil
		}
		cert, err := x509.ParseCertificate(r.DER)
		if err != nil || !cadir.WithoutClientAuthEKU(cert) {
			return nil
		}
		n++
		if len(names) < maxListed {
			names = append(names, fmt.Sprintf("%q (serial %s)", r.Name, ca.SerialHex(r.Serial)))
		}
		return nil
	})
	if err != nil {
		c.add(SeverityError, CheckDBOpen, "", "reading %s: %v", c.file(cadir.DBFile), err)
		return
	}
	if n == 0 {
		return
	}
	more := ""
	if n > len(names) {
		more = fmt.Sprintf(" and %d more", n-len(names))
	}
	c.add(SeverityWarning, CheckImportedEKU, "renew them with wsca issue NAME --renew (wsca's client certificates carry clientAuth only)",
		"%d imported client certificate(s) have no explicit clientAuth extended key usage, so Go and OpenSSL accept them "+
			"for any purpose (also as a server certificate): %s%s", n, strings.Join(names, ", "), more)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// CheckRestore is the check id of an interrupted wsca restore.
const CheckRestore = "restore"

// checkSwap reports a restore that was killed: after its commit point (the journal exists) the directory
// mixes old and new files until a wsca command that opens the database finishes it; before it, a staging
// copy of the new CA (keys included, encrypted) waits to be removed. Doctor only reads, so it names the fix.
func (c *checker) checkSwap() {
	if c.exists(cadir.SwapJournal) {
		c.add(SeverityError, CheckRestore, "run wsca list: it finishes the restore before reading the CA",
			"a wsca restore was interrupted after its commit point (%s): the directory holds part of the old and "+
				"part of the new CA until it is finished", c.file(cadir.SwapJournal))
		return
	}
	if stale, _ := filepath.Glob(filepath.Join(c.dir, cadir.StagingPrefix+"*")); len(stale) > 0 {
		c.add(SeverityWarning, CheckRestore, "run wsca list: it removes the staging copy (or rm -r it)",
			"%s is the staging copy of a wsca restore that was interrupted before its commit point: the CA "+
				"is the old one, and the copy holds the backup's (encrypted) keys", stale[0])
	}
}
