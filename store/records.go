package store

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"sort"

	"github.com/wsca/wsca/ca"
	bolt "go.etcd.io/bbolt"
)

// Add records recs in one transaction: the certificates, the name index,
// one "issue" audit entry per record (time IssuedAt, user IssuedBy) and,
// for records that arrive already revoked (an import), the revoked index
// and the scope's LastChange. Records are written in serial order, which
// bbolt handles far faster than random order. If any serial is already
// recorded or repeated in recs, Add fails with ErrDuplicateSerial and
// writes nothing; an invalid record fails with ErrInvalidRecord.
func (s *Store) Add(recs ...Record) error {
	type item struct {
		key []byte
		rec Record
	}
	items := make([]item, len(recs))
	for i, r := range recs {
		if err := validateRecord(r); err != nil {
			return fmt.Errorf("store: adding records: %w", err)
		}
		k, _ := serialKey(r.Serial)
		items[i] = item{k, r}
	}
	slices.SortFunc(items, func(a, b item) int { return bytes.Compare(a.key, b.key) })
	for i := 1; i < len(items); i++ {
		if bytes.Equal(items[i].key, items[i-1].key) {
			return fmt.Errorf("store: adding %x: %w (twice in one batch)", items[i].rec.Serial, ErrDuplicateSerial)
		}
	}
	err := s.update(func(tx *bolt.Tx) error {
		certs, names, revoked := tx.Bucket(bucketCerts), tx.Bucket(bucketNames), tx.Bucket(bucketRevoked)
		// Records arriving revoked come from an import or a bulk load, in
		// serial order: fill the revoked index's pages to 90% instead of
		// bbolt's default 50% (its documented setting for append-mostly
		// writes), so wsca crl walks, and maps, about half as many pages.
		// The setting lasts for this transaction only; Revoke keeps the
		// default, which suits its random single inserts.
		revoked.FillPercent = 0.9
		for _, it := range items {
			if certs.Get(it.key) != nil {
				return fmt.Errorf("adding %x: %w", it.rec.Serial, ErrDuplicateSerial)
			}
		}
		now := s.now()
		changed := map[string]bool{}
		for _, it := range items {
			v, err := encodeRecord(it.rec)
			if err != nil {
				return err
			}
			if err := certs.Put(it.key, v); err != nil {
				return err
			}
			if err := names.Put(nameKey(it.rec.Name, it.key), nil); err != nil {
				return err
			}
			if rev := it.rec.Revocation; rev != nil {
				if err := revoked.Put(it.key, encodeRevoked(it.rec)); err != nil {
					return err
				}
				changed[scopeOf(it.rec.Kind)] = true
			}
			e := AuditEntry{Time: it.rec.IssuedAt, Action: ActionIssue, Serial: ca.SerialHex(it.rec.Serial), Name: it.rec.Name, User: it.rec.IssuedBy}
			if it.rec.Revocation != nil {
				e.Detail = "imported revoked, reason=" + it.rec.Revocation.Reason.String()
			}
			if err := appendAudit(tx, e, now); err != nil {
				return err
			}
		}
		for scope := range changed {
			if err := touchScope(tx, scope, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// nameKey is name + 0x00 + serial key; names cannot contain 0x00, so a
// prefix scan on name + 0x00 finds exactly that name.
func nameKey(name string, skey []byte) []byte {
	k := make([]byte, 0, len(name)+1+len(skey))
	k = append(append(k, name...), 0)
	return append(k, skey...)
}

// Get returns the record with serial, or an error wrapping ErrNotFound.
func (s *Store) Get(serial *big.Int) (Record, error) {
	k, err := serialKey(serial)
	if err != nil {
		return Record{}, fmt.Errorf("store: getting %x: %w: %w", serial, ErrNotFound, err)
	}
	var r Record
	err = s.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getRecord(tx, k)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("store: getting %x: %w", serial, err)
	}
	return r, nil
}

func getRecord(tx *bolt.Tx, k []byte) (Record, error) {
	v := tx.Bucket(bucketCerts).Get(k)
	if v == nil {
		return Record{}, ErrNotFound
	}
	return decodeRecord(v)
}

// ByName returns every record filed under name, sorted by NotBefore
// ascending (ties by serial). An unknown name fails with ErrNotFound.
func (s *Store) ByName(name string) ([]Record, error) {
	var out []Record
	err := s.view(func(tx *bolt.Tx) error {
		prefix := append([]byte(name), 0)
		c := tx.Bucket(bucketNames).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			r, err := getRecord(tx, k[len(prefix):])
			if err != nil {
				return fmt.Errorf("%w: name index points at a missing record: %w", ErrCorrupt, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: listing %q: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("store: listing %q: %w", name, ErrNotFound)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].NotBefore.Before(out[j].NotBefore) })
	return out, nil
}

// Names calls fn once for every distinct name in the name index, in byte
// order, inside one read transaction; it reads no record. An error from fn
// stops the iteration and is returned as is.
func (s *Store) Names(fn func(name string) error) error {
	return s.view(func(tx *bolt.Tx) error {
		var last []byte
		c := tx.Bucket(bucketNames).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			i := bytes.IndexByte(k, 0)
			if i < 0 {
				return fmt.Errorf("store: name index key %x: %w", k, ErrCorrupt)
			}
			if last != nil && bytes.Equal(last, k[:i]) {
				continue
			}
			last = append(last[:0], k[:i]...)
			if err := call(func() error { return fn(string(k[:i])) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForEach calls fn for every record in serial order inside one read
// transaction. An error from fn stops the iteration and is returned as is.
func (s *Store) ForEach(fn func(Record) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketCerts).ForEach(func(k, v []byte) error {
			r, err := decodeRecord(v)
			if err != nil {
				return fmt.Errorf("store: record %x: %w", k, err)
			}
			return call(func() error { return fn(r) })
		})
	})
}

// putRecord encodes r and stores it under k in the certificates bucket;
// it returns the encoding or bbolt error.
func putRecord(tx *bolt.Tx, k []byte, r Record) error {
	v, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketCerts).Put(k, v)
}
