package store

import (
	"errors"
	"fmt"
	"math/big"

	bolt "go.etcd.io/bbolt"
)

// ErrCRLNumberDecrease means SetCRLNumber was asked to move a scope's CRL
// number backwards, which RFC 5280 5.2.3 forbids (CRL numbers strictly
// increase); nothing was written.
var ErrCRLNumberDecrease = errors.New("CRL number would decrease")

// maxCRLNumberBits bounds a CRL number: RFC 5280 5.2.3 allows at most 20
// octets, and a positive DER INTEGER of 20 octets has at most 159 value bits.
const maxCRLNumberBits = 159

// SetCRLNumber records n as the last CRL number used for scope, so the next
// NextCRLNumber returns n+1. It is for taking over a CA whose old tooling
// already published CRLs up to n. Setting the current number again is a
// no-op; a lower number fails with ErrCRLNumberDecrease, a negative or
// over-long number (more than 20 octets) with ErrInvalidRecord, and an
// unknown scope with a plain error. Other CRL state (dates) is kept.
func (s *Store) SetCRLNumber(scope string, n *big.Int) error {
	if err := checkScope(scope); err != nil {
		return fmt.Errorf("store: setting CRL number: %w", err)
	}
	if n == nil || n.Sign() < 0 || n.BitLen() > maxCRLNumberBits {
		return fmt.Errorf("store: setting %s CRL number: %w: must be 0 to 2^159-1", scope, ErrInvalidRecord)
	}
	err := s.update(func(tx *bolt.Tx) error {
		st, err := getCRLState(tx, scope)
		if err != nil {
			return err
		}
		switch st.Number.Cmp(n) {
		case 0:
			return nil
		case 1:
			return fmt.Errorf("%w: it is already %s", ErrCRLNumberDecrease, st.Number)
		}
		st.Number.Set(n)
		return putCRLState(tx, scope, st)
	})
	if err != nil {
		return fmt.Errorf("store: setting %s CRL number to %s: %w", scope, n, err)
	}
	return nil
}
