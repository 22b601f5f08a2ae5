package relay

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/crlsync"
)

// Rejection reasons: the `reason` attribute of rejection log lines and the reason label of
// relay_handshakes_total. They are stable identifiers for log searches and alerts.
const (
	ReasonNoCertificate   = "no_certificate"
	ReasonUnknownCA       = "unknown_ca"
	ReasonExpired         = "expired"
	ReasonRevoked         = "revoked"
	ReasonWrongEKU        = "wrong_eku"
	ReasonChainTooLong    = "chain_too_long"
	ReasonInvalidChain    = "invalid_chain"
	ReasonCRLMissing      = "crl_missing"
	ReasonCRLExpired      = "crl_expired"
	ReasonCNNotAllowed    = "cn_not_allowed"
	ReasonOUNotAllowed    = "ou_not_allowed"
	ReasonEmailNotAllowed = "email_not_allowed"
	ReasonURINotAllowed   = "uri_not_allowed"
	ReasonIPNotAllowed    = "ip_not_allowed"
)

// RejectError is returned by the relay's TLS verification (and so ends the handshake with a TLS alert) and
// describes HTTP-level policy refusals. Reason is one of the Reason* constants.
type RejectError struct {
	Reason  string
	Subject string   // the client certificate's subject, empty without one
	CN      string   // the client certificate's subject common name, empty without one
	Serial  *big.Int // the client certificate's serial (or the revoked CA's, with Reason revoked), nil without one
	Err     error    // the underlying error, if any
}

// Error describes the rejection.
func (e *RejectError) Error() string {
	if e.Err != nil {
		return "client certificate rejected: " + e.Reason + ": " + e.Err.Error()
	}
	return "client certificate rejected: " + e.Reason
}

// Unwrap returns the underlying error.
func (e *RejectError) Unwrap() error { return e.Err }

// material is everything a reload replaces at once: the configuration, the server certificate, the client trust
// store, the CRLs and the compiled routes. It is immutable once built and published through an atomic pointer, so
// a handshake always sees one consistent generation. Only its verification cache fills up as clients connect.
type material struct {
	cfg       *Config
	cert      []tls.Certificate
	leafCert  *x509.Certificate
	ciphers   []uint16 // TLS 1.2 cipher suites (tls.cipher_suites)
	roots     *x509.CertPool
	inters    *x509.CertPool
	clientCAs *x509.CertPool // sent in the CertificateRequest so that browsers can pick a matching certificate
	cas       []*x509.Certificate
	bundle    *crl.Bundle
	crls      []*crl.CRL
	routes    []*route // longest prefix first
	loaded    time.Time
	digests   map[string][sha256.Size]byte // file name → content digest, to tell real changes from touches
	caByRaw   map[string]*x509.Certificate // DER → the bundle's certificate
	vcache    *sync.Map                    // leaf SHA-256 → CA parts of its verified chains; see cachedChains
	vcacheLen atomic.Int32
	// crlKey identifies what crls were parsed and verified from (see crlSourceKey); the zero value when they
	// are not the CRL source's own (a refused rollback kept the previous CRLs): never reused then.
	crlKey crlSourceKey
}

// crlSourceKey is what a generation's CRLs are a pure function of: the CRL's bytes and the client CA bundle's
// (Verify checks the signatures against it). A reload whose key equals the running generation's takes its CRLs
// over instead of parsing and verifying a million entries again (a SIGHUP, an edit of the configuration or of a
// certificate with the CRL unchanged).
type crlSourceKey struct {
	crl, cas [sha256.Size]byte
	ok       bool
}

// loadMaterial reads every file the configuration names and builds a new generation. It fails on any unreadable,
// unparsable or inconsistent file: the caller keeps the previous generation.
func loadMaterial(cfg *Config, now time.Time) (*material, error) {
	return loadMaterialFrom(cfg, now, nil, nil)
}

