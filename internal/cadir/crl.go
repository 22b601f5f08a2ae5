package cadir

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/big"
	"os"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// CRL defaults. The root CRL lives long because the root key may be offline for months; the intermediate
// CRL is short so a revocation reaches every server within a week even if cron stops.
const (
	DefaultCRLValidity     = 7 * 24 * time.Hour
	DefaultRootCRLValidity = 365 * 24 * time.Hour
	// RootCRLWarnWindow is how close to its nextUpdate a root CRL that cannot be re-signed makes wsca crl warn.
	RootCRLWarnWindow = 30 * 24 * time.Hour
	// DefaultDueFraction: with --if-due, a CRL is regenerated once this fraction of its validity has passed.
	DefaultDueFraction = 0.5
)

// CRL scopes in the database: which CA signs the CRL.
const (
	ScopeIntermediate = "intermediate"
	ScopeRoot         = "root"
)

// SettingCRLURL is the database setting holding the CRL distribution point URL given at init.
const SettingCRLURL = "crl_url"

// CRLOptions controls GenerateCRL.
type CRLOptions struct {
	Validity     time.Duration // intermediate CRL validity; default DefaultCRLValidity
	RootValidity time.Duration // root CRL validity when re-signed; default DefaultRootCRLValidity
	IfDue        bool          // skip unless a revocation happened since, or DueFraction of the validity passed
	DueFraction  float64       // default DefaultDueFraction
	Out          string        // where to write; default crl.pem in the directory
	DER          bool          // write the intermediate's CRL alone, DER-encoded
	// CopyTo are paths registered as copy targets before the run (store.AddCRLTarget): from then on this and
	// every later run keeps them byte-identical to crl.pem. Not with Out or DER: a target mirrors crl.pem.
	CopyTo []string

	// issuer is the intermediate when the caller has already opened its key (wsca revoke checks the
	// passphrase before changing anything); zero means load it.
	issuer ca.Authority
}

// CRLResult describes what GenerateCRL did.
type CRLResult struct {
	Skipped      bool // IfDue was set and nothing was due
	Path         string
	Number       *big.Int
	Entries      int
	ThisUpdate   time.Time
	NextUpdate   time.Time
	RootResigned bool
	RootNumber   *big.Int
	RootNext     time.Time
	Warnings     []string // things the admin must see even when the run succeeds
	// Targets is what the run did to each registered copy target (refreshed, already current, or failed).
	Targets []TargetResult
	// NewTargets are the paths of CopyTo that were not registered before.
	NewTargets []string
}

