package ocspresp

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // CertIDs hashed with SHA-1: what OpenSSL, Apache and nginx send
	_ "crypto/sha256"
	_ "crypto/sha512"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// DefaultValidity is how long a response is valid (nextUpdate - thisUpdate). nginx with ssl_ocsp_cache keeps
// a "good" answer until its nextUpdate, so this is also nginx's revocation lag; Apache asks on every
// handshake. Five minutes keeps that lag short while a cached response is re-signed only every 2.5 minutes.
const DefaultValidity = 5 * time.Minute

// serialKey is a serial number's big-endian magnitude, left-padded to the 20 octets RFC 5280 §4.1.2.2 allows.
type serialKey [20]byte

func keyOf(magnitude []byte) (serialKey, bool) {
	var k serialKey
	for len(magnitude) > 0 && magnitude[0] == 0 {
		magnitude = magnitude[1:]
	}
	if len(magnitude) == 0 || len(magnitude) > len(k) {
		return k, false
	}
	copy(k[len(k)-len(magnitude):], magnitude)
	return k, true
}

// Revocation is what the database records about a revoked certificate.
type Revocation struct {
	At     time.Time
	Reason int // RFC 5280 CRLReason code
}

// Snapshot is what the issuance database said, at one moment, about the certificates of one CA: which
// serials it issued and which of those are revoked. Build one with NewSnapshot and the Add methods, then
// hand it to Responder.SetSnapshot; it must not be changed afterwards.
type Snapshot struct {
	issued  map[serialKey]struct{}
	revoked map[serialKey]Revocation
}

// NewSnapshot returns an empty snapshot sized for n certificates.
func NewSnapshot(n int) *Snapshot {
	return &Snapshot{issued: make(map[serialKey]struct{}, n), revoked: map[serialKey]Revocation{}}
}

// AddIssued records that serial (big-endian magnitude) was issued by the CA.
func (s *Snapshot) AddIssued(serial []byte) {
	if k, ok := keyOf(serial); ok {
		s.issued[k] = struct{}{}
	}
}

// AddRevoked records that serial is revoked. A serial revoked but not issued stays unknown.
func (s *Snapshot) AddRevoked(serial []byte, r Revocation) {
	if k, ok := keyOf(serial); ok {
		s.revoked[k] = r
	}
}

// Len returns the number of issued serials.
func (s *Snapshot) Len() int { return len(s.issued) }

// Revoked returns the number of revoked serials.
func (s *Snapshot) Revoked() int { return len(s.revoked) }

func (s *Snapshot) status(serial *big.Int) certStatus {
	if s == nil || serial.Sign() <= 0 {
		return certStatus{kind: statusUnknown}
	}
	// FillBytes into the key itself rather than Bytes(): no allocation on the path every request takes.
	var k serialKey
	if serial.BitLen() > len(k)*8 {
		return certStatus{kind: statusUnknown}
	}
	serial.FillBytes(k[:])
	if _, ok := s.issued[k]; !ok {
		return certStatus{kind: statusUnknown}
	}
	if r, ok := s.revoked[k]; ok {
		return certStatus{kind: statusRevoked, revokedAt: r.At.UTC().Truncate(time.Second), reason: r.Reason}
	}
	return certStatus{kind: statusGood}
}

// Config is a Responder's fixed part.
type Config struct {
	Issuer   *x509.Certificate // the CA whose certificates are answered for; others get unauthorized
	Validity time.Duration     // DefaultValidity when zero
	Now      func() time.Time  // time.Now when nil
}

// Responder answers OCSP requests for one CA. It is safe for concurrent use: Respond runs on many
// goroutines while the publisher swaps snapshots and signers.
type Responder struct {
	cfg    Config
	hashes map[crypto.Hash][2][]byte // issuer name hash, key hash

	mu     sync.RWMutex
	signer *Signer
	snap   *Snapshot
	cache  map[string]*cached // by the request's raw CertID: only for serials that were issued
}