// loadMaterialFrom is loadMaterial with the CRL given as crlData, as it must be when the configuration's CRL is a
// URL (the relay's crlSource fetched it); with nil a CRL file is read. prev, if not nil, is the generation in
// force: its CRLs are taken over when they were loaded from the same bytes under the same client CA bundle.
func loadMaterialFrom(cfg *Config, now time.Time, crlData []byte, prev *material) (*material, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &material{cfg: cfg, loaded: now, digests: make(map[string][sha256.Size]byte),
		caByRaw: make(map[string]*x509.Certificate), vcache: new(sync.Map)}
	if err := m.loadServerCert(now); err != nil {
		return nil, err
	}
	if err := m.loadClientCAs(); err != nil {
		return nil, err
	}
	if err := m.loadCRL(crlData, prev); err != nil {
		return nil, err
	}
	for i := range cfg.Routes {
		rt, err := compileRoute(m, &cfg.Routes[i])
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		m.routes = append(m.routes, rt)
	}
	slices.SortStableFunc(m.routes, func(a, b *route) int { return len(b.prefix) - len(a.prefix) })
	return m, nil
}

// read reads one of the generation's files and records its digest, which the file watcher compares.
func (m *material) read(what, name string) ([]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	m.digests[name] = sha256.Sum256(data)
	return data, nil
}

// loadServerCert loads the server certificate and key, and refuses a certificate without serverAuth or expired.
func (m *material) loadServerCert(now time.Time) error {
	cfg := m.cfg
	certPEM, err := m.read("server certificate", cfg.TLS.Cert)
	if err != nil {
		return err
	}
	keyPEM, err := m.read("server key", cfg.TLS.Key)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("loading server certificate %s and key %s: %w", cfg.TLS.Cert, cfg.TLS.Key, err)
	}
	m.cert = []tls.Certificate{pair}
	if m.ciphers, err = cipherSuiteIDs(cfg.TLS.CipherSuites); err != nil {
		return err // checked by Validate already
	}
	m.leafCert = pair.Leaf
	if m.leafCert == nil {
		if m.leafCert, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("parsing server certificate %s: %w", cfg.TLS.Cert, err)
		}
	}
	if err := checkServerEKU(m.leafCert, cfg.TLS.Cert); err != nil {
		return err
	}
	if now.After(m.leafCert.NotAfter) {
		return fmt.Errorf("server certificate %s expired at %s", cfg.TLS.Cert, m.leafCert.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// loadClientCAs loads the client CA bundle: CA certificates only, at least one self-signed root.
func (m *material) loadClientCAs() error {
	cfg := m.cfg
	caPEM, err := m.read("client CA bundle", cfg.ClientCA)
	if err != nil {
		return err
	}
	if m.cas, err = parseCertificates(caPEM); err != nil {
		return fmt.Errorf("client CA bundle %s: %w", cfg.ClientCA, err)
	}
	m.roots, m.inters, m.clientCAs = x509.NewCertPool(), x509.NewCertPool(), x509.NewCertPool()
	nroots := 0
	for _, c := range m.cas {
		if !c.IsCA || !c.BasicConstraintsValid {
			return fmt.Errorf("client CA bundle %s: %q is not a CA certificate", cfg.ClientCA, c.Subject)
		}
		m.clientCAs.AddCert(c)
		m.caByRaw[string(c.Raw)] = c
		if isSelfSigned(c) {
			m.roots.AddCert(c)
			nroots++
		} else {
			m.inters.AddCert(c)
		}
	}
	if nroots == 0 {
		return fmt.Errorf("client CA bundle %s: no self-signed root CA certificate", cfg.ClientCA)
	}
	return nil
}

// loadCRL loads and verifies the CRLs: crlData with a CRL URL, else the CRL file. prev's CRLs are taken over
// when they came from the same bytes under the same client CA bundle (crlSourceKey).
func (m *material) loadCRL(crlData []byte, prev *material) error {
	cfg := m.cfg
	var err error
	// With a CRL URL the caller passes the body it fetched (or its cache); a file is read here.
	crlPEM, what := crlData, "CRL file "+cfg.CRL
	key := crlSourceKey{cas: m.digests[cfg.ClientCA], ok: true}
	if crlsync.IsURL(cfg.CRL) {
		what = "CRL from " + cfg.CRL
		if crlPEM == nil {
			return fmt.Errorf("%s: no CRL fetched yet", what)
		}
		key.crl = sha256.Sum256(crlPEM)
	} else if crlPEM, err = m.read("CRL file", cfg.CRL); err != nil {
		return err
	} else {
		key.crl = m.digests[cfg.CRL]
	}
	m.crlKey = key
	if prev != nil && prev.crlKey == key {
		m.crls, m.bundle = prev.crls, prev.bundle
		return nil
	}
	// Chain mode (Apache SSLCARevocationCheck chain): every CA that can issue a client certificate or an
	// intermediate needs its CRL, or every client under it would be refused at the handshake. crlsync.Verify
	// checks that and every signature against the client CA bundle.
	if m.crls, err = crlsync.Verify(crlPEM, m.cas); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	m.bundle = crl.NewBundle(m.crls)
	return nil
}

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil
}

// parseCertificates strictly decodes a PEM bundle of certificates: only CERTIFICATE blocks, nothing but whitespace
// around them, at least one.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := bytes.TrimSpace(data)
	for len(rest) > 0 {
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, errors.New("unexpected data outside PEM blocks")
		}
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("invalid PEM block")
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, c)
		rest = bytes.TrimSpace(rest)
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate found")
	}
	return certs, nil
}

