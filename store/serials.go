package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// ForEachSerial calls fn, in serial order, with the serial number of every recorded certificate (leaves and
// CAs alike) as its big-endian magnitude without leading zero octets. It reads only the keys of the certs
// bucket, never the JSON records, so an OCSP responder can learn which serials exist in one short read
// transaction. serial is valid only until fn returns and must not be modified. An error from fn stops the
// iteration and is returned as is.
func (s *Store) ForEachSerial(fn func(serial []byte) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketCerts).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			serial := k
			for len(serial) > 0 && serial[0] == 0 {
				serial = serial[1:]
			}
			if len(serial) == 0 {
				return fmt.Errorf("store: certificate %x: %w: zero serial", k, ErrCorrupt)
			}
			serial = serial[:len(serial):len(serial)]
			if err := call(func() error { return fn(serial) }); err != nil {
				return err
			}
		}
		return nil
	})
}
