package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketSettings holds CA-wide settings chosen at init (e.g. the CRL distribution point URL).
var bucketSettings = []byte("settings")

// SetSetting stores a CA-wide setting; an empty value removes it.
func (s *Store) SetSetting(key, value string) error {
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSettings)
		if err != nil {
			return err
		}
		if value == "" {
			return b.Delete([]byte(key))
		}
		return b.Put([]byte(key), []byte(value))
	})
	if err != nil {
		return fmt.Errorf("store: setting %s: %w", key, err)
	}
	return nil
}

// Setting returns a CA-wide setting, or "" when it was never set.
func (s *Store) Setting(key string) (string, error) {
	var v string
	err := s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSettings); b != nil {
			v = string(b.Get([]byte(key)))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("store: reading setting %s: %w", key, err)
	}
	return v, nil
}
