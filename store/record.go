package store

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
)

// Kind is the kind of certificate a record holds. It is ca.Kind, not a type of its own: ca decides what a kind
// means (the profile Issue applies: key usage, EKU, CA flag) and is the lowest package, so it owns the constants
// (ca.KindClient, ca.KindServer, ca.KindIntermediate, ca.KindRoot); store only records them.
type Kind = ca.Kind

// Record is one issued certificate as the database keeps it.
type Record struct {
	Serial            *big.Int
	Name              string // the name certificates are listed under (usually the CN)
	Kind              Kind   // ca.KindClient, ca.KindServer, ca.KindIntermediate, ca.KindRoot
	Subject           string
	NotBefore         time.Time
	NotAfter          time.Time
	FingerprintSHA256 string
	DER               []byte
	IssuedAt          time.Time
	IssuedBy          string
	Renews            *big.Int // serial this one replaced, or nil
	Revocation        *Revocation
}

// Revocation records when, why and by whom a certificate was revoked.
type Revocation struct {
	At     time.Time
	Reason Reason
	By     string
}

// Status values returned by Record.Status.
const (
	StatusValid   = "valid"
	StatusRevoked = "revoked"
	StatusExpired = "expired"
)

// Status returns "revoked" if r has a Revocation, else "expired" if now is
// after NotAfter, else "valid".
func (r Record) Status(now time.Time) string {
	switch {
	case r.Revocation != nil:
		return StatusRevoked
	case now.After(r.NotAfter):
		return StatusExpired
	default:
		return StatusValid
	}
}

// JSONRecord is the stable JSON form of a Record (wsca list --json). Times
// are RFC 3339 in UTC; RevokedAt and Reason are null unless revoked.
type JSONRecord struct {
	Serial    string  `json:"serial"`
	Name      string  `json:"name"`
	Kind      string  `json:"kind"`
	NotBefore string  `json:"not_before"`
	NotAfter  string  `json:"not_after"`
	Status    string  `json:"status"`
	RevokedAt *string `json:"revoked_at"`
	Reason    *string `json:"reason"`
}

// JSON returns the stable JSON form of r, with its status at now.
func (r Record) JSON(now time.Time) JSONRecord {
	j := JSONRecord{
		Serial:    ca.SerialHex(r.Serial),
		Name:      r.Name,
		Kind:      string(r.Kind),
		NotBefore: r.NotBefore.UTC().Format(time.RFC3339),
		NotAfter:  r.NotAfter.UTC().Format(time.RFC3339),
		Status:    r.Status(now),
	}
	if r.Revocation != nil {
		at := r.Revocation.At.UTC().Format(time.RFC3339)
		reason := r.Revocation.Reason.String()
		j.RevokedAt, j.Reason = &at, &reason
	}
	return j
}

// storedRecord is the JSON a Record is kept as in the certs bucket.
type storedRecord struct {
	Serial            string            `json:"serial"`
	Name              string            `json:"name"`
	Kind              string            `json:"kind"`
	Subject           string            `json:"subject,omitempty"`
	NotBefore         time.Time         `json:"not_before"`
	NotAfter          time.Time         `json:"not_after"`
	FingerprintSHA256 string            `json:"fingerprint_sha256,omitempty"`
	DER               []byte            `json:"der"`
	IssuedAt          time.Time         `json:"issued_at"`
	IssuedBy          string            `json:"issued_by,omitempty"`
	Renews            string            `json:"renews,omitempty"`
	Revocation        *storedRevocation `json:"revocation,omitempty"`
}

type storedRevocation struct {
	At     time.Time `json:"at"`
	Reason int       `json:"reason"`
	By     string    `json:"by,omitempty"`
}

func encodeRecord(r Record) ([]byte, error) {
	sr := storedRecord{
		Serial: ca.SerialHex(r.Serial), Name: r.Name, Kind: string(r.Kind), Subject: r.Subject,
		NotBefore: r.NotBefore.UTC(), NotAfter: r.NotAfter.UTC(),
		FingerprintSHA256: r.FingerprintSHA256, DER: r.DER,
		IssuedAt: r.IssuedAt.UTC(), IssuedBy: r.IssuedBy, Renews: ca.SerialHex(r.Renews),
	}
	if r.Revocation != nil {
		sr.Revocation = &storedRevocation{At: r.Revocation.At.UTC(), Reason: int(r.Revocation.Reason), By: r.Revocation.By}
	}
	return json.Marshal(sr)
}

