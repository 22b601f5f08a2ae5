//go:build linux

package main

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
)

// TestBigCRLRevokesTheVictim builds the sessions workload's replacement CRL with a real intermediate and checks
// it with the standard library: signed by the intermediate, numbered as asked (above what wsca crl gives, so the
// relay does not refuse it as a rollback), n entries, the victim's serial among them, the root CRL after it.
func TestBigCRLRevokesTheVictim(t *testing.T) {
	now := time.Now()
	h, err := ca.NewHierarchy(rand.Reader, now, ca.HierarchyRequest{Name: "Sessions Test", KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.MarshalKey(h.Intermediate.Key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rootCRL := "-----BEGIN X509 CRL-----\nroot\n-----END X509 CRL-----\n"
	for name, data := range map[string][]byte{"intermediate.crt": ca.EncodeCertificates(h.Intermediate.Cert),
		"intermediate.key": keyPEM, "root-crl.pem": []byte(rootCRL)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	victim := big.NewInt(0).Lsh(big.NewInt(0xabcdef), 80)
	number := new(big.Int).Lsh(big.NewInt(1), 40)
	out := filepath.Join(dir, "crl.pem")
	if err := bigCRL(dir, nil, 1000, victim, number, out, now); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(data)
	if block == nil || string(rest) != rootCRL {
		t.Fatalf("crl.pem: want the intermediate's CRL then the root CRL, got %q after the first block", rest)
	}
	rl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if err := rl.CheckSignatureFrom(h.Intermediate.Cert); err != nil {
		t.Errorf("not signed by the intermediate: %v", err)
	}
	if rl.Number.Cmp(number) != 0 || len(rl.RevokedCertificateEntries) != 1000 {
		t.Errorf("CRL number %v with %d entries, want %v with 1000", rl.Number, len(rl.RevokedCertificateEntries), number)
	}
	found := false
	for _, e := range rl.RevokedCertificateEntries {
		found = found || e.SerialNumber.Cmp(victim) == 0
	}
	if !found {
		t.Error("the victim's serial is not in the CRL")
	}
}
