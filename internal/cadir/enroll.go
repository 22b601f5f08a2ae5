package cadir

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// Refusals of Issuer.Renew and Issuer.Enroll, for the EST server to turn into HTTP answers.
var (
	// ErrRevoked means the certificate presented for renewal is revoked in the database.
	ErrRevoked = errors.New("the certificate is revoked")
	// ErrUnknownCertificate means the certificate presented for renewal is not recorded in this CA's database.
	ErrUnknownCertificate = errors.New("the certificate is not recorded in this CA's database")
	// ErrCSRIdentity means the CSR asks for a name or attribute that the CA did not decide for this holder.
	ErrCSRIdentity = errors.New("the CSR asks for an identity the CA did not decide")
	// ErrBadCSR means the request is not a well-formed, self-signed PKCS#10 request for an acceptable key.
	ErrBadCSR = errors.New("bad certificate request")
	// ErrBadToken means the enrollment token is unknown, used already, or expired.
	ErrBadToken = errors.New("the enrollment token is unknown, used or expired")
)

// DefaultTokenTTL is how long an enrollment token stays usable when no lifetime is given.
const DefaultTokenTTL = 24 * time.Hour

// CreateToken stores a one-time enrollment token that lets a device enroll one certificate for req.Name with
// the identity req describes (OU, O, e-mail, URI, kind, Validity), and returns the token. Only its hash is
// kept; it expires after ttl (DefaultTokenTTL when zero).
func (d *Dir) CreateToken(req IssueRequest, ttl time.Duration) (string, time.Time, error) {
	if _, err := req.leafRequest(nil); err != nil {
		return "", time.Time{}, err
	}
	if len(req.DNSNames) > 0 || len(req.IPs) > 0 {
		return "", time.Time{}, errors.New("--token is for client certificates: DNS names and IP addresses are not carried")
	}
	if ttl <= 0 {
		ttl = DefaultTokenTTL
	}
	var b [16]byte // 128 bits: nothing to gain by guessing, and short enough to paste into a device
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	token := hex.EncodeToString(b[:])
	now := d.now()
	kind := req.Kind
	if kind == "" {
		kind = ca.KindClient
	}
	t := store.Token{Name: req.Name, Kind: string(kind), OU: req.OU, Organization: req.Organization,
		Emails: req.Emails, URIs: req.URIs, Validity: req.Validity, Expires: now.Add(ttl), CreatedAt: now, CreatedBy: d.User}
	st, err := d.OpenStore(false)
	if err != nil {
		return "", time.Time{}, err
	}
	defer st.Close()
	if err := st.AddToken(token, t); err != nil {
		return "", time.Time{}, err
	}
	return token, t.Expires, nil
}

// Issuer signs for the online enrollment service (wsca enroll): it holds the intermediate key in memory from
// LoadIssuer on, and opens wsca.db only for each request, so that wsca issue, revoke and crl keep working
// while it runs. Every certificate is recorded before it is returned.
type Issuer struct {
	d     *Dir
	auth  ca.Authority
	chain []*x509.Certificate // intermediate, root (the CA once in a single-CA directory)
}

// LoadIssuer loads the intermediate CA and its key (asking for the passphrase if the key is encrypted).
func (d *Dir) LoadIssuer() (*Issuer, error) {
	auth, chain, err := d.issuer()
	if err != nil {
		return nil, err
	}
	return &Issuer{d: d, auth: auth, chain: chain}, nil
}

// Chain returns the CA certificates a client needs: intermediate first, then the root.
func (is *Issuer) Chain() []*x509.Certificate { return is.chain }

// Renew issues a certificate for the key of csr with the identity the CA decided for prev, the verified
// certificate that authenticated the request: name, subject, e-mail, URI, DNS and IP names and kind come from
// prev (never from the CSR), and so does the lifetime. It refuses a prev the database does not know
// (ErrUnknownCertificate) or lists as revoked (ErrRevoked), and a CSR that asks for anything else
// (ErrCSRIdentity). The new record is linked to prev and committed before Renew returns.
func (is *Issuer) Renew(prev *x509.Certificate, csrData []byte) (store.Record, *x509.Certificate, error) {
	csr, st, err := is.begin(csrData)
	if err != nil {
		return store.Record{}, nil, err
	}
	defer st.Close()
	rec, err := st.Get(prev.SerialNumber)
	if errors.Is(err, store.ErrNotFound) || err == nil && string(rec.DER) != string(prev.Raw) {
		return store.Record{}, nil, fmt.Errorf("serial %s: %w", ca.SerialHex(prev.SerialNumber), ErrUnknownCertificate)
	}
	if err != nil {
		return store.Record{}, nil, err
	}
	if rec.Revocation != nil {
		return store.Record{}, nil, fmt.Errorf("serial %s of %q, revoked %s (%s): %w", ca.SerialHex(rec.Serial),
			rec.Name, rec.Revocation.At.Format(time.RFC3339), rec.Revocation.Reason, ErrRevoked)
	}
	r := IssueRequest{Name: rec.Name, Renew: true}
	r.carryFrom(prev) // the identity, like wsca issue --renew; the key type it carries is unused: the CSR has the key
	if r.Kind == "" {
		r.Kind = ca.KindClient
	}
	r.Validity = prev.NotAfter.Sub(prev.NotBefore)
	if b := min(ca.Backdate, r.Validity/11); b > 0 {
		r.Validity -= b // the lifetime the CA gave, without the backdating ca.Issue adds again
	}
	return is.issueFor(st, &r, csr, prev.SerialNumber, "renewal of "+ca.SerialHex(prev.SerialNumber))
}