func decodeRecord(data []byte) (Record, error) {
	var sr storedRecord
	if err := json.Unmarshal(data, &sr); err != nil {
		return Record{}, fmt.Errorf("%w: decoding record: %w", ErrCorrupt, err)
	}
	serial, ok := new(big.Int).SetString(sr.Serial, 16)
	if !ok {
		return Record{}, fmt.Errorf("%w: record serial %q is not hex", ErrCorrupt, sr.Serial)
	}
	r := Record{
		Serial: serial, Name: sr.Name, Kind: Kind(sr.Kind), Subject: sr.Subject,
		NotBefore: sr.NotBefore, NotAfter: sr.NotAfter,
		FingerprintSHA256: sr.FingerprintSHA256, DER: sr.DER,
		IssuedAt: sr.IssuedAt, IssuedBy: sr.IssuedBy,
	}
	if sr.Renews != "" {
		if r.Renews, ok = new(big.Int).SetString(sr.Renews, 16); !ok {
			return Record{}, fmt.Errorf("%w: record renews %q is not hex", ErrCorrupt, sr.Renews)
		}
	}
	if sr.Revocation != nil {
		r.Revocation = &Revocation{At: sr.Revocation.At, Reason: Reason(sr.Revocation.Reason), By: sr.Revocation.By}
	}
	return r, nil
}

// serialKeyLen is the fixed width of serial keys: RFC 5280 4.1.2.2 limits
// serials to 20 octets.
const serialKeyLen = 20

// serialKey returns the 20-byte big-endian, zero-padded key of a serial, or
// an error if the serial is nil, not positive or longer than 20 bytes.
func serialKey(n *big.Int) ([]byte, error) {
	if n == nil || n.Sign() <= 0 {
		return nil, fmt.Errorf("%w: serial must be positive", ErrInvalidRecord)
	}
	if (n.BitLen()+7)/8 > serialKeyLen {
		return nil, fmt.Errorf("%w: serial %x is longer than 20 bytes", ErrInvalidRecord, n)
	}
	return n.FillBytes(make([]byte, serialKeyLen)), nil
}

func validateRecord(r Record) error {
	if _, err := serialKey(r.Serial); err != nil {
		return err
	}
	switch {
	case r.Name == "":
		return fmt.Errorf("%w: serial %x: empty name", ErrInvalidRecord, r.Serial)
	case strings.IndexByte(r.Name, 0) >= 0:
		return fmt.Errorf("%w: serial %x: name contains a NUL byte", ErrInvalidRecord, r.Serial)
	case len(r.DER) == 0:
		return fmt.Errorf("%w: serial %x: empty DER", ErrInvalidRecord, r.Serial)
	case r.Kind == "":
		return fmt.Errorf("%w: serial %x: empty kind", ErrInvalidRecord, r.Serial)
	case r.Renews != nil && r.Renews.Sign() <= 0:
		return fmt.Errorf("%w: serial %x: renews serial must be positive", ErrInvalidRecord, r.Serial)
	}
	if r.Revocation != nil {
		if err := validateRevocation(r.Kind, *r.Revocation); err != nil {
			return fmt.Errorf("serial %x: %w", r.Serial, err)
		}
	}
	return nil
}

func validateRevocation(kind Kind, rev Revocation) error {
	if rev.At.IsZero() {
		return fmt.Errorf("%w: revocation time missing", ErrInvalidRecord)
	}
	if !rev.Reason.Selectable() {
		return fmt.Errorf("%w: reason %s cannot be chosen", ErrInvalidRecord, rev.Reason)
	}
	if scopeOf(kind) == "" {
		return fmt.Errorf("%w: a %s certificate cannot be revoked (no CRL covers a trust anchor)", ErrInvalidRecord, kind)
	}
	return nil
}

// Scopes name the CRL a revocation appears on.
const (
	ScopeIntermediate = "intermediate" // the intermediate's CRL: every leaf
	ScopeRoot         = "root"         // the root's CRL: intermediates
)

// scopeOf returns the CRL scope revoked certificates of kind appear on, or
// "" for a root.
func scopeOf(kind Kind) string {
	switch kind {
	case ca.KindRoot:
		return ""
	case ca.KindIntermediate:
		return ScopeRoot
	default:
		return ScopeIntermediate
	}
}
