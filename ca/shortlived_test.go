package ca

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"testing"
	"time"
)

// TestShortLivedBackdate: a certificate of a few minutes is backdated by a tenth of its lifetime, not the
// full Backdate, so that a holder renewing at 2/3 of the lifetime renews after issuance, not at once (with
// 5 minutes of backdating a 2-minute certificate would be "due" the moment it is made, and again and again).
func TestShortLivedBackdate(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	key := mustKey(t, KeyECDSAP256)
	for _, tc := range []struct{ validity, backdate time.Duration }{
		{2 * time.Minute, 12 * time.Second},
		{24 * time.Hour, Backdate},
		{50 * time.Minute, Backdate},
	} {
		leaf, err := Issue(rand.Reader, testNow, h.Intermediate, LeafRequest{Subject: pkix.Name{CommonName: "dev"},
			Validity: tc.validity, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		now := testNow.UTC().Truncate(time.Second)
		if got := now.Sub(leaf.NotBefore); got != tc.backdate {
			t.Errorf("validity %s: backdated %s, want %s", tc.validity, got, tc.backdate)
		}
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		if due := leaf.NotBefore.Add(life * 2 / 3); !due.After(now) {
			t.Errorf("validity %s: 2/3 of the lifetime (%s) is not after issuance (%s)", tc.validity, due, now)
		}
	}
}
