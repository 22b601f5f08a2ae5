package doctor

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// checkDB opens wsca.db read-only and checks it: not behind its anchor, its records agreeing with the certificate
// files and crl.pem, its copy targets, and its audit log's hash chain.
func (c *checker) checkDB() {
	p := c.file(cadir.DBFile)
	if !c.exists(cadir.DBFile) {
		return // reported by checkFiles
	}
	st, err := store.Open(p, store.Options{Timeout: c.opts.LockTimeout, ReadOnly: true})
	switch {
	case errors.Is(err, store.ErrLocked):
		c.add(SeverityWarning, CheckDBOpen, "run wsca doctor again when the other command has finished",
			"%s is locked by another wsca process: database checks skipped", p)
		return
	case errors.Is(err, store.ErrRolledBack):
		c.add(SeverityError, CheckDBRollback, "restore wsca.db from the latest backup and redo what was lost; to accept the "+
			"loss, move "+store.AnchorPath(p)+" aside (docs/operations.md)", "%v", err)
		return
	case err != nil:
		c.add(SeverityError, CheckDBOpen, "restore wsca.db from a backup (wsca backup makes one)", "cannot open %s: %v", p, err)
		return
	}
	defer st.Close()
	if msg, err := st.MetaPageDamage(); err != nil || msg != "" {
		c.add(SeverityError, CheckDBRollback, "compare wsca audit with your latest backup; the next write overwrites the damaged page",
			"%s: %s%v", p, msg, errText(err))
	} else if _, err := os.Stat(store.AnchorPath(p)); err != nil {
		c.add(SeverityInfo, CheckDBRollback, "", "%s has no anchor yet (a CA from an older wsca): the next wsca command that writes creates %s",
			p, filepath.Base(store.AnchorPath(p)))
	} else {
		c.add(SeverityOK, CheckDBRollback, "", "%s is at or ahead of its anchor %s, and both bbolt meta pages are intact", p, filepath.Base(store.AnchorPath(p)))
	}
	c.checkDBCerts(st)
	c.checkImportedEKU(st)
	c.checkDBCRL(st)
	c.checkCRLTargets(st)
	c.checkOCSPSigner(st)
	if err := st.VerifyAudit(); err != nil {
		c.add(SeverityError, CheckDBAudit, "compare with a backup to find what was changed",
			"the audit log's hash chain is broken: %v", err)
	} else {
		c.add(SeverityOK, CheckDBAudit, "", "the audit log's hash chain is intact")
	}
}

// checkDBCerts checks that the CA certificates, and any certificate of this CA stored in the directory, are the
// ones recorded in the database.
func (c *checker) checkDBCerts(st *store.Store) {
	bad := 0
	for _, cc := range []struct {
		file string
		kind ca.Kind
		cert *x509.Certificate
	}{{cadir.RootCertFile, ca.KindRoot, c.root}, {cadir.IntermediateCertFile, ca.KindIntermediate, c.inter}} {
		if cc.cert == nil || (c.single && cc.kind == ca.KindIntermediate) { // single: one certificate, recorded as the root
			continue
		}
		rec, err := st.Get(cc.cert.SerialNumber)
		switch {
		case errors.Is(err, store.ErrNotFound):
			bad++
			c.add(SeverityError, CheckDBCerts, "restore the CA files and wsca.db of the same CA from one backup",
				"%s (serial %s) is not in the database: the certificate files and wsca.db belong to different CAs",
				c.file(cc.file), ca.SerialText(cc.cert.SerialNumber))
		case err != nil:
			bad++
			c.add(SeverityError, CheckDBOpen, "", "reading %s: %v", c.file(cadir.DBFile), err)
		case !bytes.Equal(rec.DER, cc.cert.Raw) || rec.Kind != cc.kind:
			bad++
			c.add(SeverityError, CheckDBCerts, "restore the CA files and wsca.db of the same CA from one backup",
				"%s differs from the %s certificate recorded under serial %s", c.file(cc.file), rec.Kind,
				ca.SerialText(cc.cert.SerialNumber))
		}
	}
	leaves := 0
	for _, name := range c.leafCertFiles() {
		data, err := os.ReadFile(c.file(name))
		if err != nil {
			continue
		}
		certs, err := ca.ParseCertificates(data)
		if err != nil || c.inter == nil || certs[0].CheckSignatureFrom(c.inter) != nil {
			continue // not a certificate of this CA
		}
		leaves++
		rec, err := st.Get(certs[0].SerialNumber)
		switch {
		case errors.Is(err, store.ErrNotFound):
			bad++
			c.add(SeverityError, CheckDBCerts, "find out who issued it; revoke it with wsca revoke SERIAL is impossible "+
				"without a record: restore wsca.db from the backup that has it",
				"%s (%s, serial %s) was signed by this CA but is not in the database", c.file(name), certs[0].Subject,
				ca.SerialText(certs[0].SerialNumber))
		case err == nil && !bytes.Equal(rec.DER, certs[0].Raw):
			bad++
			c.add(SeverityError, CheckDBCerts, "restore wsca.db from a backup",
				"%s differs from the certificate recorded under serial %s", c.file(name), ca.SerialText(certs[0].SerialNumber))
		}
	}
	if bad == 0 {
		msg := "root.crt and intermediate.crt are the certificates recorded in the database"
		if leaves > 0 {
			msg += fmt.Sprintf(", and so are the %d certificate files of this CA in the directory", leaves)
		}
		c.add(SeverityOK, CheckDBCerts, "", "%s", msg)
	}
}