// verifyClient verifies a presented client chain (certs[0] the leaf, then whatever intermediates the client sent):
// it must chain to a root of the client CA bundle with EKU clientAuth at now, within verify_depth, and no certificate
// of the chain may be revoked. It returns the verified chains (leaf … root), all of which passed the CRL check.
func (m *material) verifyClient(certs []*x509.Certificate, now time.Time) ([][]*x509.Certificate, *RejectError) {
	leaf := certs[0]
	rej := func(reason string, err error) *RejectError {
		return &RejectError{Reason: reason, Subject: leaf.Subject.String(), CN: leaf.Subject.CommonName,
			Serial: leaf.SerialNumber, Err: err}
	}
	if err := m.checkClientEKU(leaf); err != nil {
		return nil, rej(ReasonWrongEKU, err)
	}
	key := sha256.Sum256(leaf.Raw)
	ok, hit := m.cachedChains(key, leaf, now)
	if !hit {
		inters := m.inters
		if len(certs) > 1 {
			// The client's own intermediates join those of the bundle for path building only; trust still
			// comes from the bundle's roots.
			inters = m.inters.Clone()
			for _, c := range certs[1:] {
				inters.AddCert(c)
			}
		}
		chains, err := leaf.Verify(x509.VerifyOptions{
			Roots:         m.roots,
			Intermediates: inters,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return nil, rej(classifyVerifyError(err), err)
		}
		maxLen := m.cfg.VerifyDepth + 1
		for _, ch := range chains {
			if len(ch) <= maxLen {
				ok = append(ok, ch)
			}
		}
		if len(ok) == 0 {
			return nil, rej(ReasonChainTooLong, fmt.Errorf("shortest chain has %d certificates, verify_depth %d allows %d",
				shortest(chains), m.cfg.VerifyDepth, maxLen))
		}
		m.cacheChains(key, ok)
	}
	for _, ch := range ok {
		if err := m.bundle.CheckChain(ch, now, m.cfg.CRLGrace.D()); err != nil {
			return nil, classifyCRLError(leaf, err)
		}
	}
	return ok, nil
}

// maxVerifyCache bounds the verification cache of one generation (about 100 bytes an entry).
const maxVerifyCache = 16384

// cachedChains returns the chains verified earlier in this generation for a leaf with the same DER, rebuilt on this
// leaf, if every certificate of them is still within its validity period at now. Verification is a pure function of
// the certificate bytes, the trust store (fixed within a generation), the time and the EKU, so a hit needs only the
// time re-checked: it saves the chain building and the signature checks that dominate a handshake's verification.
// Revocation is never cached: the caller checks the CRLs on every handshake.
func (m *material) cachedChains(key [sha256.Size]byte, leaf *x509.Certificate,
	now time.Time) ([][]*x509.Certificate, bool) {
	if m.vcache == nil {
		return nil, false
	}
	v, found := m.vcache.Load(key)
	if !found || !validAt(leaf, now) {
		return nil, false
	}
	cached := v.([][]*x509.Certificate)
	out := make([][]*x509.Certificate, 0, len(cached))
	for _, cas := range cached {
		ch := make([]*x509.Certificate, 0, 1+len(cas))
		ch = append(ch, leaf)
		for _, c := range cas {
			if !validAt(c, now) {
				return nil, false
			}
			ch = append(ch, c)
		}
		out = append(out, ch)
	}
	return out, true
}

// cacheChains remembers the CA part of verified chains, sharing the bundle's own certificate objects where the
// chain uses the same certificate, so that an entry does not pin a connection's parsed certificates.
func (m *material) cacheChains(key [sha256.Size]byte, chains [][]*x509.Certificate) {
	if m.vcache == nil || m.vcacheLen.Load() >= maxVerifyCache {
		return
	}
	cached := make([][]*x509.Certificate, 0, len(chains))
	for _, ch := range chains {
		cas := make([]*x509.Certificate, 0, len(ch)-1)
		for _, c := range ch[1:] {
			if own, ok := m.caByRaw[string(c.Raw)]; ok {
				c = own
			}
			cas = append(cas, c)
		}
		cached = append(cached, cas)
	}
	if _, loaded := m.vcache.LoadOrStore(key, cached); !loaded {
		m.vcacheLen.Add(1)
	}
}

func validAt(c *x509.Certificate, now time.Time) bool {
	return !now.Before(c.NotBefore) && !now.After(c.NotAfter)
}

func shortest(chains [][]*x509.Certificate) int {
	n := 0
	for _, ch := range chains {
		if n == 0 || len(ch) < n {
			n = len(ch)
		}
	}
	return n
}

// classifyVerifyError maps an x509.Verify error to a rejection reason.
func classifyVerifyError(err error) string {
	var ua x509.UnknownAuthorityError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return ReasonUnknownCA
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return ReasonExpired
		case x509.IncompatibleUsage:
			return ReasonWrongEKU
		case x509.TooManyIntermediates:
			return ReasonChainTooLong
		}
	}
	return ReasonInvalidChain
}

