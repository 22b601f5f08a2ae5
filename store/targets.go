package store

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Copy targets are the places outside the CA directory that must always hold the same bytes as crl.pem (a
// relay's copy, a web root). They live in the settings bucket, one key per target, so that they survive
// backup and restore with the rest of the CA and every CRL run — by hand, by timer, or by wsca revoke —
// refreshes all of them: a copy that only the run naming it refreshed was how a revocation sat unpublished
// for days (issue 10).
const targetPrefix = "crl_copy_target:"

// AddCRLTarget registers path (which must be absolute and clean) as a copy target and records it in the audit
// log. It reports false when path was already registered, and then changes nothing.
func (s *Store) AddCRLTarget(path, by string) (bool, error) {
	return s.changeTarget(path, by, true)
}

// RemoveCRLTarget forgets the copy target path and records it in the audit log. It reports false when path was
// not registered, and then changes nothing. The file itself is left alone.
func (s *Store) RemoveCRLTarget(path, by string) (bool, error) {
	return s.changeTarget(path, by, false)
}

func (s *Store) changeTarget(path, by string, add bool) (bool, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path || strings.ContainsRune(path, 0) {
		return false, fmt.Errorf("store: copy target %q: %w: want an absolute, clean path", path, ErrInvalidRecord)
	}
	key := []byte(targetPrefix + path)
	changed := false
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSettings)
		if err != nil {
			return err
		}
		if (b.Get(key) != nil) == add {
			return nil
		}
		changed = true
		detail := "removed copy target " + path
		if add {
			detail = "added copy target " + path
			err = b.Put(key, []byte(s.now().UTC().Format("2006-01-02T15:04:05Z")))
		} else {
			err = b.Delete(key)
		}
		if err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{Action: ActionTarget, User: by, Detail: detail}, s.now())
	})
	if err != nil {
		return false, fmt.Errorf("store: changing copy target %s: %w", path, err)
	}
	return changed, nil
}

// CRLTargets returns the registered copy targets, sorted.
func (s *Store) CRLTargets() ([]string, error) {
	var out []string
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSettings)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		prefix := []byte(targetPrefix)
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			out = append(out, string(k[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: reading copy targets: %w", err)
	}
	return out, nil
}