// Enroll consumes a one-time enrollment token and issues a certificate for the key of csr with the identity
// the admin gave the token (wsca issue NAME --token). who (the client's address) goes into the audit log. An
// unknown, used or expired token fails with ErrBadToken; a CSR that asks for another identity fails with
// ErrCSRIdentity and leaves the token unused.
func (is *Issuer) Enroll(token string, csrData []byte, who string) (store.Record, *x509.Certificate, error) {
	csr, st, err := is.begin(csrData)
	if err != nil {
		return store.Record{}, nil, err
	}
	defer st.Close()
	now := is.d.now()
	t, err := st.PeekToken(token, now)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenExpired) {
		return store.Record{}, nil, ErrBadToken
	}
	if err != nil {
		return store.Record{}, nil, err
	}
	r := IssueRequest{Name: t.Name, Kind: ca.Kind(t.Kind), OU: t.OU, Organization: t.Organization,
		Emails: t.Emails, URIs: t.URIs, Validity: t.Validity}
	lr, err := r.leafRequest(csr.PublicKey)
	if err != nil {
		return store.Record{}, nil, err
	}
	if err := checkCSRWithin(csr, lr); err != nil {
		return store.Record{}, nil, err
	}
	// Consumed before signing, in its own transaction: a failure after this point costs the token (the admin
	// makes another), never a second certificate.
	if _, err := st.ConsumeToken(token, now, who); errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrTokenExpired) {
		return store.Record{}, nil, ErrBadToken
	} else if err != nil {
		return store.Record{}, nil, err
	}
	prev, err := validByName(st, t.Name, now)
	if err != nil {
		return store.Record{}, nil, err
	}
	return is.issueFor(st, &r, csr, renewsSerial(prev), "enrollment by token")
}

// begin parses a request's CSR and opens wsca.db for it (with the directory's lock timeout): the database
// is open only while one request is answered.
func (is *Issuer) begin(csrData []byte) (*x509.CertificateRequest, *store.Store, error) {
	csr, err := ca.ParseCSR(csrData)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadCSR, err)
	}
	st, err := is.d.OpenStore(false)
	if err != nil {
		return nil, nil, err
	}
	return csr, st, nil
}

func renewsSerial(r *store.Record) *big.Int {
	if r == nil {
		return nil
	}
	return r.Serial
}

// checkCSRWithin refuses a CSR that asks for any subject attribute or name the certificate will not carry:
// such a request is either a mistake the holder should hear about or an attempt at another identity.
func checkCSRWithin(csr *x509.CertificateRequest, lr ca.LeafRequest) error {
	if extra := ca.Missing(ca.CSRIdentity(csr), lr.Identity()); len(extra) > 0 {
		return fmt.Errorf("%s (the certificate is for %s): %w", strings.Join(extra, ", "),
			strings.Join(lr.Identity(), ", "), ErrCSRIdentity)
	}
	return nil
}

// issueFor signs r for csr's key and records the certificate (linked to renews, if any) in st.
func (is *Issuer) issueFor(st *store.Store, r *IssueRequest, csr *x509.CertificateRequest, renews *big.Int,
	how string) (store.Record, *x509.Certificate, error) {
	lr, err := r.leafRequest(csr.PublicKey)
	if err != nil {
		return store.Record{}, nil, err
	}
	if err := checkCSRWithin(csr, lr); err != nil {
		return store.Record{}, nil, err
	}
	crlURL, err := st.Setting(SettingCRLURL)
	if err != nil {
		return store.Record{}, nil, err
	}
	if crlURL != "" {
		lr.CRLURLs = []string{crlURL}
	}
	now := is.d.now()
	cert, err := ca.Issue(is.d.Rand, now, is.auth, lr)
	if err != nil {
		return store.Record{}, nil, err
	}
	rec := recordFor(cert, r.Name, lr.Kind, now, is.d.User)
	rec.Renews = renews
	if err := st.Add(rec); err != nil {
		return store.Record{}, nil, fmt.Errorf("recording the %s for %q: %w", how, r.Name, err)
	}
	return rec, cert, nil
}

// ActionEnrollRefused is the audit action of a refused renewal or enrollment (wsca enroll).
const ActionEnrollRefused = store.ActionEnrollRefused

// AuditRefusal records a refused renewal or enrollment in the audit log: what was asked (path), by whom
// (address, certificate serial if any) and why.
func (is *Issuer) AuditRefusal(name, serial, detail string) error {
	st, err := is.d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.AppendAudit(store.AuditEntry{Action: ActionEnrollRefused, Name: name, Serial: serial,
		User: is.d.User, Detail: detail})
}
