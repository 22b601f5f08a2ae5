package cadir

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/store"
)

// TestFindSerialPrefix adds records with chosen serials (random ones cannot be made to share a prefix) and
// checks that a unique prefix finds its certificate, with or without the leading zero openssl prints, that a
// shared prefix is refused with the candidates listed, and that too short a prefix is not a serial.
func TestFindSerialPrefix(t *testing.T) {
	d := testDir(t)
	st, err := d.OpenStore(false)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var recs []store.Record
	for _, s := range []struct {
		serial int64
		name   string
	}{{0x5f3a01, "ann"}, {0x5f3a02, "ben"}, {0x0a77c1, "cat"}} {
		recs = append(recs, store.Record{Serial: big.NewInt(s.serial), Name: s.name, Kind: "client", DER: []byte{1},
			NotBefore: now, NotAfter: now.Add(time.Hour), IssuedAt: now})
	}
	if err := st.Add(recs...); err != nil {
		t.Fatal(err)
	}
	st.Close()

	for _, tc := range []struct{ target, want string }{
		{"5f3a01", "ann"}, {"5f3a0", ""}, {"0a77", "cat"}, {"a77c", "cat"}, {"5F:3A:02", "ben"},
	} {
		got, err := d.Find(tc.target)
		switch {
		case tc.want == "" && !errors.Is(err, ErrAmbiguousSerial):
			t.Errorf("Find(%q) = %v, %v; want ErrAmbiguousSerial", tc.target, got, err)
		case tc.want == "" && !(strings.Contains(err.Error(), "5f3a01 (ann)") && strings.Contains(err.Error(), "5f3a02 (ben)")):
			t.Errorf("Find(%q): %v does not list both candidates", tc.target, err)
		case tc.want != "" && (err != nil || len(got) != 1 || got[0].Name != tc.want):
			t.Errorf("Find(%q) = %v, %v; want %s", tc.target, got, err, tc.want)
		}
	}
	if _, err := d.Find("5f3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a 3-digit prefix: %v, want ErrNotFound", err)
	}
}