// GenerateCRL regenerates crl.pem: the intermediate's CRL followed by the root's CRL, so servers that
// check the whole chain (Apache SSLCARevocationCheck chain, nginx ssl_crl, openssl -crl_check_all) find
// one for each CA. The root CRL is re-signed only when it is due or an intermediate was revoked, and only
// if the root key is present; otherwise the stored root-crl.pem is reused, with a warning as it nears its
// nextUpdate. CRL numbers are committed to the database before a CRL is signed, so they never repeat, and
// the file is replaced atomically, so readers never see half of it and a failure leaves the old one.
//
// Every run, even one that --if-due skips, then refreshes each registered copy target whose content differs
// from crl.pem. A target that cannot be written does not stop the others: GenerateCRL then returns its result
// together with a *TargetsError.
//
// The run has three steps: plan the root CRL (planRootCRL, then skipIfCurrent for --if-due), sign
// (rootCRL, then the intermediate's), publish (publishCRL, then the copy targets).
func (d *Dir) GenerateCRL(opt CRLOptions) (*CRLResult, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	out := opt.Out
	if out == "" {
		out = d.File(CRLFile)
	}
	copyTo, err := d.targetPaths(opt, out)
	if err != nil {
		return nil, err
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	now := d.now()
	res := &CRLResult{Path: out}
	if res.NewTargets, err = d.registerTargets(st, copyTo); err != nil {
		return nil, err
	}

	plan, err := d.planRootCRL(st, now, opt.DueFraction)
	if err != nil {
		return nil, err
	}
	if skipIfCurrent(plan, opt, out, now, res) {
		return res, d.syncTargets(st, res)
	}

	inter := opt.issuer
	if inter.Key == nil {
		if inter, err = d.Intermediate(); err != nil {
			return nil, err
		}
	}
	g := &crlGen{d: d, st: st, now: now}
	rootDER, err := d.rootCRL(g, plan, opt.RootValidity, res)
	if err != nil {
		return nil, err
	}
	interCRL, err := g.signTo(ScopeIntermediate, inter, opt.Validity)
	if err != nil {
		return nil, err
	}
	res.Number, res.Entries, res.ThisUpdate, res.NextUpdate = g.lastNumber, g.lastEntries, now, now.Add(opt.Validity)

	if err := d.publishCRL(g, out, opt.DER, interCRL, rootDER, res); err != nil {
		return nil, err
	}
	return res, d.syncTargets(st, res)
}

// withDefaults fills the zero fields of opt with the defaults and refuses a validity under a minute.
func (opt CRLOptions) withDefaults() (CRLOptions, error) {
	if opt.Validity == 0 {
		opt.Validity = DefaultCRLValidity
	}
	if opt.RootValidity == 0 {
		opt.RootValidity = DefaultRootCRLValidity
	}
	if opt.DueFraction == 0 {
		opt.DueFraction = DefaultDueFraction
	}
	if opt.Validity < time.Minute {
		return opt, fmt.Errorf("CRL validity %s is too short (minimum 1m)", opt.Validity)
	}
	return opt, nil
}

// rootCRLPlan is what a GenerateCRL run knows about the two CRLs before it signs anything.
type rootCRLPlan struct {
	inter store.CRLState // the intermediate's last published CRL
	// single: the CA is its own root (see SingleCA); crl.pem holds its one CRL and there is no root CRL.
	single    bool
	stored    *crl.CRL // root-crl.pem, when storedErr is nil
	storedErr error    // why root-crl.pem cannot be used
	root      store.CRLState
	due       bool // the root CRL must be re-signed: unusable, older than a CA revocation, or past DueFraction
}

// planRootCRL reads the CRL states and root-crl.pem and decides whether the root CRL is due. It changes
// nothing; only a database error is returned (an unusable root-crl.pem is recorded in the plan).
func (d *Dir) planRootCRL(st *store.Store, now time.Time, fraction float64) (rootCRLPlan, error) {
	var p rootCRLPlan
	var err error
	if p.inter, err = st.CRLState(ScopeIntermediate); err != nil {
		return p, err
	}
	// A CA imported from openssl or easy-rsa may be its own root (see SingleCA): then crl.pem holds its one
	// CRL, and there is no root CRL to keep.
	if p.single = d.SingleCA(); p.single {
		return p, nil
	}
	p.stored, p.storedErr = d.storedRootCRL()
	if p.root, err = st.CRLState(ScopeRoot); err != nil {
		return p, err
	}
	p.due = p.storedErr != nil || p.root.LastChange.After(p.stored.ThisUpdate) ||
		due(now, p.stored.ThisUpdate, p.stored.NextUpdate, fraction)
	return p, nil
}

// skipIfCurrent reports whether an --if-due run has nothing to do: the root CRL is not due, out exists,
// and the intermediate's CRL has no revocation since it was signed and is not past DueFraction. It then
// fills res with the current CRL's number and dates and marks it Skipped.
func skipIfCurrent(p rootCRLPlan, opt CRLOptions, out string, now time.Time, res *CRLResult) bool {
	if !opt.IfDue || p.due {
		return false
	}
	if _, err := os.Stat(out); err != nil {
		return false
	}
	s := p.inter
	if s.Number == nil || s.LastChange.After(s.ThisUpdate) || due(now, s.ThisUpdate, s.NextUpdate, opt.DueFraction) {
		return false
	}
	res.Skipped = true
	res.Number, res.ThisUpdate, res.NextUpdate = s.Number, s.ThisUpdate, s.NextUpdate
	return true
}

// rootCRL returns the root CRL (DER) that follows the intermediate's in crl.pem, or nil for a single CA.
// A due root CRL is re-signed when the root key is present, written to root-crl.pem and committed;
// otherwise the stored one is reused (reuseRootCRL), which fails with ErrRootKeyOffline when it is
// unusable or older than a CA revocation.
func (d *Dir) rootCRL(g *crlGen, p rootCRLPlan, validity time.Duration, res *CRLResult) ([]byte, error) {
	switch {
	case p.single:
		return nil, nil
	case p.due && d.RootKeyAvailable():
		return d.resignRootCRL(g, validity, res)
	case p.storedErr != nil:
		return nil, fmt.Errorf("no usable root CRL (%v) and the root key is not in %s: %w", p.storedErr, d.Path, ErrRootKeyOffline)
	default:
		return d.reuseRootCRL(p, g.now, res)
	}
}

// resignRootCRL signs a new root CRL, replaces root-crl.pem and commits its number, so that a later
// failure of the intermediate's CRL leaves a root CRL on disk that the database knows.
func (d *Dir) resignRootCRL(g *crlGen, validity time.Duration, res *CRLResult) ([]byte, error) {
	root, err := d.Root()
	if err != nil {
		return nil, err
	}
	rootDER, err := g.signRoot(root, validity)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(d.File(RootCRLFile), pemCRL(rootDER), 0o644); err != nil {
		return nil, err
	}
	if err := g.commit(); err != nil {
		return nil, err
	}
	res.RootResigned = true
	res.RootNumber, res.RootNext = g.lastNumber, g.now.Add(validity)
	return rootDER, nil
}

// reuseRootCRL returns the stored root CRL while the root key is offline. It refuses one signed before a
// CA revocation (it would hide the revoked intermediate) and warns when it has expired or expires within
// RootCRLWarnWindow.
func (d *Dir) reuseRootCRL(p rootCRLPlan, now time.Time, res *CRLResult) ([]byte, error) {
	stored := p.stored
	res.RootNumber, res.RootNext = stored.Number, stored.NextUpdate
	if p.root.LastChange.After(stored.ThisUpdate) {
		return nil, fmt.Errorf("a CA certificate was revoked after the root CRL was signed, and the root key is offline: "+
			"bring the root key back into %s and run wsca crl: %w", d.Path, ErrRootKeyOffline)
	}
	switch left := stored.NextUpdate.Sub(now); {
	case left <= 0:
		res.Warnings = append(res.Warnings, fmt.Sprintf("the root CRL expired at %s: servers checking the whole chain reject every client; bring the root key online and run wsca crl",
			stored.NextUpdate.Format(time.RFC3339)))
	case left < RootCRLWarnWindow:
		res.Warnings = append(res.Warnings, fmt.Sprintf("the root CRL expires in %d days (%s) and the root key is offline: bring it online and run wsca crl before then",
			int(left.Hours()/24), stored.NextUpdate.Format(time.RFC3339)))
	}
	return stored.Raw, nil
}

// publishCRL writes out atomically (the intermediate's CRL, then rootDER unless der), then commits the
// signed CRL numbers and appends the audit entry; res must already hold the intermediate's number and
// dates. The copy targets are the caller's next step.
func (d *Dir) publishCRL(g *crlGen, out string, der bool, interCRL *crl.Signed, rootDER []byte, res *CRLResult) error {
	// The intermediate's CRL is streamed into each file from its signed
	// pieces: at a million entries neither the DER nor the PEM (45 and
	// 60 MiB) is ever built as one buffer, and every file gets the same bytes.
	write := func(w io.Writer) error {
		if der {
			_, err := interCRL.WriteTo(w)
			return err
		}
		if _, err := interCRL.WritePEMTo(w); err != nil {
			return err
		}
		if rootDER != nil {
			_, err := w.Write(pemCRL(rootDER))
			return err
		}
		return nil
	}
	if err := atomicfile.WriteFunc(out, 0o644, write); err != nil {
		return err
	}
	if err := g.commit(); err != nil {
		return err
	}
	return g.st.AppendAudit(store.AuditEntry{Time: g.now, Action: store.ActionCRL, User: d.User,
		Detail: fmt.Sprintf("number %s, %d entries, next update %s", res.Number, res.Entries, res.NextUpdate.Format(time.RFC3339))})
}

// due reports whether a CRL valid from this to next is past fraction of its validity (or has no dates).
func due(now, this, next time.Time, fraction float64) bool {
	if this.IsZero() || next.IsZero() {
		return true
	}
	return !now.Before(this.Add(time.Duration(float64(next.Sub(this)) * fraction)))
}

// storedRootCRL parses root-crl.pem against the root certificate.
func (d *Dir) storedRootCRL() (*crl.CRL, error) {
	root, err := d.readCert(RootCertFile)
	if err != nil {
		return nil, err
	}
	p := d.File(RootCRLFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	crls, err := crl.Parse(data, []*x509.Certificate{root})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", p, err)
	}
	if len(crls) != 1 {
		return nil, fmt.Errorf("reading %s: want 1 CRL, found %d", p, len(crls))
	}
	return crls[0], nil
}

// crlGen signs CRLs for one GenerateCRL or Init run.
type crlGen struct {
	d           *Dir
	st          *store.Store
	now         time.Time
	lastNumber  *big.Int
	lastEntries int
	pending     []signedCRL
}

func (g *crlGen) signIntermediate(inter ca.Authority, validity time.Duration) ([]byte, error) {
	return g.sign(ScopeIntermediate, inter, validity)
}

func (g *crlGen) signRoot(root ca.Authority, validity time.Duration) ([]byte, error) {
	return g.sign(ScopeRoot, root, validity)
}

var errStopIteration = errors.New("stop")

func (g *crlGen) sign(scope string, issuer ca.Authority, validity time.Duration) ([]byte, error) {
	s, err := g.signTo(scope, issuer, validity)
	if err != nil {
		return nil, err
	}
	return s.Bytes(), nil
}

// signTo signs scope's CRL and returns it unwritten, so that GenerateCRL can stream it into files.
func (g *crlGen) signTo(scope string, issuer ca.Authority, validity time.Duration) (*crl.Signed, error) {
	// The number is committed before signing: a crash after this point burns a number but never reuses one.
	num, err := g.st.NextCRLNumber(scope)
	if err != nil {
		return nil, fmt.Errorf("allocating the %s CRL number: %w", scope, err)
	}
	var iterErr error
	count := 0
	entries := iter.Seq[crl.Entry](func(yield func(crl.Entry) bool) {
		// The serial comes as bytes straight from the database page (crl.Build copies it), so a million
		// entries cost no allocation each.
		iterErr = g.st.ForEachRevokedSerial(scope, func(serial []byte, at time.Time, reason store.Reason, notAfter time.Time) error {
			// RFC 5280 §3.3: an entry may leave the CRL once the certificate has expired.
			if notAfter.Before(g.now) {
				return nil
			}
			count++
			if !yield(crl.Entry{SerialBytes: serial, RevokedAt: at, Reason: int(reason)}) {
				return errStopIteration
			}
			return nil
		})
		if errors.Is(iterErr, errStopIteration) {
			iterErr = nil
		}
	})
	thisUpdate := g.now
	signed, err := crl.Sign(crl.Template{
		Number: num, ThisUpdate: thisUpdate, NextUpdate: thisUpdate.Add(validity),
		Issuer: issuer.Cert, Signer: issuer.Key,
	}, entries)
	if err == nil {
		err = iterErr
	}
	if err != nil {
		return nil, fmt.Errorf("signing the %s CRL: %w", scope, err)
	}
	g.pending = append(g.pending, signedCRL{scope, num, thisUpdate, thisUpdate.Add(validity)})
	g.lastNumber, g.lastEntries = num, count
	return signed, nil
}

// commit records the CRLs signed so far as published. It runs only after their files are written, so
// --if-due never skips a CRL that did not reach the disk.
func (g *crlGen) commit() error {
	for _, s := range g.pending {
		if err := g.st.RecordCRL(s.scope, s.number, s.thisUpdate, s.nextUpdate); err != nil {
			return err
		}
	}
	g.pending = nil
	return nil
}

type signedCRL struct {
	scope                  string
	number                 *big.Int
	thisUpdate, nextUpdate time.Time
}

func pemCRL(ders ...[]byte) []byte { return crl.EncodePEM(ders...) }
