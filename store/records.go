package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"sort"
	"time"

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

// Revoke marks serial revoked with rev, updates the revoked index and the
// LastChange of the CRL scope the certificate appears on, and appends a
// "revoke" audit entry (user rev.By). It fails with ErrNotFound,
// ErrAlreadyRevoked (the message says when and why), or ErrInvalidRecord
// for a zero time, a reason that cannot be chosen, or a root certificate.
// It returns the updated record.
func (s *Store) Revoke(serial *big.Int, rev Revocation) (Record, error) {
	k, err := serialKey(serial)
	if err != nil {
		return Record{}, fmt.Errorf("store: revoking %x: %w: %w", serial, ErrNotFound, err)
	}
	var r Record
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		if r, err = getRecord(tx, k); err != nil {
			return err
		}
		if old := r.Revocation; old != nil {
			return fmt.Errorf("%w on %s (reason %s, by %q)", ErrAlreadyRevoked,
				old.At.UTC().Format(time.RFC3339), old.Reason, old.By)
		}
		if err := validateRevocation(r.Kind, rev); err != nil {
			return err
		}
		r.Revocation = &Revocation{At: rev.At.UTC(), Reason: rev.Reason, By: rev.By}
		if err := putRecord(tx, k, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRevoked).Put(k, encodeRevoked(r)); err != nil {
			return err
		}
		now := s.now()
		if err := touchScope(tx, scopeOf(r.Kind), now); err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{
			Time: now, Action: ActionRevoke, Serial: ca.SerialHex(r.Serial), Name: r.Name, User: rev.By,
			Detail: "reason=" + rev.Reason.String() + " at=" + rev.At.UTC().Format(time.RFC3339),
		}, now)
	})
	if err != nil {
		return Record{}, fmt.Errorf("store: revoking %x: %w", serial, err)
	}
	return r, nil
}

// Unrevoke lifts a certificateHold revocation (RFC 5280 5.3.1: the only
// reversible reason), removes it from the revoked index, bumps the scope's
// LastChange so the next CRL drops it, and appends an "unrevoke" audit
// entry. It fails with ErrNotFound, or ErrNotOnHold if the certificate is
// not revoked or was revoked for another reason.
func (s *Store) Unrevoke(serial *big.Int, by string) (Record, error) {
	k, err := serialKey(serial)
	if err != nil {
		return Record{}, fmt.Errorf("store: unrevoking %x: %w: %w", serial, ErrNotFound, err)
	}
	var r Record
	err = s.update(func(tx *bolt.Tx) error {
		var err error
		if r, err = getRecord(tx, k); err != nil {
			return err
		}
		if r.Revocation == nil {
			return fmt.Errorf("%w (it is not revoked)", ErrNotOnHold)
		}
		if r.Revocation.Reason != CertificateHold {
			return fmt.Errorf("%w (revoked for %s, which is final)", ErrNotOnHold, r.Revocation.Reason)
		}
		r.Revocation = nil
		if err := putRecord(tx, k, r); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRevoked).Delete(k); err != nil {
			return err
		}
		now := s.now()
		if err := touchScope(tx, scopeOf(r.Kind), now); err != nil {
			return err
		}
		return appendAudit(tx, AuditEntry{
			Time: now, Action: ActionUnrevoke, Serial: ca.SerialHex(r.Serial), Name: r.Name, User: by,
			Detail: "hold lifted",
		}, now)
	})
	if err != nil {
		return Record{}, fmt.Errorf("store: unrevoking %x: %w", serial, err)
	}
	return r, nil
}

func putRecord(tx *bolt.Tx, k []byte, r Record) error {
	v, err := encodeRecord(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketCerts).Put(k, v)
}

// revokedFixedLen is the fixed part of a revoked-bucket value: revocation
// time (int64 s + uint32 ns), reason (1 byte), NotAfter (int64 s + uint32
// ns). The kind string follows. Seconds rather than UnixNano because
// NotAfter may be 9999-12-31 (RFC 5280 4.1.2.5), beyond int64 nanoseconds.
const revokedFixedLen = 12 + 1 + 12

