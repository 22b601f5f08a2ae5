package crl

import (
	"crypto/x509"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"
)

// buildAt makes a CRL of ca with explicit times.
func (ca *testCA) buildAt(t testing.TB, number int64, this, next time.Time, entries ...Entry) []byte {
	t.Helper()
	der, err := Build(Template{Number: big.NewInt(number), ThisUpdate: this, NextUpdate: next, Issuer: ca.cert, Signer: ca.key}, seqOf(entries))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustParse(t testing.TB, der []byte, cas ...*x509.Certificate) *CRL {
	t.Helper()
	crls, err := Parse(der, cas)
	if err != nil {
		t.Fatal(err)
	}
	return crls[0]
}

func TestCheckChain(t *testing.T) {
	root := newRoot(t, "p256", "Chain Root")
	inter := root.newIntermediate(t, "p256", "Chain Intermediate", 2)
	badInter := root.newIntermediate(t, "ed25519", "Revoked Intermediate", 3)
	good := inter.newLeaf(t, "good", big.NewInt(100))
	revoked := inter.newLeaf(t, "revoked", big.NewInt(101))
	underBad := badInter.newLeaf(t, "under-bad", big.NewInt(102))
	now := baseTime()
	this, next := now.Add(-time.Hour), now.Add(time.Hour)
	revokedAt := now.Add(-30 * time.Minute)
	cas := []*x509.Certificate{root.cert, inter.cert, badInter.cert}

	rootCRL := mustParse(t, root.buildAt(t, 1, this, next,
		Entry{Serial: badInter.cert.SerialNumber, RevokedAt: revokedAt, Reason: ReasonCACompromise}), cas...)
	interCRL := mustParse(t, inter.buildAt(t, 1, this, next,
		Entry{Serial: revoked.SerialNumber, RevokedAt: revokedAt, Reason: ReasonKeyCompromise}), cas...)
	badInterCRL := mustParse(t, badInter.buildAt(t, 1, this, next), cas...)
	expiredInter := mustParse(t, inter.buildAt(t, 1, now.Add(-3*time.Hour), now.Add(-time.Hour)), cas...)
	futureInter := mustParse(t, inter.buildAt(t, 1, now.Add(time.Hour), now.Add(2*time.Hour)), cas...)

	full := NewBundle([]*CRL{interCRL, rootCRL, badInterCRL})
	cases := []struct {
		name    string
		bundle  *Bundle
		chain   []*x509.Certificate
		now     time.Time
		grace   time.Duration
		wantErr error
		revoked *RevokedError
	}{
		{"good", full, []*x509.Certificate{good, inter.cert, root.cert}, now, 0, nil, nil},
		{"root only", full, []*x509.Certificate{root.cert}, now, 0, nil, nil},
		{"revoked leaf", full, []*x509.Certificate{revoked, inter.cert, root.cert}, now, 0, nil,
			&RevokedError{Serial: revoked.SerialNumber, Subject: "CN=revoked", Reason: ReasonKeyCompromise, RevokedAt: revokedAt}},
		{"revoked intermediate", full, []*x509.Certificate{underBad, badInter.cert, root.cert}, now, 0, nil,
			&RevokedError{Serial: badInter.cert.SerialNumber, Subject: badInter.cert.Subject.String(), Reason: ReasonCACompromise, RevokedAt: revokedAt, CA: true}},
		{"no intermediate CRL", NewBundle([]*CRL{rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, 0, ErrNoCRL, nil},
		{"no root CRL", NewBundle([]*CRL{interCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, 0, ErrNoCRL, nil},
		{"empty bundle", NewBundle(nil), []*x509.Certificate{good, inter.cert, root.cert}, now, 0, ErrNoCRL, nil},
		{"expired", NewBundle([]*CRL{expiredInter, rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, 0, ErrCRLExpired, nil},
		{"expired within grace", NewBundle([]*CRL{expiredInter, rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, 2 * time.Hour, nil, nil},
		{"expired beyond grace", NewBundle([]*CRL{expiredInter, rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, time.Hour, ErrCRLExpired, nil},
		{"at nextUpdate", full, []*x509.Certificate{good, inter.cert, root.cert}, next, 0, ErrCRLExpired, nil},
		{"not yet valid", NewBundle([]*CRL{futureInter, rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now, 0, ErrCRLNotYetValid, nil},
		{"within clock skew", NewBundle([]*CRL{futureInter, rootCRL}), []*x509.Certificate{good, inter.cert, root.cert}, now.Add(56 * time.Minute), 0, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.bundle.CheckChain(tc.chain, tc.now, tc.grace)
			if tc.revoked != nil {
				var re *RevokedError
				if !errors.As(err, &re) {
					t.Fatalf("CheckChain = %v, want *RevokedError", err)
				}
				if re.Serial.Cmp(tc.revoked.Serial) != 0 || re.Subject != tc.revoked.Subject || re.Reason != tc.revoked.Reason ||
					!re.RevokedAt.Equal(tc.revoked.RevokedAt) || re.CA != tc.revoked.CA {
					t.Errorf("RevokedError = %+v, want %+v", re, tc.revoked)
				}
				if !strings.Contains(err.Error(), "revoked at") || !strings.Contains(err.Error(), ReasonString(tc.revoked.Reason)) {
					t.Errorf("message %q", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("CheckChain = %v, want %v", err, tc.wantErr)
			}
		})
	}

	chain := []*x509.Certificate{good, inter.cert, root.cert}
	if a := testing.AllocsPerRun(100, func() { _ = full.CheckChain(chain, now, 0) }); a != 0 {
		t.Errorf("CheckChain allocates %v times per good chain", a)
	}
}

func TestBundle(t *testing.T) {
	root := newRoot(t, "p256", "Bundle Root")
	inter := root.newIntermediate(t, "p256", "Bundle Intermediate", 2)
	leaf := inter.newLeaf(t, "leaf", big.NewInt(7))
	now := baseTime()
	cas := []*x509.Certificate{root.cert, inter.cert}
	e := Entry{Serial: leaf.SerialNumber, RevokedAt: now, Reason: ReasonSuperseded}
	old := mustParse(t, inter.buildAt(t, 1, now.Add(-time.Hour), now.Add(30*time.Minute)), cas...)
	newer := mustParse(t, inter.buildAt(t, 2, now.Add(-time.Minute), now.Add(2*time.Hour), e), cas...)
	rootCRL := mustParse(t, root.buildAt(t, 1, now.Add(-time.Minute), now.Add(3*time.Hour), Entry{Serial: big.NewInt(99), RevokedAt: now}), cas...)

	for _, order := range [][]*CRL{{old, newer, rootCRL}, {newer, old, rootCRL}} {
		b := NewBundle(order)
		if got := b.CRLs(); len(got) != 2 || got[0] != newer || got[1] != rootCRL {
			t.Fatalf("CRLs = %v, want the highest number per CA", got)
		}
		if b.Len() != 2 {
			t.Errorf("Len = %d, want 2", b.Len())
		}
		if !b.NextUpdate().Equal(newer.NextUpdate) {
			t.Errorf("NextUpdate = %v, want %v", b.NextUpdate(), newer.NextUpdate)
		}
		if r, ok := b.IsRevoked(leaf, inter.cert); !ok || r.Reason != ReasonSuperseded {
			t.Errorf("IsRevoked = %v %v", r, ok)
		}
		if _, ok := b.IsRevoked(inter.cert, root.cert); ok {
			t.Error("intermediate reported revoked")
		}
	}

	b := NewBundle([]*CRL{old, rootCRL})
	if s := b.Stale(now); len(s) != 0 {
		t.Errorf("Stale(now) = %v", s)
	}
	s := b.Stale(now.Add(time.Hour))
	if len(s) != 1 || s[0].Issuer != inter.cert || s[0].Overdue != 30*time.Minute {
		t.Errorf("Stale = %+v", s)
	}
	var nilBundle *Bundle
	if nilBundle.Len() != 0 || !nilBundle.NextUpdate().IsZero() || nilBundle.CRLs() != nil {
		t.Error("nil Bundle is not empty")
	}
	if err := nilBundle.CheckChain([]*x509.Certificate{leaf, inter.cert}, now, 0); !errors.Is(err, ErrNoCRL) {
		t.Errorf("nil Bundle CheckChain = %v, want ErrNoCRL", err)
	}
}