type cached struct {
	resp    []byte
	serial  *big.Int
	status  certStatus
	refresh time.Time // re-sign from here on: half-way to nextUpdate
	next    time.Time
	signer  *Signer
}

// New returns a responder for cfg.Issuer with no signer and no snapshot: until both are set it answers
// tryLater.
func New(cfg Config) (*Responder, error) {
	if cfg.Issuer == nil {
		return nil, errors.New("ocspresp: no issuer")
	}
	if cfg.Validity <= 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &Responder{cfg: cfg, hashes: map[crypto.Hash][2][]byte{}, cache: map[string]*cached{}}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := h.New()
		d.Write(cfg.Issuer.RawSubject)
		kh, err := keyHash(h, cfg.Issuer.RawSubjectPublicKeyInfo)
		if err != nil {
			return nil, fmt.Errorf("ocspresp: issuer certificate: %w", err)
		}
		r.hashes[h] = [2][]byte{d.Sum(nil), kh}
	}
	return r, nil
}

// SetSigner replaces the signing certificate (a renewal by wsca crl) and drops every cached response.
// The signer must have been issued by the responder's issuer.
func (r *Responder) SetSigner(s *Signer) error {
	if s != nil {
		if err := s.Cert.CheckSignatureFrom(r.cfg.Issuer); err != nil {
			return fmt.Errorf("OCSP signer %q is not issued by %q: %w", s.Cert.Subject.CommonName, r.cfg.Issuer.Subject.CommonName, err)
		}
	}
	r.mu.Lock()
	r.signer = s
	clear(r.cache)
	r.mu.Unlock()
	return nil
}

// SetSnapshot installs a new view of the database and re-signs, before it returns, every cached response
// whose certificate changed status, so a revocation is never answered from a stale "good".
func (r *Responder) SetSnapshot(s *Snapshot) {
	r.mu.Lock()
	r.snap = s
	type redo struct {
		raw    string
		serial *big.Int
	}
	var changed []redo
	for k, c := range r.cache {
		if !c.status.same(s.status(c.serial)) {
			changed = append(changed, redo{k, c.serial})
			delete(r.cache, k)
		}
	}
	r.mu.Unlock()
	for _, c := range changed {
		// A failure here (no signer) only leaves the entry uncached: the next request signs it.
		_, _ = r.presigned(c.raw, c.serial)
	}
}

// Result describes an answer, for logs and metrics.
type Result struct {
	Status ResponseStatus
	Cached bool      // served from the pre-signed cache
	Next   time.Time // nextUpdate of a successful response, for HTTP caching of nonce-less GETs
	Nonce  bool
	Reason string // why an error status was answered
}

// Respond answers a DER OCSPRequest with a DER OCSPResponse. It never fails: a bad request is answered
// malformedRequest, a request about another CA's certificate unauthorized, and a missing or expired
// signer tryLater, with the reason in the Result.
func (r *Responder) Respond(der []byte) ([]byte, Result) {
	req, err := ParseRequest(der)
	if err != nil {
		return ErrorResponse(MalformedRequest), Result{Status: MalformedRequest, Reason: err.Error()}
	}
	res := Result{Nonce: req.Nonce != nil}
	for _, it := range req.Items {
		h, ok := r.hashes[it.Hash]
		if !ok || !bytes.Equal(h[0], it.IssuerNameHash) || !bytes.Equal(h[1], it.IssuerKeyHash) {
			res.Status, res.Reason = Unauthorized, "certificate of another CA"
			return ErrorResponse(Unauthorized), res
		}
	}
	if len(req.Items) == 1 && req.Nonce == nil {
		resp, c, err := r.lookup(req.Items[0])
		if err != nil {
			res.Status, res.Reason = TryLater, err.Error()
			return ErrorResponse(TryLater), res
		}
		res.Cached, res.Next = c, r.nextOf(req.Items[0])
		return resp, res
	}
	resp, next, err := r.signFresh(req)
	if err != nil {
		res.Status, res.Reason = TryLater, err.Error()
		return ErrorResponse(TryLater), res
	}
	res.Next = next
	return resp, res
}

