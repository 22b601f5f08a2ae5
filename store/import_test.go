package store

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestSetCRLNumber(t *testing.T) {
	s, path := testStore(t)
	big20 := new(big.Int).Lsh(big.NewInt(1), 159) // 2^159: 21 octets as a positive INTEGER
	tests := []struct {
		name  string
		scope string
		n     *big.Int
		want  error
		text  string
	}{
		{"set", ScopeIntermediate, big.NewInt(41), nil, ""},
		{"same again is a no-op", ScopeIntermediate, big.NewInt(41), nil, ""},
		{"lower refused", ScopeIntermediate, big.NewInt(40), ErrCRLNumberDecrease, "already 41"},
		{"zero refused after 41", ScopeIntermediate, big.NewInt(0), ErrCRLNumberDecrease, ""},
		{"negative", ScopeIntermediate, big.NewInt(-1), ErrInvalidRecord, ""},
		{"nil", ScopeIntermediate, nil, ErrInvalidRecord, ""},
		{"over 20 octets", ScopeIntermediate, big20, ErrInvalidRecord, ""},
		{"unknown scope", "leaf", big.NewInt(1), nil, "unknown CRL scope"},
		{"other scope independent", ScopeRoot, big.NewInt(7), nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetCRLNumber(tt.scope, tt.n)
			if tt.want == nil && tt.text == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("got %v, want %v %q", err, tt.want, tt.text)
			}
		})
	}
	s = reopen(t, s, path)
	n, err := s.NextCRLNumber(ScopeIntermediate)
	if err != nil || n.Int64() != 42 {
		t.Fatalf("next intermediate number %v, %v; want 42", n, err)
	}
	if n, err := s.NextCRLNumber(ScopeRoot); err != nil || n.Int64() != 8 {
		t.Fatalf("next root number %v, %v; want 8", n, err)
	}
	if err := s.SetCRLNumber(ScopeIntermediate, big.NewInt(41)); !errors.Is(err, ErrCRLNumberDecrease) {
		t.Fatalf("lowering below a handed-out number: %v", err)
	}
}
