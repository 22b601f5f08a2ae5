package cadir

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/store"
)

// The delegated OCSP signer that wsca crl keeps current and wsca publish signs with.
const (
	OCSPSignerCertFile = "ocsp-signer.crt"
	// OCSPSignerKeyFile is stored unencrypted (mode 0600): wsca publish must sign responses without the CA
	// passphrase. Whoever reads it can forge OCSP answers for this CA until the certificate expires (it
	// carries id-pkix-ocsp-nocheck, so it cannot be revoked usefully): hence the short validity, and it can
	// never sign certificates or CRLs.
	OCSPSignerKeyFile = "ocsp-signer.key"
	// SettingOCSPURL is the database setting holding the OCSP responder URL given at init.
	SettingOCSPURL = "ocsp_url"
	// DefaultOCSPSignerValidity matches the CRL validity: if the timer that runs wsca crl stops, OCSP stops
	// answering (tryLater) at about the time the CRL expires, not months later.
	DefaultOCSPSignerValidity = 7 * 24 * time.Hour
)

// leafURLs are the locations put into every leaf by default: the settings made at wsca init.
type leafURLs struct{ crl, ocsp string }

// readLeafURLs reads the CRL distribution point and OCSP URL settings.
func readLeafURLs(st *store.Store) (leafURLs, error) {
	var u leafURLs
	var err error
	if u.crl, err = st.Setting(SettingCRLURL); err != nil {
		return u, fmt.Errorf("reading setting %s: %w", SettingCRLURL, err)
	}
	if u.ocsp, err = st.Setting(SettingOCSPURL); err != nil {
		return u, fmt.Errorf("reading setting %s: %w", SettingOCSPURL, err)
	}
	return u, nil
}

// CheckOCSPURL accepts an absolute http:// URL: OCSP clients (OpenSSL, Apache, nginx) fetch over plain
// HTTP, and the responses are signed, so TLS adds nothing but a way to fail (RFC 6960 §A.1; RFC 5019 §5).
func CheckOCSPURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("invalid OCSP URL %q: want http://host[:port][/path] (OCSP clients use plain HTTP; the answers are signed)", raw)
	}
	return nil
}

// OCSPURL returns the OCSP responder URL set at init, or "".
func (d *Dir) OCSPURL() (string, error) {
	st, err := d.OpenStore(true)
	if err != nil {
		return "", err
	}
	defer st.Close()
	u, err := readLeafURLs(st)
	return u.ocsp, err
}

// OCSPSignerResult says what EnsureOCSPSigner did.
type OCSPSignerResult struct {
	Issued   bool      // a new signer was issued
	NotAfter time.Time // of the current signer; zero when there is none
}

// EnsureOCSPSigner keeps the delegated OCSP signer current. When the CA has an OCSP URL (or a signer
// exists already) and the signer is missing, was issued by another intermediate, or is past half of its
// validity, it issues a new one with a fresh P-256 key, records it in the database and writes the key
// (0600, unencrypted, see OCSPSignerKeyFile) and then the certificate, each atomically: wsca publish
// reloads when the certificate changes and keeps its old signer if the pair does not match yet. It asks
// for the CA passphrase only when it issues. Without an OCSP URL and without a signer it does nothing.
func (d *Dir) EnsureOCSPSigner(validity time.Duration) (*OCSPSignerResult, error) {
	if validity == 0 {
		validity = DefaultOCSPSignerValidity
	}
	if validity < time.Hour {
		return nil, fmt.Errorf("OCSP signer validity %s is too short (minimum 1h)", validity)
	}
	now := d.now()
	cur, curErr := d.readCert(OCSPSignerCertFile)
	if curErr != nil && !errors.Is(curErr, ErrNotInitialized) {
		return nil, curErr
	}
	if cur == nil {
		u, err := d.OCSPURL()
		if err != nil || u == "" {
			return &OCSPSignerResult{}, err
		}
	}
	inter, _, err := d.Chain()
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.CheckSignatureFrom(inter) == nil && !due(now, cur.NotBefore, cur.NotAfter, 0.5) {
		return &OCSPSignerResult{NotAfter: cur.NotAfter}, nil
	}
	return d.issueOCSPSigner(now, validity)
}

func (d *Dir) issueOCSPSigner(now time.Time, validity time.Duration) (*OCSPSignerResult, error) {
	issuer, err := d.Intermediate()
	if err != nil {
		return nil, err
	}
	key, err := ca.GenerateKey(d.Rand, ca.KeyECDSAP256)
	if err != nil {
		return nil, fmt.Errorf("generating the OCSP signer key: %w", err)
	}
	cert, err := ca.IssueOCSPSigner(d.Rand, now, issuer, validity, key.Public())
	if err != nil {
		return nil, err
	}
	keyPEM, err := ca.MarshalKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding the OCSP signer key: %w", err)
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	// Recorded before any file is written, like every certificate wsca issues.
	if err := st.Add(recordFor(cert, "ocsp-signer", ca.KindOCSPSigner, now, d.User)); err != nil {
		return nil, fmt.Errorf("recording the OCSP signer: %w", err)
	}
	if err := atomicfile.Write(d.File(OCSPSignerKeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(d.File(OCSPSignerCertFile), ca.EncodeCertificates(cert), 0o644); err != nil {
		return nil, err
	}
	return &OCSPSignerResult{Issued: true, NotAfter: cert.NotAfter}, nil
}

// OCSPSigner reads the OCSP signer certificate and its unencrypted key, checks that they match and that the
// certificate was issued by the intermediate. It never asks for a passphrase. It fails with an error
// wrapping fs.ErrNotExist when there is no signer.
func (d *Dir) OCSPSigner() (*x509.Certificate, crypto.Signer, error) {
	cert, err := d.readCert(OCSPSignerCertFile)
	if errors.Is(err, ErrNotInitialized) {
		return nil, nil, fmt.Errorf("%s: %w", d.File(OCSPSignerCertFile), fs.ErrNotExist)
	}
	if err != nil {
		return nil, nil, err
	}
	p := d.File(OCSPSignerKeyFile)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the OCSP signer key: %w", err)
	}
	key, err := ca.ParseKey(data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("OCSP signer key %s: %w", p, err)
	}
	if err := ca.CheckKeyMatches(key, cert); err != nil {
		return nil, nil, fmt.Errorf("OCSP signer key %s: %w", p, err)
	}
	return cert, key, nil
}

// SetOCSPURL stores the CA's OCSP URL (what init --ocsp-url does), for a CA created without one: later
// certificates carry it, wsca config uses it, and EnsureOCSPSigner then issues the signer.
func (d *Dir) SetOCSPURL(u string) error {
	if err := CheckOCSPURL(u); err != nil {
		return err
	}
	st, err := d.OpenStore(false)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.SetSetting(SettingOCSPURL, u); err != nil {
		return err
	}
	return st.AppendAudit(store.AuditEntry{Time: d.now(), Action: store.ActionSettings, User: d.User, Detail: SettingOCSPURL + " " + u})
}
