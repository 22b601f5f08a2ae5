package doctor

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
)

// Thresholds of the directory checks.
const (
	// CAExpiryWarning: a CA certificate with less life left than this is a warning. Leaves must end before their
	// issuer (ca.ErrOutlivesIssuer), so a month before the end `wsca issue` with the default year already fails.
	CAExpiryWarning = 30 * 24 * time.Hour
	// CAExpiryError: with less than this left, the CA certificate is an error: clients break within days.
	CAExpiryError = 7 * 24 * time.Hour
	// CRLExpiryWarning: a CRL this close to its nextUpdate is a warning. Servers that honour nextUpdate (Apache,
	// nginx, wsca serve) reject every client once it passes, so two days is the last moment to notice a dead cron.
	CRLExpiryWarning = 2 * 24 * time.Hour
	// DefaultLockTimeout is how long Check waits for the database lock held by another wsca process.
	DefaultLockTimeout = 2 * time.Second
)

// CheckOptions are Check's dependencies.
type CheckOptions struct {
	// Passphrase returns the CA key passphrase. Nil: encrypted keys are not opened, and the key/certificate match
	// is reported as skipped (info). Check never prompts.
	Passphrase func() ([]byte, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// LockTimeout bounds the wait for the database lock (default DefaultLockTimeout).
	LockTimeout time.Duration
}

// checker accumulates the findings of one Check run.
type checker struct {
	dir      string
	opts     CheckOptions
	now      time.Time
	findings []Finding

	root, inter *x509.Certificate
	// single: root.crt and intermediate.crt are one certificate, the layout `wsca import` makes for a CA
	// that is its own root (see cadir.Dir.SingleCA): no root.key, no root-crl.pem, ca.crt and crl.pem once.
	single    bool
	pass      []byte
	passErr   error
	passAsked bool
	crls      parsedCRLs
}

func (c *checker) add(sev Severity, check, fix, format string, args ...any) {
	c.findings = append(c.findings, Finding{Severity: sev, Check: check, Message: fmt.Sprintf(format, args...), Fix: fix})
}

func (c *checker) file(name string) string { return filepath.Join(c.dir, name) }

// rebuildCertFix is the fix for a missing or damaged root.crt or intermediate.crt: the database keeps every
// certificate it issued, the CA certificates included (named root and intermediate), so one command rebuilds
// the file; a backup is needed only when wsca.db is lost too.
func (c *checker) rebuildCertFix(name string) string {
	record := "root"
	if name == cadir.IntermediateCertFile {
		record = "intermediate"
	}
	fix := fmt.Sprintf("rebuild it from the database: wsca show %s --pem --dir %s > %s", record, c.dir, c.file(name))
	if record == "intermediate" {
		fix += " (after a renewed intermediate it prints each: keep the last)"
	}
	return fix
}

// Check inspects the CA directory dir and returns its findings in a fixed order: directory, files and modes,
// CA certificates, keys, crl.pem, then the database. It never fails: a check that cannot run is itself a finding
// (for example "skipped: no passphrase" as info, a locked database as a warning). It reads files and opens the
// database read-only; it changes nothing.
func Check(dir string, opts CheckOptions) []Finding {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = DefaultLockTimeout
	}
	c := &checker{dir: filepath.Clean(dir), opts: opts, now: opts.Now().UTC()}
	if !c.checkDir() {
		return c.findings
	}
	c.single = (&cadir.Dir{Path: c.dir}).SingleCA()
	c.checkSwap()
	c.checkFiles()
	c.checkModes()
	c.checkCerts()
	c.checkKeys()
	c.checkCRLFile()
	if !c.single {
		c.checkRootCRLFile()
	}
	c.checkDB()
	return c.findings
}

