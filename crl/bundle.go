package crl

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"
)

// MaxClockSkew is how far in the future a CRL's thisUpdate may lie before
// CheckChain treats the CRL as not yet valid.
const MaxClockSkew = 5 * time.Minute

// Bundle is an immutable set of CRLs, at most one per CA, that checks
// certificate chains for revocation. It is safe for concurrent use; to reload,
// build a new Bundle and swap it in (for example through an atomic.Pointer).
type Bundle struct {
	crls  []*CRL // a handful of CAs: a linear scan beats a map and allocates nothing
	total int
	next  time.Time
}

// NewBundle returns a Bundle of crls. When several CRLs come from the same CA
// (same subject and public key), the one with the highest CRL number is kept
// (a missing number counts as lowest; on a tie, the later thisUpdate wins). Nil
// entries are ignored.
func NewBundle(crls []*CRL) *Bundle {
	b := &Bundle{}
	for _, c := range crls {
		if c == nil || c.Issuer == nil {
			continue
		}
		i := b.index(c.Issuer)
		switch {
		case i < 0:
			b.crls = append(b.crls, c)
		case newer(c, b.crls[i]):
			b.crls[i] = c
		}
	}
	for _, c := range b.crls {
		b.total += c.Revoked.Len()
		if b.next.IsZero() || c.NextUpdate.Before(b.next) {
			b.next = c.NextUpdate
		}
	}
	return b
}

func newer(a, b *CRL) bool {
	switch {
	case a.Number == nil && b.Number == nil:
		return a.ThisUpdate.After(b.ThisUpdate)
	case b.Number == nil:
		return true
	case a.Number == nil:
		return false
	}
	if c := a.Number.Cmp(b.Number); c != 0 {
		return c > 0
	}
	return a.ThisUpdate.After(b.ThisUpdate)
}

// index returns the position of ca's CRL, or -1. A CA is identified by its
// raw subject and its public key: the key is what verified the CRL, and the
// key is what signed the certificates it lists (RFC 5280 §6.3.3 (f)).
func (b *Bundle) index(ca *x509.Certificate) int {
	for i, c := range b.crls {
		if bytes.Equal(c.Issuer.RawSubject, ca.RawSubject) &&
			bytes.Equal(c.Issuer.RawSubjectPublicKeyInfo, ca.RawSubjectPublicKeyInfo) {
			return i
		}
	}
	return -1
}

// crlFor returns the CRL issued by ca, or nil.
func (b *Bundle) crlFor(ca *x509.Certificate) *CRL {
	if b == nil || ca == nil {
		return nil
	}
	if i := b.index(ca); i >= 0 {
		return b.crls[i]
	}
	return nil
}

// RevokedError reports a revoked certificate in a chain.
type RevokedError struct {
	Serial    *big.Int
	Subject   string // the certificate's subject, RFC 2253 style
	Reason    int    // RFC 5280 CRLReason
	RevokedAt time.Time
	CA        bool // the revoked certificate is an intermediate CA, not the leaf
}

// Error returns, for example, "certificate 1f2e… (CN=alice) revoked at
// 2026-11-26T16:00:00Z (keyCompromise)".
func (e *RevokedError) Error() string {
	kind := "certificate"
	if e.CA {
		kind = "CA certificate"
	}
	return fmt.Sprintf("%s %x (%s) revoked at %s (%s)", kind, e.Serial, e.Subject,
		e.RevokedAt.UTC().Format(time.RFC3339), ReasonString(e.Reason))
}

