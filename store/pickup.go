package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	bolt "go.etcd.io/bbolt"
)

// One-time bundle pickups (wsca issue --pickup, served by wsca publish at /pickup/<token>).
//
//	pickup   SHA-256(token) → JSON Pickup. The token itself is never stored: whoever reads wsca.db (a
//	         backup, say) learns the bundles, still encrypted, but not the links. A consumed or expired
//	         pickup keeps its record without the bundle, so a second visit can be told "already used"
//	         (410) rather than "unknown" (404).
//
// Every transition (stored, viewed, downloaded, refused, expired) is one Update transaction that also
// appends the audit entry, so a download is recorded exactly when it is granted. bbolt allows one writer
// at a time (an flock across processes, a mutex within one), so of two simultaneous downloads exactly one
// sees the bundle still there.

var bucketPickup = []byte("pickup")

// Audit actions of pickups.
const (
	ActionPickupStore    Action = "pickup-store"    // wsca issue --pickup stored a bundle
	ActionPickupView     Action = "pickup-view"     // the page was shown
	ActionPickupDownload Action = "pickup-download" // the bundle was handed out (and deleted)
	ActionPickupRefused  Action = "pickup-refused"  // an unknown, used or expired token was presented
	ActionPickupExpire   Action = "pickup-expire"   // an unused bundle was deleted at its expiry
)

// Pickup states.
const (
	PickupWaiting  = "waiting"
	PickupConsumed = "consumed"
	PickupExpired  = "expired"
	PickupRevoked  = "revoked" // the certificate was revoked before the download: the bundle is worthless
)

// Pickup sentinels: the token is known but its bundle is gone.
var (
	ErrPickupConsumed = errors.New("pickup link already used")
	ErrPickupExpired  = errors.New("pickup link expired")
	ErrPickupRevoked  = errors.New("certificate of the pickup link revoked")
)

