package cadir

import (
	"cmp"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// ErrNameTaken means NAME already has a valid certificate and the request is not a renewal
// (IssueRequest.Renew). Issue returns it as a *NameTakenError naming that certificate.
var ErrNameTaken = errors.New("already has a valid certificate")

// NameTakenError is ErrNameTaken with the certificate that holds the name, so that the caller can name its own
// way out (wsca: --renew, or wsca revoke SERIAL).
type NameTakenError struct {
	Name     string
	Serial   *big.Int
	NotAfter time.Time
}

// Error reads, for example, `"alice" already has a valid certificate: serial 5f3a…, valid until 2027-01-01`.
func (e *NameTakenError) Error() string {
	return fmt.Sprintf("%q %s: serial %s, valid until %s", e.Name, ErrNameTaken, ca.SerialHex(e.Serial), e.NotAfter.Format("2006-01-02"))
}

// Is makes errors.Is(err, ErrNameTaken) true.
func (e *NameTakenError) Is(target error) bool { return target == ErrNameTaken }

// ErrServerNames means DNS names or IP addresses were asked for in a client certificate: they identify
// servers, and a client certificate carrying them could pass as one.
var ErrServerNames = errors.New("DNS names and IP addresses go only into server certificates")

// DefaultValidity is the lifetime of a leaf certificate when none is given.
const DefaultValidity = 365 * 24 * time.Hour

// IssueRequest describes one certificate to issue.
type IssueRequest struct {
	Name         string
	Kind         ca.Kind    // ca.KindClient or ca.KindServer; empty: client, or the renewed certificate's kind
	KeyType      ca.KeyType // empty: the default, or the renewed certificate's key type
	Emails       []string
	URIs         []string
	DNSNames     []string
	IPs          []string
	OU           string
	Organization string
	Validity     time.Duration // default DefaultValidity
	// Renew allows a new certificate while NAME has a valid one and records the link. What the request
	// leaves empty (OU, O, SANs, kind, key type) is carried over from NAME's newest certificate, and its
	// files in OutDir are kept as NAME.SERIAL.crt/.key/.p12.
	Renew   bool
	CRLURL  string // CRL distribution point for this certificate; default: the one set at init
	OCSPURL string // OCSP responder for this certificate; default: the one set at init

	OutDir      string // where NAME.crt, NAME.key and NAME.p12 go
	P12         bool
	P12Format   ca.P12Format
	P12Password string // empty: a password is generated and returned in the result
	// Pickup keeps the key off the disk: the encrypted bundle goes into the database for wsca publish to
	// hand out once (pickup.go); only NAME.crt is written. It needs P12.
	Pickup    bool
	PickupTTL time.Duration // default DefaultPickupTTL

	// Set while the batch runs.
	fromCSR  bool        // a wsca sign request: the identity is decided there, nothing is carried
	warnings []string    // case twins
	carried  []string    // what carryFrom took from the renewed certificate
	archive  archivePlan // previous files to move aside
}

// IssueResult is what one issuance produced.
type IssueResult struct {
	Record       store.Record
	CertPath     string
	KeyPath      string
	P12Path      string
	P12Password  string // set when the password was generated: the caller shows it once
	PasswordMade bool
	Warnings     []string // e.g. a name that differs from another only by letter case
	Carried      []string // identity carried over from the renewed certificate (Identity entries)
	Archived     []string // where the renewed certificate's files in OutDir were moved
	// PickupToken is the one-time token of a Pickup request (shown once; only its hash is stored), valid
	// until PickupExpires.
	PickupToken   string
	PickupExpires time.Time

	pickupTTL    time.Duration
	pickupBundle []byte // the encrypted bundle until storePickups has stored it
}

// leafRequest validates r and turns it into the ca package's request.
func (r *IssueRequest) leafRequest(pub crypto.PublicKey) (ca.LeafRequest, error) {
	if err := ValidateName(r.Name); err != nil {
		return ca.LeafRequest{}, err
	}
	kind := r.Kind
	if kind == "" {
		kind = ca.KindClient
	}
	// Before preflight a renewal's kind may still come from the renewed certificate (pub is nil then).
	undecided := r.Kind == "" && r.Renew && pub == nil
	if kind != ca.KindServer && !undecided && (len(r.DNSNames) > 0 || len(r.IPs) > 0) {
		return ca.LeafRequest{}, fmt.Errorf("%q: %w", r.Name, ErrServerNames)
	}
	lr := ca.LeafRequest{
		Kind:      kind,
		Subject:   pkix.Name{CommonName: r.Name},
		Emails:    r.Emails,
		DNSNames:  r.DNSNames,
		Validity:  r.Validity,
		PublicKey: pub,
	}
	if lr.Validity == 0 {
		lr.Validity = DefaultValidity
	}
	if r.OU != "" {
		lr.Subject.OrganizationalUnit = []string{r.OU}
	}
	if r.Organization != "" {
		lr.Subject.Organization = []string{r.Organization}
	}
	for _, e := range r.Emails {
		if !strings.Contains(e, "@") || strings.ContainsAny(e, " <>") {
			return ca.LeafRequest{}, fmt.Errorf("email %q is not an address like alice@example.com", e)
		}
	}
	for _, s := range r.URIs {
		u, err := url.Parse(s)
		if err != nil || u.Scheme == "" {
			return ca.LeafRequest{}, fmt.Errorf("URI %q is not absolute (like spiffe://example.com/alice)", s)
		}
		lr.URIs = append(lr.URIs, u)
	}
	for _, s := range r.IPs {
		ip := net.ParseIP(s)
		if ip == nil {
			return ca.LeafRequest{}, fmt.Errorf("IP %q is not an IPv4 or IPv6 address", s)
		}
		lr.IPs = append(lr.IPs, ip)
	}
	return lr, nil
}

// Issue creates a key and a certificate for req.Name, records the certificate in the database, and only
// then writes NAME.crt, NAME.key (0600) and, if asked, NAME.p12 (0600). A name that has a valid
// certificate is refused with ErrNameTaken (naming its serial) unless req.Renew is set.
func (d *Dir) Issue(req IssueRequest) (*IssueResult, error) {
	results, rowErrs, err := d.IssueBatch([]IssueRequest{req}, nil)
	if err != nil {
		return nil, err
	}
	if len(rowErrs) > 0 {
		return nil, rowErrs[0].Err
	}
	return &results[0], nil
}

// RowError is a request of a batch that was not issued; nothing of it was recorded or written.
type RowError struct {
	Line int // input line number, or the request's index+1 when not from a file
	Name string
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d (%s): %v", e.Line, e.Name, e.Err) }

// BatchSize is how many certificates share one database transaction in IssueBatch. Large enough to make
// bulk issuance fast, small enough that other wsca processes wait for the lock only briefly.
const BatchSize = 256

// IssueBatch issues many certificates with one CA load. Requests are processed in chunks of BatchSize:
// keys and certificates are made, the chunk's records are committed in one transaction, then its files are
// written. A bad request is returned as a RowError and nothing of it is recorded; the others go on.
// Lines gives the input line of each request for error messages (nil: index+1). progress, if not nil, is
// called after each chunk.
func (d *Dir) IssueBatch(reqs []IssueRequest, progress func(done, total int), lines ...int) ([]IssueResult, []RowError, error) {
	b := newBatch(reqs, lines)
	// Cheap checks first, before the passphrase is asked for.
	b.check()
	urls, err := d.preflight(b)
	if err != nil {
		return nil, nil, err
	}
	b.checkOutputs()
	if len(b.live(0, len(reqs))) == 0 {
		return nil, b.rowErrors(), nil
	}

	inter, chain, err := d.issuer()
	if err != nil {
		return nil, nil, err
	}
	iss := issuing{inter: inter, chain: chain, urls: urls}
	for start := 0; start < len(reqs); start += BatchSize {
		end := min(start+BatchSize, len(reqs))
		if err := d.issueChunk(b, start, end, iss); err != nil {
			return b.results(), b.rowErrors(), err
		}
		if progress != nil {
			progress(end, len(reqs))
		}
	}
	return b.results(), b.rowErrors(), nil
}

// pendingLeaf is a signed certificate with its key, not yet written.
type pendingLeaf struct {
	req  *IssueRequest
	key  crypto.Signer
	cert *x509.Certificate
	rec  store.Record
}

// issueChunk signs the live items of [start, end), records them in one transaction (commit) and writes
// their files (writeChunk). An item that fails is failed in b and the chunk goes on; an error returned
// means the chunk stopped, possibly after its records were committed (filesNotWritten says which).
func (d *Dir) issueChunk(b *batch, start, end int, iss issuing) error {
	now := d.now()
	for _, it := range b.live(start, end) {
		if err := d.signLeaf(&it.pendingLeaf, iss, now); err != nil {
			b.fail(it, err)
		}
	}
	signed := b.live(start, end)
	if len(signed) == 0 {
		return nil
	}
	if err := d.commit(b, signed); err != nil {
		return err
	}
	return d.writeChunk(b.live(start, end), iss.chain)
}

// signLeaf makes p's key and certificate (with the CRL and OCSP URLs of the request or, by default, of
// init) and its database record.
func (d *Dir) signLeaf(p *pendingLeaf, iss issuing, now time.Time) error {
	r := p.req
	kt := r.KeyType
	if kt == "" {
		kt = ca.DefaultKeyType
	}
	key, err := ca.GenerateKey(d.Rand, kt)
	if err != nil {
		return fmt.Errorf("generating a %s key: %w", kt, err)
	}
	lr, err := r.leafRequest(key.Public())
	if err != nil {
		return err
	}
	if u := cmp.Or(r.CRLURL, iss.urls.crl); u != "" {
		lr.CRLURLs = []string{u}
	}
	if u := cmp.Or(r.OCSPURL, iss.urls.ocsp); u != "" {
		lr.OCSPURLs = []string{u}
	}
	cert, err := ca.Issue(d.Rand, now, iss.inter, lr)
	if err != nil {
		return err
	}
	p.key, p.cert, p.rec = key, cert, recordFor(cert, r.Name, lr.Kind, now, d.User)
	return nil
}

// writeChunk writes the files of items, whose records are committed, and sets each item's result. The
// chunk's files are written as one batch: durable and visible together, with two disk flushes for the
// chunk instead of two per file. On error no result is set and the error names the serials to revoke.
func (d *Dir) writeChunk(items []*batchItem, chain []*x509.Certificate) error {
	var files atomicfile.Batch
	defer files.Abort()
	var results []IssueResult
	var written []pendingLeaf
	for _, it := range items {
		res, err := addLeafFiles(&files, d, it.pendingLeaf, chain)
		if err != nil {
			return filesNotWritten([]pendingLeaf{it.pendingLeaf}, err)
		}
		results = append(results, *res)
		written = append(written, it.pendingLeaf)
	}
	// Pickup bundles are stored before NAME.crt appears, so a certificate file never exists without a
	// way to its key.
	if err := d.storePickups(results); err != nil {
		return filesNotWritten(written, err)
	}
	created, err := files.Commit()
	if err != nil {
		var missing []pendingLeaf
		have := map[string]bool{}
		for _, c := range created {
			have[c] = true
		}
		for i, p := range written {
			if !have[results[i].CertPath] {
				missing = append(missing, p)
			}
		}
		return filesNotWritten(missing, err)
	}
	for i, it := range items {
		it.res = &results[i]
	}
	return nil
}

// filesNotWritten explains a failure after the database commit: the certificates exist and must be revoked
// (or their files recovered with wsca show --pem); the keys are lost.
func filesNotWritten(leaves []pendingLeaf, err error) error {
	var serials []string
	for _, p := range leaves {
		serials = append(serials, ca.SerialHex(p.rec.Serial))
	}
	return fmt.Errorf("%d certificate(s) are recorded but their files could not be written: %w "+
		"(revoke them: wsca revoke %s)", len(leaves), err, strings.Join(serials, " / "))
}

// commit records the signed items of a chunk in one transaction. Renewals are linked to the newest valid
// certificate of the name; a name that got a valid certificate since the early check is failed here, under
// the lock.
func (d *Dir) commit(b *batch, items []*batchItem) error {
	st, err := d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	now := d.now()
	var recs []store.Record
	for _, it := range items {
		prev, err := validByName(st, it.req.Name, now)
		if err != nil {
			return err
		}
		if prev != nil {
			if !it.req.Renew {
				b.fail(it, nameTaken(it.req.Name, prev))
				continue
			}
			it.rec.Renews = prev.Serial
		}
		recs = append(recs, it.rec)
	}
	if len(recs) == 0 {
		return nil
	}
	if err := st.Add(recs...); err != nil {
		return fmt.Errorf("recording %d certificates: %w", len(recs), err)
	}
	return nil
}

func nameTaken(name string, prev *store.Record) error {
	return &NameTakenError{Name: name, Serial: prev.Serial, NotAfter: prev.NotAfter}
}

// preflight refuses, before any key is made or passphrase asked, names that already have a valid
// certificate, carries the renewed identity into renewals, notes case twins, and returns the CRL
// distribution point and OCSP URLs set at init (if any).
func (d *Dir) preflight(b *batch) (urls leafURLs, err error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return urls, err
	}
	defer st.Close()
	if urls, err = readLeafURLs(st); err != nil {
		return urls, err
	}
	now := d.now()
	var fresh []string
	for _, it := range b.live(0, len(b.items)) {
		r := it.req
		if r.Renew {
			if err := d.prepareRenewal(st, r); err != nil {
				b.fail(it, err)
			}
			continue
		}
		prev, err := validByName(st, r.Name, now)
		if err != nil {
			return urls, err
		}
		if prev != nil {
			b.fail(it, nameTaken(r.Name, prev))
			continue
		}
		fresh = append(fresh, r.Name)
	}
	twins, err := caseTwins(st, fresh, now)
	if err != nil {
		return urls, err
	}
	for _, it := range b.live(0, len(b.items)) {
		if w := twinWarning(it.req.Name, twins[it.req.Name]); !it.req.Renew && w != "" {
			it.req.warnings = append(it.req.warnings, w)
		}
	}
	return urls, nil
}

// prepareRenewal carries the renewed certificate's identity into r (see carryFrom) and checks the result.
func (d *Dir) prepareRenewal(st *store.Store, r *IssueRequest) error {
	if r.fromCSR {
		return nil
	}
	prev, err := renewSource(st, r.Name)
	if err != nil {
		return err
	}
	if prev != nil {
		r.carried = r.carryFrom(prev)
	}
	if r.Kind == "" {
		r.Kind = ca.KindClient
	}
	_, err = r.leafRequest(nil)
	return err
}