func encodeRevoked(r Record) []byte {
	b := make([]byte, 0, revokedFixedLen+len(r.Kind))
	b = appendTime(b, r.Revocation.At)
	b = append(b, byte(r.Revocation.Reason))
	b = appendTime(b, r.NotAfter)
	return append(b, r.Kind...)
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// revokedEntry is a decoded revoked-bucket value; kind aliases the bbolt
// page and is only valid inside the transaction.
type revokedEntry struct {
	at, notAfter time.Time
	reason       Reason
	kind         []byte
}

func decodeRevoked(v []byte) (revokedEntry, error) {
	if len(v) < revokedFixedLen {
		return revokedEntry{}, fmt.Errorf("%w: revoked entry has %d bytes", ErrCorrupt, len(v))
	}
	return revokedEntry{
		at:       readTime(v),
		reason:   Reason(v[12]),
		notAfter: readTime(v[13:]),
		kind:     v[revokedFixedLen:],
	}, nil
}

// ForEachRevoked calls fn, in serial order, for every revoked record whose
// Kind is in kinds. It walks the revoked index and decodes only matching
// records. An error from fn stops the iteration and is returned as is.
func (s *Store) ForEachRevoked(kinds []Kind, fn func(Record) error) error {
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRevoked).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decodeRevoked(v)
			if err != nil {
				return fmt.Errorf("store: revoked %x: %w", k, err)
			}
			if !slices.Contains(kinds, Kind(e.kind)) {
				continue
			}
			r, err := getRecord(tx, k)
			if err != nil {
				return fmt.Errorf("store: revoked %x: record: %w", k, err)
			}
			if err := call(func() error { return fn(r) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// ForEachRevokedEntry calls fn, in serial order, for every certificate
// revoked on the CRL of scope ("intermediate": every leaf; "root":
// intermediates), with its revocation time, reason and NotAfter (so the CRL
// builder can leave out expired certificates). It reads only the compact
// revoked index, never the JSON records. The *big.Int passed to fn is fresh
// for each call and may be kept. An error from fn stops the iteration and
// is returned as is.
func (s *Store) ForEachRevokedEntry(scope string, fn func(serial *big.Int, at time.Time, reason Reason, notAfter time.Time) error) error {
	return s.ForEachRevokedSerial(scope, func(serial []byte, at time.Time, reason Reason, notAfter time.Time) error {
		return fn(new(big.Int).SetBytes(serial), at, reason, notAfter)
	})
}

// ForEachRevokedSerial is ForEachRevokedEntry without an allocation per
// entry: serial is the serial number's big-endian magnitude with no leading
// zero octets (never empty), read straight from the database. It is valid
// only until fn returns and must not be modified; copy it to keep it. At a
// million revocations this saves two million allocations per CRL.
func (s *Store) ForEachRevokedSerial(scope string, fn func(serial []byte, at time.Time, reason Reason, notAfter time.Time) error) error {
	if err := checkScope(scope); err != nil {
		return fmt.Errorf("store: listing revocations: %w", err)
	}
	return s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRevoked).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			e, err := decodeRevoked(v)
			if err != nil {
				return fmt.Errorf("store: revoked %x: %w", k, err)
			}
			if scopeOf(Kind(e.kind)) != scope {
				continue
			}
			serial := k
			for len(serial) > 0 && serial[0] == 0 {
				serial = serial[1:]
			}
			if len(serial) == 0 {
				return fmt.Errorf("store: revoked %x: %w: zero serial", k, ErrCorrupt)
			}
			// The slice aliases the read-only mmap: capping it makes an
			// append by fn copy instead of writing into the page.
			serial = serial[:len(serial):len(serial)]
			if err := call(func() error { return fn(serial, e.at, e.reason, e.notAfter) }); err != nil {
				return err
			}
		}
		return nil
	})
}

// CRLState is what the database knows about one scope's CRL.
type CRLState struct {
	Number     *big.Int  // last number handed out by NextCRLNumber or recorded; 0 if none
	ThisUpdate time.Time // of the last CRL recorded with RecordCRL; zero if none
	NextUpdate time.Time
	LastChange time.Time // last revocation or unrevocation in this scope; zero if none
}

type storedCRLState struct {
	Number     string    `json:"number"` // decimal
	ThisUpdate time.Time `json:"this_update"`
	NextUpdate time.Time `json:"next_update"`
	LastChange time.Time `json:"last_change"`
}

