package store

import (
	"encoding/json"
	"fmt"
	"math/big"
	"time"

	bolt "go.etcd.io/bbolt"
)

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
