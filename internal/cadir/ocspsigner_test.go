package cadir

import (
	"crypto/rand"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
)

// TestEnsureOCSPSigner: issued only for a CA with an OCSP URL, kept while fresh, renewed past half its
// validity, loadable without a passphrase.
func TestEnsureOCSPSigner(t *testing.T) {
	now := time.Now()
	pass := []byte("correct horse battery staple")
	asked := 0
	d := &Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: func() time.Time { return now }, User: "test",
		LockTimeout: time.Second, Passphrase: func() ([]byte, error) { asked++; return pass, nil }}
	if _, err := d.Init(InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Signer"}, Passphrase: pass}); err != nil {
		t.Fatal(err)
	}
	if res, err := d.EnsureOCSPSigner(0); err != nil || res.Issued {
		t.Fatalf("without an OCSP URL: %+v, %v", res, err)
	}
	if err := d.SetOCSPURL("http://127.0.0.1/ocsp"); err != nil {
		t.Fatal(err)
	}
	res, err := d.EnsureOCSPSigner(0)
	if err != nil || !res.Issued || asked != 1 {
		t.Fatalf("first: %+v, %v, passphrase asked %d times", res, err, asked)
	}
	first, _, err := d.OCSPSigner()
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(DefaultOCSPSignerValidity/2 - time.Hour)
	if res, err := d.EnsureOCSPSigner(0); err != nil || res.Issued || asked != 1 {
		t.Fatalf("fresh: %+v, %v, passphrase asked %d times", res, err, asked)
	}
	now = now.Add(2 * time.Hour)
	if res, err := d.EnsureOCSPSigner(0); err != nil || !res.Issued {
		t.Fatalf("half-way: %+v, %v", res, err)
	}
	d.Passphrase = nil
	second, _, err := d.OCSPSigner()
	if err != nil || second.Equal(first) {
		t.Fatalf("renewed signer: %v, same as before: %v", err, second.Equal(first))
	}
	if _, err := d.EnsureOCSPSigner(time.Minute); err == nil {
		t.Fatal("a 1-minute signer validity was accepted")
	}
}
