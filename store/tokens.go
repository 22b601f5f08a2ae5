package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketTokens holds one-time enrollment tokens (wsca issue NAME --token), keyed by the SHA-256 of the token.
// Only the hash is stored: a copy of wsca.db (a backup) does not let anyone enroll. A plain hash is enough
// because a token is 128 random bits, not a password: there is nothing to guess offline.
var bucketTokens = []byte("tokens")

// Audit actions for enrollment tokens.
const (
	ActionToken         Action = "token"          // a token was created
	ActionTokenUse      Action = "token-use"      // a token was consumed by an enrollment
	ActionEnrollRefused Action = "enroll-refused" // wsca enroll refused a request (audited with the reason)
)

// ErrTokenExpired means the enrollment token exists but its time is over; it is deleted when found so.
var ErrTokenExpired = errors.New("enrollment token expired")

// Token is what a one-time enrollment token allows: one certificate for Name with the identity the admin
// decided when creating it (never the identity of the enrolling CSR).
type Token struct {
	Name         string        `json:"name"`
	Kind         string        `json:"kind"`
	OU           string        `json:"ou,omitempty"`
	Organization string        `json:"o,omitempty"`
	Emails       []string      `json:"emails,omitempty"`
	URIs         []string      `json:"uris,omitempty"`
	Validity     time.Duration `json:"validity"`
	Expires      time.Time     `json:"expires"`
	CreatedAt    time.Time     `json:"created_at"`
	CreatedBy    string        `json:"created_by,omitempty"`
}

// TokenKey is the database key of token: its SHA-256, hex-encoded in audit entries as the token's id.
func TokenKey(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// AddToken stores the hash of token with what it allows and audits its creation (the token's id is the first
// 8 bytes of its hash, never the token). An empty name, token or expiry fails with ErrInvalidRecord.
func (s *Store) AddToken(token string, t Token) error {
	if t.Name == "" || t.Expires.IsZero() || token == "" {
		return fmt.Errorf("store: adding token: %w: name, token and expiry are required", ErrInvalidRecord)
	}
	v, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("store: adding token: %w", err)
	}
	key := TokenKey(token)
	err = s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketTokens)
		if err != nil {
			return err
		}
		if b.Get(key) != nil {
			return errors.New("token exists")
		}
		if err := b.Put(key, v); err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{Time: t.CreatedAt, Action: ActionToken, Name: t.Name, User: t.CreatedBy,
			Detail: "id=" + hex.EncodeToString(key[:8]) + " expires=" + t.Expires.UTC().Format(time.RFC3339)}, s.now())
	})
	if err != nil {
		return fmt.Errorf("store: adding token for %q: %w", t.Name, err)
	}
	return nil
}

// PeekToken returns what token allows without consuming it, or an error wrapping ErrNotFound (unknown or
// already used) or ErrTokenExpired.
func (s *Store) PeekToken(token string, now time.Time) (Token, error) {
	var t Token
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		t, err = getToken(tx, TokenKey(token), now)
		return err
	})
	if err != nil {
		return Token{}, fmt.Errorf("store: enrollment token: %w", err)
	}
	return t, nil
}

// ConsumeToken deletes token and audits its use by who (an address) in one transaction, and returns what it
// allowed. A second call fails with ErrNotFound: a token is used once. An expired token is deleted and fails
// with ErrTokenExpired.
func (s *Store) ConsumeToken(token string, now time.Time, who string) (Token, error) {
	key := TokenKey(token)
	var t Token
	expired := false
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		t, err = getToken(tx, key, now)
		if errors.Is(err, ErrTokenExpired) {
			expired = true
		} else if err != nil {
			return err
		}
		if err := tx.Bucket(bucketTokens).Delete(key); err != nil {
			return err
		}
		detail := "id=" + hex.EncodeToString(key[:8]) + " by " + who
		if expired {
			detail += " refused: expired"
		}
		return appendAudit(tx, AuditEntry{Time: now, Action: ActionTokenUse, Name: t.Name, Detail: detail}, s.now())
	})
	if err == nil && expired {
		err = ErrTokenExpired
	}
	if err != nil {
		return Token{}, fmt.Errorf("store: enrollment token: %w", err)
	}
	return t, nil
}

func getToken(tx *bolt.Tx, key []byte, now time.Time) (Token, error) {
	b := tx.Bucket(bucketTokens)
	if b == nil {
		return Token{}, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return Token{}, ErrNotFound
	}
	var t Token
	if err := json.Unmarshal(v, &t); err != nil {
		return Token{}, fmt.Errorf("%w: token record: %w", ErrCorrupt, err)
	}
	if now.After(t.Expires) {
		return t, ErrTokenExpired
	}
	return t, nil
}