func checkScope(scope string) error {
	if scope != ScopeIntermediate && scope != ScopeRoot {
		return fmt.Errorf("unknown CRL scope %q (want %q or %q)", scope, ScopeIntermediate, ScopeRoot)
	}
	return nil
}

func getCRLState(tx *bolt.Tx, scope string) (CRLState, error) {
	st := CRLState{Number: new(big.Int)}
	v := tx.Bucket(bucketCRL).Get([]byte(scope))
	if v == nil {
		return st, nil
	}
	var ss storedCRLState
	if err := json.Unmarshal(v, &ss); err != nil {
		return st, fmt.Errorf("%w: crl state %q: %w", ErrCorrupt, scope, err)
	}
	if _, ok := st.Number.SetString(ss.Number, 10); !ok {
		return st, fmt.Errorf("%w: crl state %q: number %q", ErrCorrupt, scope, ss.Number)
	}
	st.ThisUpdate, st.NextUpdate, st.LastChange = ss.ThisUpdate, ss.NextUpdate, ss.LastChange
	return st, nil
}

func putCRLState(tx *bolt.Tx, scope string, st CRLState) error {
	v, err := json.Marshal(storedCRLState{
		Number: st.Number.String(), ThisUpdate: st.ThisUpdate.UTC(),
		NextUpdate: st.NextUpdate.UTC(), LastChange: st.LastChange.UTC(),
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketCRL).Put([]byte(scope), v)
}

// touchScope sets the scope's LastChange to now: the store clock, not the
// revocation time, because a back-dated revocation must still make the
// published CRL stale.
func touchScope(tx *bolt.Tx, scope string, now time.Time) error {
	st, err := getCRLState(tx, scope)
	if err != nil {
		return err
	}
	st.LastChange = now.UTC()
	return putCRLState(tx, scope, st)
}

// NextCRLNumber increments the scope's CRL number and commits it before
// returning, so a number is never reused even if the process dies before
// the CRL is written (RFC 5280 5.2.3: CRL numbers strictly increase). The
// first number is 1.
func (s *Store) NextCRLNumber(scope string) (*big.Int, error) {
	if err := checkScope(scope); err != nil {
		return nil, fmt.Errorf("store: next CRL number: %w", err)
	}
	var n *big.Int
	err := s.update(func(tx *bolt.Tx) error {
		st, err := getCRLState(tx, scope)
		if err != nil {
			return err
		}
		st.Number.Add(st.Number, big.NewInt(1))
		n = new(big.Int).Set(st.Number)
		return putCRLState(tx, scope, st)
	})
	if err != nil {
		return nil, fmt.Errorf("store: next %s CRL number: %w", scope, err)
	}
	return n, nil
}

// RecordCRL records that a CRL for scope with number, thisUpdate and
// nextUpdate was written. The stored number only ever grows: recording a
// higher number (an imported CA's last CRL) moves the counter forward, a
// lower one leaves it.
func (s *Store) RecordCRL(scope string, number *big.Int, thisUpdate, nextUpdate time.Time) error {
	if err := checkScope(scope); err != nil {
		return fmt.Errorf("store: recording CRL: %w", err)
	}
	if number == nil || number.Sign() < 0 {
		return fmt.Errorf("store: recording %s CRL: number must be non-negative", scope)
	}
	err := s.update(func(tx *bolt.Tx) error {
		st, err := getCRLState(tx, scope)
		if err != nil {
			return err
		}
		if number.Cmp(st.Number) > 0 {
			st.Number.Set(number)
		}
		st.ThisUpdate, st.NextUpdate = thisUpdate.UTC(), nextUpdate.UTC()
		return putCRLState(tx, scope, st)
	})
	if err != nil {
		return fmt.Errorf("store: recording %s CRL %s: %w", scope, number, err)
	}
	return nil
}

// CRLState returns what is recorded for scope; a scope with no history has
// Number 0 and zero times.
func (s *Store) CRLState(scope string) (CRLState, error) {
	if err := checkScope(scope); err != nil {
		return CRLState{}, fmt.Errorf("store: CRL state: %w", err)
	}
	var st CRLState
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		st, err = getCRLState(tx, scope)
		return err
	})
	if err != nil {
		return CRLState{}, fmt.Errorf("store: %s CRL state: %w", scope, err)
	}
	return st, nil
}
