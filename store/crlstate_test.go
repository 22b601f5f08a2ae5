package store

import (
	"math/big"
	"testing"
	"time"
)

func TestCRLNumbers(t *testing.T) {
	s, path := testStore(t)
	var prev int64
	for i := range 6 {
		if i == 3 {
			s = reopen(t, s, path)
		}
		n, err := s.NextCRLNumber(ScopeIntermediate)
		if err != nil {
			t.Fatal(err)
		}
		if n.Int64() != prev+1 {
			t.Fatalf("number %v after %d", n, prev)
		}
		prev = n.Int64()
	}
	if n, _ := s.NextCRLNumber(ScopeRoot); n.Int64() != 1 {
		t.Fatalf("root scope starts at %v", n)
	}
	if _, err := s.NextCRLNumber("bogus"); err == nil {
		t.Fatal("bogus scope accepted")
	}
	this, next := t0, t0.Add(7*24*time.Hour)
	if err := s.RecordCRL(ScopeIntermediate, big.NewInt(6), this, next); err != nil {
		t.Fatal(err)
	}
	// A lower number never moves the counter back; a higher one (import) moves it forward.
	if err := s.RecordCRL(ScopeRoot, big.NewInt(1000), this, next); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	st, err := s.CRLState(ScopeIntermediate)
	if err != nil {
		t.Fatal(err)
	}
	if st.Number.Int64() != 6 || !st.ThisUpdate.Equal(this) || !st.NextUpdate.Equal(next) {
		t.Fatalf("state %+v", st)
	}
	if n, _ := s.NextCRLNumber(ScopeRoot); n.Int64() != 1001 {
		t.Fatalf("root after import of 1000: %v", n)
	}
	if err := s.RecordCRL(ScopeRoot, big.NewInt(5), this, next); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.NextCRLNumber(ScopeRoot); n.Int64() != 1002 {
		t.Fatalf("root after recording lower number: %v", n)
	}
	st, _ = s.CRLState(ScopeRoot)
	if st.Number.Int64() != 1002 {
		t.Fatalf("root state number %v", st.Number)
	}
}
