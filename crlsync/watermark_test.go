package crlsync

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsca/wsca/crl"
)

func verified(t *testing.T, p *testPKI, data []byte) []*crl.CRL {
	t.Helper()
	crls, err := Verify(data, p.cas())
	if err != nil {
		t.Fatal(err)
	}
	return crls
}

// TestWatermark: a lower number and the same number with other content are refused, naming both numbers; a
// higher number passes; the watermark survives reopening its file; a corrupt state file is an error.
func TestWatermark(t *testing.T) {
	p := newTestPKI(t)
	path := filepath.Join(t.TempDir(), "crl.pem"+StateSuffix)
	w, err := OpenWatermark(path)
	if err != nil {
		t.Fatal(err)
	}
	v5 := verified(t, p, p.crlPEM(t, 5))
	if err := w.Check(v5); err != nil {
		t.Fatalf("first CRL: %v", err)
	}
	if err := w.Advance(v5); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		crls []*crl.CRL
		want string // "" = accepted
	}{
		{"lower", verified(t, p, p.crlPEM(t, 4)), "CRL number 4 from \"CN=Test Intermediate\" is lower than 5"},
		{"same number, other content", verified(t, p, p.crlPEM(t, 5, 99)), "CRL number 5 from \"CN=Test Intermediate\" has different content"},
		{"same CRL again", v5, ""},
		{"higher", verified(t, p, p.crlPEM(t, 6)), ""},
	} {
		err := w.Check(tc.crls)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrRollback) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	// Restart: the state file remembers 5.
	w2, err := OpenWatermark(path)
	if err != nil {
		t.Fatal(err)
	}
	var rb *RollbackError
	if err := w2.Check(verified(t, p, p.crlPEM(t, 3))); !errors.As(err, &rb) || rb.Have.Int64() != 5 || rb.Got.Int64() != 3 {
		t.Fatalf("after reopening: %v, want a rollback 3 < 5", err)
	}
	// Advance never lowers the mark.
	if err := w2.Advance(verified(t, p, p.crlPEM(t, 2))); err != nil {
		t.Fatal(err)
	}
	if err := w2.Check(verified(t, p, p.crlPEM(t, 4))); err == nil {
		t.Fatal("Advance with a lower number lowered the watermark")
	}
	if err := os.WriteFile(path, []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenWatermark(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt state file: %v, want an error naming it", err)
	}
	mem, err := OpenWatermark("")
	if err != nil || mem.Path() != "" {
		t.Fatalf("memory-only watermark: %v", err)
	}
}

// FuzzOpenWatermark: whatever the state file holds, OpenWatermark returns a watermark or an error, never panics,
// and a loaded one checks CRLs without panicking.
func FuzzOpenWatermark(f *testing.F) {
	f.Add([]byte(`{"version":1,"issuers":{"ab":{"subject":"CN=x","number":"5","sha256":"00"}}}`))
	f.Add([]byte(`{"version":1,"issuers":{"ab":{"number":"-1"}}}`))
	f.Add([]byte(`{"version":2}`))
	p := newTestPKI(f)
	crls, err := Verify(p.crlPEM(f, 5), p.cas())
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "state.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		w, err := OpenWatermark(path)
		if err != nil {
			return
		}
		_ = w.Check(crls)
	})
}