// checkDir reports whether the directory exists and holds a CA, and checks its mode.
func (c *checker) checkDir() bool {
	st, err := os.Stat(c.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.add(SeverityError, CheckDir, "run wsca init, or point --dir (or WSCA_DIR) at the CA directory",
			"%s does not exist", c.dir)
		return false
	case err != nil:
		c.add(SeverityError, CheckDir, "", "cannot read %s: %v", c.dir, err)
		return false
	case !st.IsDir():
		c.add(SeverityError, CheckDir, "point --dir (or WSCA_DIR) at the CA directory", "%s is not a directory", c.dir)
		return false
	}
	d := cadir.Dir{Path: c.dir}
	if !d.Initialized() {
		c.add(SeverityError, CheckDir, "run wsca init, or point --dir (or WSCA_DIR) at the CA directory",
			"%s holds no CA (no %s, %s or %s)", c.dir, cadir.RootCertFile, cadir.IntermediateCertFile, cadir.DBFile)
		return false
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		c.add(SeverityWarning, CheckDirMode, "chmod 700 "+c.dir,
			"%s has mode %04o: other users can list it (wsca creates it 0700)", c.dir, perm)
	} else {
		c.add(SeverityOK, CheckDirMode, "", "%s has mode %04o", c.dir, perm)
	}
	return true
}

func (c *checker) exists(name string) bool {
	_, err := os.Lstat(c.file(name))
	return err == nil
}

func (c *checker) checkFiles() {
	var missing []string
	for _, f := range []string{cadir.RootCertFile, cadir.IntermediateCertFile, cadir.IntermediateKeyFile,
		cadir.BundleFile, cadir.CRLFile, cadir.DBFile} {
		if !c.exists(f) {
			missing = append(missing, f)
		}
	}
	for _, f := range missing {
		fix := "restore it from a backup"
		switch f {
		case cadir.RootCertFile, cadir.IntermediateCertFile:
			fix = c.rebuildCertFix(f)
		case cadir.CRLFile:
			fix = "run wsca crl"
		case cadir.BundleFile:
			fix = c.bundleFix()
		}
		c.add(SeverityError, CheckFiles, fix, "%s is missing", c.file(f))
	}
	if len(missing) == 0 {
		c.add(SeverityOK, CheckFiles, "", "%s, %s, %s, %s, %s and %s are present", cadir.RootCertFile,
			cadir.IntermediateCertFile, cadir.IntermediateKeyFile, cadir.BundleFile, cadir.CRLFile, cadir.DBFile)
	}
	if c.single {
		c.add(SeverityInfo, CheckFiles, "", "single-CA directory (imported): %s is its own root and %s its key; "+
			"there is no %s or %s, and %s holds one CRL", cadir.IntermediateCertFile, cadir.IntermediateKeyFile,
			cadir.RootKeyFile, cadir.RootCRLFile, cadir.CRLFile)
		return
	}
	rootKey := c.exists(cadir.RootKeyFile)
	if !rootKey {
		c.add(SeverityInfo, CheckFiles, "", "%s is not in the directory: the root key is offline (wsca crl reuses %s)",
			cadir.RootKeyFile, cadir.RootCRLFile)
	}
	if !c.exists(cadir.RootCRLFile) {
		if rootKey {
			c.add(SeverityInfo, CheckFiles, "", "%s is missing; wsca crl re-signs it with the root key", cadir.RootCRLFile)
		} else {
			c.add(SeverityError, CheckFiles, "copy the root key back as "+c.file(cadir.RootKeyFile)+", run wsca crl, remove it again",
				"%s is missing and the root key is offline: wsca crl cannot produce the root's CRL", cadir.RootCRLFile)
		}
	}
}

// secretFile reports whether a file in the CA directory holds a private key: CA keys, and the NAME.key and
// NAME.p12 that wsca issue --out DIR writes.
func secretFile(name string) bool {
	return strings.HasSuffix(name, ".key") || strings.HasSuffix(name, ".p12") || strings.HasSuffix(name, ".pfx")
}

func (c *checker) checkModes() {
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		c.add(SeverityError, CheckKeyMode, "", "cannot list %s: %v", c.dir, err)
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || !(secretFile(name) || name == cadir.DBFile) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		perm, p := info.Mode().Perm(), c.file(name)
		if name == cadir.DBFile {
			if perm&0o077 != 0 {
				c.add(SeverityWarning, CheckDBMode, "chmod 600 "+p,
					"%s has mode %04o: other users can read every issued certificate and the audit log", p, perm)
			}
			continue
		}
		switch {
		case perm&0o004 != 0:
			c.add(SeverityError, CheckKeyMode, "chmod 600 "+p+" (and treat the key as exposed: for a CA key, plan a new CA)",
				"%s is world-readable (mode %04o): every local user can copy the private key", p, perm)
		case perm&0o077 != 0:
			c.add(SeverityWarning, CheckKeyMode, "chmod 600 "+p,
				"%s has mode %04o: group members can read or change the private key", p, perm)
		default:
			c.add(SeverityOK, CheckKeyMode, "", "%s has mode %04o", p, perm)
		}
	}
}

