package doctor

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// CheckCRLTargets is the check id of the copy targets: each registered copy of crl.pem (wsca crl --copy-to)
// holds exactly crl.pem's bytes. A stale copy is what a relay or web server enforces: a revocation missing
// from it admits the revoked client.
const CheckCRLTargets = "crl.targets"

// checkCRLTargets compares every registered copy target with crl.pem.
func (c *checker) checkCRLTargets(st *store.Store) {
	paths, err := st.CRLTargets()
	if err != nil {
		c.add(SeverityError, CheckDBOpen, "", "reading the copy targets from %s: %v", c.file(cadir.DBFile), err)
		return
	}
	if len(paths) == 0 || !c.exists(cadir.CRLFile) {
		return // no targets; a missing crl.pem is reported by checkFiles
	}
	stale := 0
	for _, p := range paths {
		same, err := cadir.CompareTarget(c.file(cadir.CRLFile), p)
		switch {
		case err != nil:
			c.add(SeverityWarning, CheckCRLTargets, "", "cannot compare %s with crl.pem: %v", p, err)
		case same:
			continue
		case !fileExists(p):
			stale++
			c.add(SeverityError, CheckCRLTargets, "create "+filepath.Dir(p)+" if needed and run wsca crl (or forget the "+
				"target: see wsca crl --help)", "copy target %s is missing: whatever reads it has no current CRL", p)
		default:
			stale++
			c.add(SeverityError, CheckCRLTargets, "run wsca crl: it refreshes every copy target (if this comes back, "+
				"something else writes the file: a sync job or a restore)",
				"copy target %s differs from crl.pem: a server reading it may admit revoked certificates", p)
		}
	}
	if stale == 0 {
		c.add(SeverityOK, CheckCRLTargets, "", "%s holding the same bytes as crl.pem", targetCount(len(paths)))
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func targetCount(n int) string {
	if n == 1 {
		return "1 copy target is"
	}
	return fmt.Sprintf("%d copy targets are", n)
}
