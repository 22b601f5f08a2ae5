package store

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// TestForEachRevokedSerial checks that the allocation-free walk yields the
// same entries as ForEachRevokedEntry, with minimal big-endian magnitudes,
// honours the scope, and stops on the callback's error.
func TestForEachRevokedSerial(t *testing.T) {
	s, _ := testStore(t)
	at := t0.Add(time.Hour)
	big20, _ := new(big.Int).SetString("ff"+"0102030405060708090a0b0c0d0e0f10111213", 16)
	serials := []*big.Int{big.NewInt(1), big.NewInt(0x80), big.NewInt(0x1234), big20}
	var recs []Record
	for i, n := range serials {
		r := rec(int64(i+1), "u", "client")
		r.Serial = n
		r.Revocation = &Revocation{At: at, Reason: KeyCompromise, By: "ops"}
		recs = append(recs, r)
	}
	ca := rec(99, "ca", "intermediate")
	ca.Revocation = &Revocation{At: at, Reason: CACompromise, By: "ops"}
	if err := s.Add(append(recs, ca)...); err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	err := s.ForEachRevokedSerial(ScopeIntermediate, func(serial []byte, a time.Time, r Reason, na time.Time) error {
		if !a.Equal(at) || r != KeyCompromise || !na.Equal(t0.Add(365*24*time.Hour)) {
			t.Errorf("entry %x: %v %v %v", serial, a, r, na)
		}
		got = append(got, bytes.Clone(serial))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(serials) {
		t.Fatalf("%d entries, want %d", len(got), len(serials))
	}
	for i, n := range serials {
		if !bytes.Equal(got[i], n.Bytes()) {
			t.Errorf("entry %d = %x, want %x", i, got[i], n.Bytes())
		}
	}
	var root []byte
	if err := s.ForEachRevokedSerial(ScopeRoot, func(serial []byte, _ time.Time, _ Reason, _ time.Time) error {
		root = append(root, serial...)
		return nil
	}); err != nil || !bytes.Equal(root, []byte{99}) {
		t.Errorf("root scope: %x, %v", root, err)
	}
	stop := errors.New("stop")
	calls := 0
	if err := s.ForEachRevokedSerial(ScopeIntermediate, func([]byte, time.Time, Reason, time.Time) error {
		calls++
		return stop
	}); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("stop: %v after %d calls", err, calls)
	}
	if err := s.ForEachRevokedSerial("leaf", func([]byte, time.Time, Reason, time.Time) error { return nil }); err == nil {
		t.Error("unknown scope accepted")
	}
}

// TestAddPacksRevokedIndex checks that a bulk Add of revoked records fills
// the revoked index's leaf pages well beyond bbolt's default 50%, which is
// what keeps wsca crl's mapped pages few.
func TestAddPacksRevokedIndex(t *testing.T) {
	s, _ := testStore(t)
	const n = 20_000
	recs := make([]Record, 0, n)
	for i := range n {
		r := rec(int64(i+1), "u", "client")
		r.Serial = new(big.Int).Lsh(big.NewInt(int64(i+1)), 100)
		r.Revocation = &Revocation{At: t0, Reason: Superseded, By: "ops"}
		recs = append(recs, r)
	}
	if err := s.Add(recs...); err != nil {
		t.Fatal(err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		st := tx.Bucket(bucketRevoked).Stats()
		if st.KeyN != n {
			t.Fatalf("revoked index holds %d keys, want %d", st.KeyN, n)
		}
		fill := float64(st.LeafInuse) / float64(st.LeafAlloc)
		if fill < 0.8 {
			t.Errorf("revoked index leaf pages %.0f%% full (%d pages), want ≥ 80%%", 100*fill, st.LeafPageN)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
