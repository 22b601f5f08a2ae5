package crlsync

import (
	"errors"
	"testing"
	"time"

	"github.com/wsca/wsca/crl"
)

// TestVerify checks that Verify accepts a crl.pem with a CRL from every CA and refuses one that lacks the root's.
// How the PEM is decoded (a fast path for plain files) is crl.Parse's, tested there (TestParseFastPEM).
func TestVerify(t *testing.T) {
	p := newTestPKI(t)
	good := p.crlPEM(t, 7, 1, 2, 3)
	inter := crlOf(t, p.inter, 7, time.Hour, 4)
	crls, err := Verify(good, p.cas())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if len(crls) != 2 {
		t.Errorf("Verify returned %d CRLs, want 2", len(crls))
	}
	if _, err := Verify(inter, p.cas()); !errors.Is(err, crl.ErrNoCRL) {
		t.Errorf("Verify without the root's CRL: %v, want ErrNoCRL", err)
	}
}