// readCerts parses a PEM certificate file strictly; it reports a finding and returns nil on failure.
func (c *checker) readCerts(name string) []*x509.Certificate {
	data, err := os.ReadFile(c.file(name))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // missing files were reported by checkFiles
			c.add(SeverityError, CheckCertParse, "", "cannot read %s: %v", c.file(name), err)
		}
		return nil
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		c.add(SeverityError, CheckCertParse, c.rebuildCertFix(name), "%s: %v", c.file(name), err)
		return nil
	}
	return certs
}

func (c *checker) checkCerts() {
	if certs := c.readCerts(cadir.RootCertFile); certs != nil {
		c.root = certs[0]
		if !bytes.Equal(c.root.RawIssuer, c.root.RawSubject) || c.root.CheckSignatureFrom(c.root) != nil {
			c.add(SeverityError, CheckCertChain, c.rebuildCertFix(cadir.RootCertFile),
				"%s (%s) is not a self-signed root certificate", c.file(cadir.RootCertFile), c.root.Subject)
			c.root = nil
		}
	}
	if certs := c.readCerts(cadir.IntermediateCertFile); certs != nil {
		c.inter = certs[0]
	}
	if c.root != nil && c.inter != nil {
		if err := c.inter.CheckSignatureFrom(c.root); err != nil {
			c.add(SeverityError, CheckCertChain, "restore intermediate.crt and root.crt of the same CA from a backup",
				"%s (%s) is not signed by %s (%s): %v", c.file(cadir.IntermediateCertFile), c.inter.Subject,
				c.file(cadir.RootCertFile), c.root.Subject, err)
		} else {
			c.add(SeverityOK, CheckCertChain, "", "%s is signed by %s", c.inter.Subject, c.root.Subject)
		}
		c.checkBundle()
	}
	if c.single {
		c.checkCAExpiry("single (root and issuing)", c.root)
		return
	}
	for _, cc := range []struct {
		what string
		cert *x509.Certificate
	}{{"root", c.root}, {"intermediate", c.inter}} {
		if cc.cert != nil {
			c.checkCAExpiry(cc.what, cc.cert)
		}
	}
}

func (c *checker) checkCAExpiry(what string, cert *x509.Certificate) {
	left := cert.NotAfter.Sub(c.now)
	end := cert.NotAfter.UTC().Format(time.DateOnly)
	fix := "plan the replacement now: create a new CA (wsca init --dir NEW), issue new certificates from it, " +
		"and trust both CAs on the servers during the switch"
	switch {
	case c.now.Before(cert.NotBefore):
		c.add(SeverityError, CheckCertExpiry, "check the system clock", "the %s CA certificate %s is not valid before %s",
			what, cert.Subject, cert.NotBefore.UTC().Format(time.RFC3339))
	case left <= 0:
		c.add(SeverityError, CheckCertExpiry, fix, "the %s CA certificate %s expired on %s: no client certificate verifies",
			what, cert.Subject, end)
	case left < CAExpiryError:
		c.add(SeverityError, CheckCertExpiry, fix, "the %s CA certificate %s expires in %s (%s): every certificate it "+
			"verifies stops working then, and new ones can only be issued for less than that", what, cert.Subject, days(left), end)
	case left < CAExpiryWarning:
		c.add(SeverityWarning, CheckCertExpiry, fix, "the %s CA certificate %s expires in %s (%s), within %d days: "+
			"certificates it issues must end before then (wsca issue --days)", what, cert.Subject, days(left), end,
			int(CAExpiryWarning.Hours()/24))
	default:
		c.add(SeverityOK, CheckCertExpiry, "", "the %s CA certificate expires in %s (%s)", what, days(left), end)
	}
}

// days renders a duration as whole days, or hours under two days.
func days(d time.Duration) string {
	if d < 2*time.Hour {
		if m := int(d.Minutes()); m != 1 {
			return fmt.Sprintf("%d minutes", m)
		}
		return "1 minute"
	}
	if d < 48*time.Hour {
		h := int(d.Hours())
		if h == 1 {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d days", int(math.Round(d.Hours()/24)))
}