// Pickup is one stored bundle waiting for its holder. Bundle is the encrypted PKCS#12 file and is empty
// once consumed or expired.
type Pickup struct {
	Name      string    `json:"name"`
	Serial    string    `json:"serial"` // lowercase hex
	FileName  string    `json:"file_name"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	IssuedBy  string    `json:"issued_by,omitempty"`
	State     string    `json:"state"`
	ClosedAt  time.Time `json:"closed_at,omitzero"` // when it was consumed or expired
	Bundle    []byte    `json:"bundle,omitempty"`
	BundleLen int       `json:"bundle_len"`
}

// PickupKey is the database key of a token: its SHA-256.
func PickupKey(token string) [sha256.Size]byte { return sha256.Sum256([]byte(token)) }

// PickupEvent is what the caller knows about one request for a pickup, for the audit entry: the
// transition fills in Action, Name and Serial. Detail is appended as given (address, user agent).
type PickupEvent struct {
	Key    [sha256.Size]byte
	User   string
	Detail string
}

func (ev PickupEvent) entry(action Action, p *Pickup, why string) AuditEntry {
	d := fmt.Sprintf("token %x", ev.Key[:4]) // enough to tell entries apart, useless to an attacker
	if why != "" {
		d += " " + why
	}
	if ev.Detail != "" {
		d += " " + ev.Detail
	}
	e := AuditEntry{Action: action, User: ev.User, Detail: d}
	if p != nil {
		e.Name, e.Serial = p.Name, p.Serial
	}
	return e
}

// AddPickups stores bundles under their token keys in one transaction, with an audit entry each.
func (s *Store) AddPickups(keys [][sha256.Size]byte, ps []Pickup) error {
	if len(keys) != len(ps) {
		return fmt.Errorf("store: adding pickups: %d keys for %d bundles", len(keys), len(ps))
	}
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPickup)
		if err != nil {
			return err
		}
		for i, p := range ps {
			if b.Get(keys[i][:]) != nil {
				return fmt.Errorf("token key %x: %w", keys[i][:4], ErrExists)
			}
			p.State, p.BundleLen = PickupWaiting, len(p.Bundle)
			if err := putPickup(b, keys[i], &p); err != nil {
				return err
			}
			ev := PickupEvent{Key: keys[i], User: p.IssuedBy}
			e := ev.entry(ActionPickupStore, &p, "until "+p.Expires.UTC().Format(time.RFC3339))
			if err := appendAudit(tx, e, s.now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: adding %d pickups: %w", len(ps), err)
	}
	return nil
}

func putPickup(b *bolt.Bucket, key [sha256.Size]byte, p *Pickup) error {
	v, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return b.Put(key[:], v)
}

func getPickup(tx *bolt.Tx, key [sha256.Size]byte) (*bolt.Bucket, *Pickup, error) {
	b := tx.Bucket(bucketPickup)
	if b == nil {
		return nil, nil, nil
	}
	v := b.Get(key[:])
	if v == nil {
		return b, nil, nil
	}
	var p Pickup
	if err := json.Unmarshal(v, &p); err != nil {
		return b, nil, fmt.Errorf("pickup %x: %w: %w", key[:4], ErrCorrupt, err)
	}
	return b, &p, nil
}

// expireIn marks p expired and drops its bundle when its time is over; it reports whether it did.
func expireIn(tx *bolt.Tx, b *bolt.Bucket, key [sha256.Size]byte, p *Pickup, ev PickupEvent, now time.Time) (bool, error) {
	if p.State != PickupWaiting || now.Before(p.Expires) {
		return false, nil
	}
	p.State, p.ClosedAt, p.Bundle = PickupExpired, now.UTC(), nil
	if err := putPickup(b, key, p); err != nil {
		return false, err
	}
	return true, appendAudit(tx, ev.entry(ActionPickupExpire, p, ""), now)
}

// TakePickup is one visit to a pickup link, recorded in one transaction. With consume false (the page)
// it returns the pickup without its bundle and audits a view; with consume true (the download) it
// returns the bundle, deletes it from the database and audits the download. An unknown key gives
// ErrNotFound, a used one ErrPickupConsumed, an expired one ErrPickupExpired, one whose certificate has
// been revoked ErrPickupRevoked (the bundle is deleted then if it was not yet); each of those is audited as refused and returns the record when there is one.
func (s *Store) TakePickup(ev PickupEvent, consume bool) (*Pickup, error) {
	var out *Pickup
	var refused error
	err := s.update(func(tx *bolt.Tx) error {
		now := s.now()
		b, p, err := getPickup(tx, ev.Key)
		if err != nil {
			return err
		}
		what := "view"
		if consume {
			what = "download"
		}
		if p == nil {
			refused = ErrNotFound
			return appendAudit(tx, ev.entry(ActionPickupRefused, nil, what+": unknown token"), now)
		}
		if _, err := expireIn(tx, b, ev.Key, p, ev, now); err != nil {
			return err
		}
		if p.State == PickupWaiting && revokedIn(tx, p.Serial) {
			p.State, p.ClosedAt, p.Bundle = PickupRevoked, now.UTC(), nil
			if err := putPickup(b, ev.Key, p); err != nil {
				return err
			}
		}
		switch p.State {
		case PickupConsumed:
			refused = ErrPickupConsumed
		case PickupExpired:
			refused = ErrPickupExpired
		case PickupRevoked:
			refused = ErrPickupRevoked
		}
		if refused != nil {
			out = p
			return appendAudit(tx, ev.entry(ActionPickupRefused, p, what+": "+p.State), now)
		}
		if !consume {
			c := *p
			c.Bundle = nil
			out = &c
			return appendAudit(tx, ev.entry(ActionPickupView, p, ""), now)
		}
		c := *p
		out = &c
		p.State, p.ClosedAt, p.Bundle = PickupConsumed, now.UTC(), nil
		if err := putPickup(b, ev.Key, p); err != nil {
			return err
		}
		return appendAudit(tx, ev.entry(ActionPickupDownload, p, ""), now)
	})
	if err != nil {
		return nil, fmt.Errorf("store: pickup %x: %w", ev.Key[:4], err)
	}
	if refused != nil {
		return out, fmt.Errorf("store: pickup %x: %w", ev.Key[:4], refused)
	}
	return out, nil
}

// revokedIn reports whether the certificate with the lowercase-hex serial is revoked (a hold included).
func revokedIn(tx *bolt.Tx, serial string) bool {
	n, ok := new(big.Int).SetString(serial, 16)
	if !ok {
		return false
	}
	k, err := serialKey(n)
	return err == nil && tx.Bucket(bucketRevoked).Get(k) != nil
}

// PendingPickups returns how many bundles wait and the earliest expiry among them (zero when none).
func (s *Store) PendingPickups() (n int, next time.Time, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPickup)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var p Pickup
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("pickup %x: %w: %w", k[:min(4, len(k))], ErrCorrupt, err)
			}
			if p.State == PickupWaiting {
				n++
				if next.IsZero() || p.Expires.Before(next) {
					next = p.Expires
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: listing pickups: %w", err)
	}
	return n, next, nil
}

// ExpirePickups deletes the bundles whose time is over, each with an audit entry, and returns how many.
// It writes nothing when none is due.
func (s *Store) ExpirePickups(user string) (int, error) {
	if _, next, err := s.PendingPickups(); err != nil || next.IsZero() || s.now().Before(next) {
		return 0, err
	}
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketPickup)
		if b == nil {
			return nil
		}
		now := s.now()
		var keys [][sha256.Size]byte
		err := b.ForEach(func(k, _ []byte) error {
			if len(k) == sha256.Size {
				keys = append(keys, [sha256.Size]byte(bytes.Clone(k)))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			_, p, err := getPickup(tx, k)
			if err != nil {
				return err
			}
			done, err := expireIn(tx, b, k, p, PickupEvent{Key: k, User: user}, now)
			if err != nil {
				return err
			}
			if done {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: expiring pickups: %w", err)
	}
	return n, nil
}
