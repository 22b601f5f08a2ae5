package crl

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"testing"
	"time"
)

// goldenEd25519 is the SHA-256 of the CRL TestBuildGolden builds, recorded
// with the cryptobyte encoder that Build used before it encoded in chunks.
// Ed25519 signatures are deterministic (RFC 8032 §5.1.6), so the whole CRL,
// signature included, must stay byte-identical.
var goldenEd25519 = map[int]string{
	0:      "2b9d6da22bf043f70732eb4e5abb146f1022886c746bcc6d6e4c5e3eeaa60a33",
	1:      "4ea0909adcba18ff396e479061e9971ef0d5738669f644517ac33a0c9c5f21ff",
	20_000: "89f077fac3e7cd4af4fb43b0ee0f15ca360b67e06a5a4492d68323aa6d535dcc",
}

// TestBuildGolden pins the DER Build produces, so that encoder changes cannot
// alter the CRL's structure, lengths or field order.
func TestBuildGolden(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Golden Root"},
		NotBefore: at.Add(-time.Hour), NotAfter: at.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: []byte{1, 2, 3, 4},
	}
	cert := mustCert(t, tmpl, tmpl, key.Public(), key)
	for n, want := range goldenEd25519 {
		der, err := Build(Template{
			Number: big.NewInt(300), ThisUpdate: at, NextUpdate: at.Add(7 * 24 * time.Hour),
			Issuer: cert, Signer: key,
		}, genEntries(n, at.Add(-time.Hour)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(der)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%d entries: CRL SHA-256 %s (%d octets), want %s", n, got, len(der), want)
		}
	}
}