// CheckChain checks a verified chain, chain[0] the leaf … chain[n-1] the root
// (as from x509.Certificate.Verify), against the bundle's CRLs at time now.
//
// Every certificate but the root is looked up in the CRL of the certificate
// after it. It fails closed: a missing CRL returns ErrNoCRL; a CRL at or past
// nextUpdate+grace returns ErrCRLExpired (within grace it is accepted; see
// Stale); a CRL whose thisUpdate is more than MaxClockSkew ahead of now returns
// ErrCRLNotYetValid; a revoked certificate returns a *RevokedError. All are
// wrapped with the CA's subject. CheckChain does not allocate unless it fails.
func (b *Bundle) CheckChain(chain []*x509.Certificate, now time.Time, grace time.Duration) error {
	for i := 0; i+1 < len(chain); i++ {
		cert, ca := chain[i], chain[i+1]
		c := b.crlFor(ca)
		if c == nil {
			return fmt.Errorf("checking %q: %w from CA %q", cert.Subject, ErrNoCRL, ca.Subject)
		}
		if c.ThisUpdate.After(now.Add(MaxClockSkew)) {
			return fmt.Errorf("checking %q: %w: CRL of %q has thisUpdate %s", cert.Subject, ErrCRLNotYetValid,
				ca.Subject, c.ThisUpdate.Format(time.RFC3339))
		}
		if !now.Before(c.NextUpdate.Add(grace)) {
			return fmt.Errorf("checking %q: %w: CRL of %q had nextUpdate %s", cert.Subject, ErrCRLExpired,
				ca.Subject, c.NextUpdate.Format(time.RFC3339))
		}
		if r, ok := lookupCert(c, cert); ok {
			return &RevokedError{
				Serial: new(big.Int).Set(cert.SerialNumber), Subject: cert.Subject.String(),
				Reason: r.Reason, RevokedAt: r.RevokedAt, CA: i > 0,
			}
		}
	}
	return nil
}

// lookupCert looks cert's serial up in c without allocating: the magnitude is
// written into a stack buffer instead of cert.SerialNumber.Bytes().
func lookupCert(c *CRL, cert *x509.Certificate) (Revoked, bool) {
	if cert.SerialNumber == nil {
		return Revoked{}, false
	}
	var buf [64]byte
	n := (cert.SerialNumber.BitLen() + 7) / 8
	if n > len(buf) {
		return c.Revoked.Lookup(cert.SerialNumber.Bytes())
	}
	return c.Revoked.Lookup(cert.SerialNumber.FillBytes(buf[:n]))
}

// IsRevoked reports whether cert is listed in the CRL of issuer, for the
// relay's periodic re-check of open sessions. It reports false when the bundle
// has no CRL from issuer; use CheckChain to fail closed on that.
func (b *Bundle) IsRevoked(cert, issuer *x509.Certificate) (Revoked, bool) {
	c := b.crlFor(issuer)
	if c == nil || cert == nil {
		return Revoked{}, false
	}
	return lookupCert(c, cert)
}

// StaleCRL describes a CRL at or past its nextUpdate.
type StaleCRL struct {
	Issuer     *x509.Certificate
	NextUpdate time.Time
	Overdue    time.Duration // now − NextUpdate
}

// Stale returns the CRLs at or past their nextUpdate at now, for logging:
// CheckChain accepts them while within its grace period.
func (b *Bundle) Stale(now time.Time) []StaleCRL {
	var out []StaleCRL
	for _, c := range b.CRLs() {
		if !now.Before(c.NextUpdate) {
			out = append(out, StaleCRL{Issuer: c.Issuer, NextUpdate: c.NextUpdate, Overdue: now.Sub(c.NextUpdate)})
		}
	}
	return out
}

// CRLs returns the bundle's CRLs, one per CA, in the order first given.
func (b *Bundle) CRLs() []*CRL {
	if b == nil {
		return nil
	}
	return append([]*CRL(nil), b.crls...)
}

// NextUpdate returns the earliest nextUpdate of the bundle's CRLs: the time by
// which new CRLs should be loaded. It is zero for an empty bundle.
func (b *Bundle) NextUpdate() time.Time {
	if b == nil {
		return time.Time{}
	}
	return b.next
}

// Len returns the total number of revoked serials across the bundle's CRLs.
func (b *Bundle) Len() int {
	if b == nil {
		return 0
	}
	return b.total
}
