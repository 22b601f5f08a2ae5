package store

import (
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRevokeUnrevoke(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Add(rec(1, "a", "client"), rec(2, "b", "client"), rec(3, "i", "intermediate"), rec(4, "r", "root")); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Hour)
	steps := []struct {
		name    string
		op      func() (Record, error)
		wantErr error
		status  string
	}{
		{"revoke unknown", func() (Record, error) { return s.Revoke(big.NewInt(99), Revocation{At: at}) }, ErrNotFound, ""},
		{"revoke root", func() (Record, error) { return s.Revoke(big.NewInt(4), Revocation{At: at}) }, ErrInvalidRecord, ""},
		{"revoke removeFromCRL", func() (Record, error) {
			return s.Revoke(big.NewInt(1), Revocation{At: at, Reason: RemoveFromCRL})
		}, ErrInvalidRecord, ""},
		{"revoke zero time", func() (Record, error) { return s.Revoke(big.NewInt(1), Revocation{Reason: KeyCompromise}) }, ErrInvalidRecord, ""},
		{"revoke 1", func() (Record, error) {
			return s.Revoke(big.NewInt(1), Revocation{At: at, Reason: KeyCompromise, By: "ops"})
		}, nil, StatusRevoked},
		{"revoke 1 again", func() (Record, error) { return s.Revoke(big.NewInt(1), Revocation{At: at, Reason: Superseded}) }, ErrAlreadyRevoked, ""},
		{"unrevoke keyCompromise", func() (Record, error) { return s.Unrevoke(big.NewInt(1), "ops") }, ErrNotOnHold, ""},
		{"unrevoke not revoked", func() (Record, error) { return s.Unrevoke(big.NewInt(2), "ops") }, ErrNotOnHold, ""},
		{"unrevoke unknown", func() (Record, error) { return s.Unrevoke(big.NewInt(99), "ops") }, ErrNotFound, ""},
		{"hold 2", func() (Record, error) {
			return s.Revoke(big.NewInt(2), Revocation{At: at, Reason: CertificateHold, By: "ops"})
		}, nil, StatusRevoked},
		{"unrevoke 2", func() (Record, error) { return s.Unrevoke(big.NewInt(2), "ops") }, nil, StatusValid},
		{"unrevoke 2 again", func() (Record, error) { return s.Unrevoke(big.NewInt(2), "ops") }, ErrNotOnHold, ""},
		{"revoke intermediate", func() (Record, error) {
			return s.Revoke(big.NewInt(3), Revocation{At: at, Reason: CACompromise})
		}, nil, StatusRevoked},
	}
	for _, st := range steps {
		r, err := st.op()
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("%s: %v, want %v", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := r.Status(t0); got != st.status {
			t.Fatalf("%s: returned status %q, want %q", st.name, got, st.status)
		}
		stored, _ := s.Get(r.Serial)
		if got := stored.Status(t0); got != st.status {
			t.Fatalf("%s: stored status %q, want %q", st.name, got, st.status)
		}
	}
	_, err := s.Revoke(big.NewInt(1), Revocation{At: at, Reason: Superseded})
	for _, want := range []string{"revoking 1:", "keyCompromise", "by \"ops\"", at.Format(time.RFC3339)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ErrAlreadyRevoked message %q lacks %q", err, want)
		}
	}

	got, _ := s.Get(big.NewInt(1))
	if rv := got.Revocation; rv == nil || !rv.At.Equal(at) || rv.Reason != KeyCompromise || rv.By != "ops" {
		t.Fatalf("revocation stored as %+v", got.Revocation)
	}

	type entry struct {
		serial int64
		reason Reason
	}
	collect := func(scope string) []entry {
		var out []entry
		err := s.ForEachRevokedEntry(scope, func(n *big.Int, a time.Time, r Reason, na time.Time) error {
			if !a.Equal(at) || !na.Equal(t0.Add(365*24*time.Hour)) {
				t.Errorf("entry %v: at %v notAfter %v", n, a, na)
			}
			out = append(out, entry{n.Int64(), r})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := collect(ScopeIntermediate); !slices.Equal(got, []entry{{1, KeyCompromise}}) {
		t.Errorf("intermediate scope: %v", got)
	}
	if got := collect(ScopeRoot); !slices.Equal(got, []entry{{3, CACompromise}}) {
		t.Errorf("root scope: %v", got)
	}
	if err := s.ForEachRevokedEntry("leaf", func(*big.Int, time.Time, Reason, time.Time) error { return nil }); err == nil {
		t.Error("unknown scope accepted")
	}
	var kinds []int64
	if err := s.ForEachRevoked([]Kind{"client", "intermediate"}, func(r Record) error {
		kinds = append(kinds, r.Serial.Int64())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(kinds, []int64{1, 3}) {
		t.Errorf("ForEachRevoked = %v", kinds)
	}
	kinds = nil
	_ = s.ForEachRevoked([]Kind{"server"}, func(r Record) error { kinds = append(kinds, r.Serial.Int64()); return nil })
	if len(kinds) != 0 {
		t.Errorf("ForEachRevoked(server) = %v", kinds)
	}
}

func TestLastChange(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Add(rec(1, "a", "client"), rec(2, "i", "intermediate")); err != nil {
		t.Fatal(err)
	}
	last := func(scope string) time.Time {
		st, err := s.CRLState(scope)
		if err != nil {
			t.Fatal(err)
		}
		return st.LastChange
	}
	if !last(ScopeIntermediate).IsZero() || !last(ScopeRoot).IsZero() {
		t.Fatal("LastChange set before any revocation")
	}
	// A back-dated revocation must still move LastChange forward.
	if _, err := s.Revoke(big.NewInt(1), Revocation{At: t0.Add(-time.Hour), Reason: CertificateHold}); err != nil {
		t.Fatal(err)
	}
	l1 := last(ScopeIntermediate)
	if !l1.After(t0) || !last(ScopeRoot).IsZero() {
		t.Fatalf("after leaf revoke: intermediate %v root %v", l1, last(ScopeRoot))
	}
	if _, err := s.Unrevoke(big.NewInt(1), "ops"); err != nil {
		t.Fatal(err)
	}
	if l2 := last(ScopeIntermediate); !l2.After(l1) {
		t.Fatalf("unrevoke did not bump LastChange: %v then %v", l1, l2)
	}
	if _, err := s.Revoke(big.NewInt(2), Revocation{At: t0, Reason: Superseded}); err != nil {
		t.Fatal(err)
	}
	if last(ScopeRoot).IsZero() {
		t.Fatal("intermediate revoke did not touch root scope")
	}
	// Import of an already revoked record maintains the index and LastChange.
	s2, _ := testStore(t)
	imp := rec(7, "old", "server")
	imp.Revocation = &Revocation{At: t0, Reason: Superseded, By: "import"}
	if err := s2.Add(imp, rec(8, "ok", "server")); err != nil {
		t.Fatal(err)
	}
	var n []int64
	_ = s2.ForEachRevokedEntry(ScopeIntermediate, func(x *big.Int, _ time.Time, _ Reason, _ time.Time) error {
		n = append(n, x.Int64())
		return nil
	})
	st, _ := s2.CRLState(ScopeIntermediate)
	if !slices.Equal(n, []int64{7}) || st.LastChange.IsZero() {
		t.Fatalf("import: revoked %v, LastChange %v", n, st.LastChange)
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		in   string
		want Reason
		ok   bool
	}{
		{"unspecified", Unspecified, true},
		{"keyCompromise", KeyCompromise, true},
		{"KEYCOMPROMISE", KeyCompromise, true},
		{"key-compromise", KeyCompromise, true},
		{"key_compromise", KeyCompromise, true},
		{"cACompromise", CACompromise, true},
		{"ca-compromise", CACompromise, true},
		{"affiliationChanged", AffiliationChanged, true},
		{"superseded", Superseded, true},
		{"cessationOfOperation", CessationOfOperation, true},
		{"certificateHold", CertificateHold, true},
		{"hold", 0, false},
		{"removeFromCRL", 0, false},
		{"privilegeWithdrawn", PrivilegeWithdrawn, true},
		{"aACompromise", AACompromise, true},
		{"", 0, false},
		{"7", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseReason(tt.in)
		if tt.ok != (err == nil) || (tt.ok && got != tt.want) {
			t.Errorf("ParseReason(%q) = %v, %v", tt.in, got, err)
		}
		if !tt.ok && err != nil && !strings.Contains(err.Error(), "keyCompromise, cACompromise") {
			t.Errorf("ParseReason(%q) error does not list valid reasons: %v", tt.in, err)
		}
	}
	codes := map[Reason]int{Unspecified: 0, KeyCompromise: 1, CACompromise: 2, AffiliationChanged: 3, Superseded: 4,
		CessationOfOperation: 5, CertificateHold: 6, RemoveFromCRL: 8, PrivilegeWithdrawn: 9, AACompromise: 10}
	for r, c := range codes {
		if int(r) != c {
			t.Errorf("%s = %d, want %d", r, int(r), c)
		}
		if r != RemoveFromCRL {
			if back, err := ParseReason(r.String()); err != nil || back != r {
				t.Errorf("ParseReason(%s.String()) = %v, %v", r, back, err)
			}
		}
	}
	if got := Reason(7).String(); got != "reason(7)" {
		t.Errorf("Reason(7) = %q", got)
	}
}

func FuzzParseReason(f *testing.F) {
	for _, s := range []string{"keyCompromise", "key-compromise", "removeFromCRL", "", "\x00", "CERTIFICATE HOLD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReason(s)
		if err != nil {
			return
		}
		if !r.Selectable() {
			t.Fatalf("ParseReason(%q) = %v, not selectable", s, r)
		}
		if back, err := ParseReason(r.String()); err != nil || back != r {
			t.Fatalf("round trip of %v: %v, %v", r, back, err)
		}
	})
}