// classifyCRLError maps a crl.Bundle.CheckChain error to a rejection; a revoked CA reports the CA's serial.
func classifyCRLError(leaf *x509.Certificate, err error) *RejectError {
	r := &RejectError{Subject: leaf.Subject.String(), CN: leaf.Subject.CommonName, Serial: leaf.SerialNumber, Err: err}
	var rev *crl.RevokedError
	switch {
	case errors.As(err, &rev):
		r.Reason = ReasonRevoked
		r.Serial = rev.Serial
	case errors.Is(err, crl.ErrCRLExpired), errors.Is(err, crl.ErrCRLNotYetValid):
		r.Reason = ReasonCRLExpired
	default:
		r.Reason = ReasonCRLMissing
	}
	return r
}

// recheck re-examines the chains of an open session against this generation. It returns a non-nil rejection only
// when the session must be cut: a certificate of its chain is now revoked, or (fullVerify, after a change of the
// client CA bundle) the chain no longer verifies. A CRL that merely expired does not cut open sessions; new
// handshakes fail closed on it.
func (m *material) recheck(p *peer, now time.Time, fullVerify bool) *RejectError {
	if fullVerify {
		if _, rej := m.verifyClient(p.presented, now); rej != nil && rej.Reason != ReasonCRLExpired {
			return rej
		}
		return nil
	}
	// IsRevoked rather than CheckChain: an expired CRL must not hide a revocation listed in it.
	for _, ch := range p.chains {
		for i := 0; i+1 < len(ch); i++ {
			if r, revoked := m.bundle.IsRevoked(ch[i], ch[i+1]); revoked {
				return &RejectError{Reason: ReasonRevoked, Subject: p.leaf().Subject.String(), Serial: ch[i].SerialNumber,
					Err: &crl.RevokedError{Serial: ch[i].SerialNumber, Subject: ch[i].Subject.String(), Reason: r.Reason,
						RevokedAt: r.RevokedAt, CA: i > 0}}
			}
		}
	}
	return nil
}