func (r *Responder) nextOf(id CertID) time.Time {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.cache[string(id.Raw)]; c != nil {
		return c.next
	}
	return r.cfg.Now().UTC().Truncate(time.Second).Add(r.cfg.Validity)
}

// lookup serves a nonce-less single request from the cache, signing (and caching, for issued serials) when
// the entry is missing, from another signer, half-way to its nextUpdate, or of another status.
func (r *Responder) lookup(id CertID) ([]byte, bool, error) {
	now := r.cfg.Now()
	r.mu.RLock()
	c := r.cache[string(id.Raw)]
	fresh := c != nil && c.signer == r.signer && now.Before(c.refresh) && c.status.same(r.snap.status(id.Serial))
	r.mu.RUnlock()
	if fresh {
		return c.resp, true, nil
	}
	resp, err := r.presigned(string(id.Raw), id.Serial)
	return resp, false, err
}

// presigned signs the nonce-less response for one CertID and caches it if the serial was issued (unknown
// serials are not cached, so nobody can grow the cache by asking about random serials).
func (r *Responder) presigned(rawID string, serial *big.Int) ([]byte, error) {
	r.mu.RLock()
	signer, snap := r.signer, r.snap
	r.mu.RUnlock()
	if err := r.usable(signer, snap); err != nil {
		return nil, err
	}
	st := snap.status(serial)
	this, next := r.window(signer)
	var b cryptobyte.Builder
	appendSingle(&b, []byte(rawID), st, this, next)
	resp, err := signer.sign(b.BytesOrPanic(), this, nil)
	if err != nil {
		return nil, err
	}
	if st.kind != statusUnknown {
		r.mu.Lock()
		// Only if nothing changed while signing: otherwise the next request signs again.
		if r.signer == signer && r.snap == snap {
			r.cache[rawID] = &cached{resp: resp, serial: serial, status: st, refresh: this.Add(next.Sub(this) / 2), next: next, signer: signer}
		}
		r.mu.Unlock()
	}
	return resp, nil
}

// signFresh signs a response for a request with a nonce or several certificates: one signature each time.
func (r *Responder) signFresh(req *Request) ([]byte, time.Time, error) {
	r.mu.RLock()
	signer, snap := r.signer, r.snap
	r.mu.RUnlock()
	if err := r.usable(signer, snap); err != nil {
		return nil, time.Time{}, err
	}
	this, next := r.window(signer)
	b := cryptobyte.NewBuilder(make([]byte, 0, 128*len(req.Items))) // a SingleResponse is ~70-110 bytes
	for _, it := range req.Items {
		appendSingle(b, it.Raw, snap.status(it.Serial), this, next)
	}
	resp, err := signer.sign(b.BytesOrPanic(), this, req.Nonce)
	return resp, next, err
}

// window returns thisUpdate (now) and nextUpdate: Validity later, but never after the signer expires, so no
// response outlives the certificate that vouches for it.
func (r *Responder) window(signer *Signer) (this, next time.Time) {
	this = r.cfg.Now().UTC().Truncate(time.Second)
	next = this.Add(r.cfg.Validity)
	if na := signer.Cert.NotAfter.UTC().Truncate(time.Second); next.After(na) {
		next = na
	}
	return this, next
}

func (r *Responder) usable(signer *Signer, snap *Snapshot) error {
	switch {
	case signer == nil:
		return errors.New("no OCSP signing certificate (run wsca crl with an OCSP URL set)")
	case snap == nil:
		return errors.New("the issuance database has not been read yet")
	case r.cfg.Now().After(signer.Cert.NotAfter):
		return fmt.Errorf("the OCSP signing certificate expired at %s (run wsca crl to renew it)", signer.Cert.NotAfter.Format(time.RFC3339))
	}
	return nil
}
