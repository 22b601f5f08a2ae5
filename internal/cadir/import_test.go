package cadir

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

var importPass = []byte("correct horse battery staple")

// singleCA imports a self-signed CA (a wsca root) with two leaves, one revoked, into a new directory.
func singleCA(t *testing.T) (*Dir, ca.Authority) {
	t.Helper()
	now := time.Now().UTC()
	h, err := ca.NewHierarchy(rand.Reader, now.Add(-time.Hour), ca.HierarchyRequest{Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	for i, name := range []string{"alice", "bob"} {
		key, _ := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
		cert, err := ca.Issue(rand.Reader, now.Add(-time.Hour), h.Root, ca.LeafRequest{Subject: pkix.Name{CommonName: name}, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		r := recordFor(cert, name, "client", cert.NotBefore, "old")
		if i == 1 {
			r.Revocation = &store.Revocation{At: now.Add(-time.Minute).Truncate(time.Second), Reason: store.KeyCompromise, By: "old"}
		}
		recs = append(recs, r)
	}
	d := &Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "t", LockTimeout: time.Second,
		Passphrase: func() ([]byte, error) { return importPass, nil }}
	res, err := d.Import(ImportRequest{Issuer: h.Root.Cert, IssuerKey: h.Root.Key, Records: recs, Passphrase: importPass, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.SingleCA || res.Imported != 2 || res.Revoked != 1 {
		t.Fatalf("result %+v", res)
	}
	return d, h.Root
}

func crlCount(t *testing.T, d *Dir, issuer ca.Authority) []*crl.CRL {
	t.Helper()
	data, err := os.ReadFile(d.File(CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	crls, err := crl.Parse(data, []*x509.Certificate{issuer.Cert})
	if err != nil {
		t.Fatal(err)
	}
	return crls
}

func TestImportSingleCALayout(t *testing.T) {
	d, root := singleCA(t)
	if !d.SingleCA() {
		t.Fatal("SingleCA is false after importing a self-signed CA")
	}
	rootPEM, _ := os.ReadFile(d.File(RootCertFile))
	interPEM, _ := os.ReadFile(d.File(IntermediateCertFile))
	bundle, _ := os.ReadFile(d.File(BundleFile))
	if !bytes.Equal(rootPEM, interPEM) || !bytes.Equal(bundle, rootPEM) {
		t.Error("root.crt, intermediate.crt and ca.crt should hold the one certificate once")
	}
	for _, f := range []string{RootKeyFile, RootCRLFile} {
		if _, err := os.Stat(d.File(f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists in a single-CA directory", f)
		}
	}
	crls := crlCount(t, d, root)
	if len(crls) != 1 || crls[0].Revoked.Len() != 1 {
		t.Fatalf("crl.pem has %d CRLs, want 1 with 1 entry", len(crls))
	}
	// Revocations after the import reach the single CRL.
	if _, err := d.Revoke(RevokeRequest{Target: "alice", Reason: store.Superseded}); err != nil {
		t.Fatal(err)
	}
	res, err := d.GenerateCRL(CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Entries != 2 || res.Number.Int64() != 2 {
		t.Errorf("CRL %v with %d entries, want number 2 with 2", res.Number, res.Entries)
	}
	if crls := crlCount(t, d, root); len(crls) != 1 || crls[0].Revoked.Len() != 2 {
		t.Fatalf("after a revocation: %d CRLs", len(crls))
	}
	if res, err := d.GenerateCRL(CRLOptions{IfDue: true}); err != nil || !res.Skipped {
		t.Errorf("--if-due right after a CRL: %+v, %v", res, err)
	}
	// Issuing and verifying work on the single CA.
	iss, err := d.Issue(IssueRequest{Name: "carol", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(iss.CertPath)
	vr, err := d.Verify(pemData, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(vr.Chain) != 2 {
		t.Errorf("chain of %d, want leaf + CA", len(vr.Chain))
	}
}

func TestImportFailureLeavesNothing(t *testing.T) {
	now := time.Now().UTC()
	h, err := ca.NewHierarchy(rand.Reader, now, ca.HierarchyRequest{Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	d := &Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, LockTimeout: time.Second}
	// A record signed by another CA is refused before anything is written.
	foreign := recordFor(h.Intermediate.Cert, "x", "client", now, "old")
	other, _ := ca.NewHierarchy(rand.Reader, now, ca.HierarchyRequest{Name: "Other"})
	if _, err := d.Import(ImportRequest{Issuer: other.Root.Cert, IssuerKey: other.Root.Key, Records: []store.Record{foreign}}); err == nil {
		t.Fatal("a foreign record was imported")
	}
	if _, err := os.Stat(d.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the directory was created: %v", err)
	}
	// A duplicate serial fails in the database step: every file written so far is removed again.
	dup := recordFor(h.Root.Cert, "again", "client", now, "old")
	if _, err := d.Import(ImportRequest{Issuer: h.Root.Cert, IssuerKey: h.Root.Key, Records: []store.Record{dup}}); !errors.Is(err, store.ErrDuplicateSerial) {
		t.Fatalf("want ErrDuplicateSerial, got %v", err)
	}
	entries, _ := os.ReadDir(d.Path)
	if len(entries) != 0 {
		t.Errorf("files left after a failed import: %v", entries)
	}
	if d.Initialized() {
		t.Error("a failed import left an initialized directory")
	}
}
