package doctor

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// TestCheckSingleCAImport: the directory `wsca import` makes from a CA that is its own root (root.crt =
// intermediate.crt, no root.key, no root-crl.pem, one certificate in ca.crt, one CRL) has no finding above
// info, except the listed client certificate without clientAuth; no fix proposes a second certificate in
// ca.crt or a root key.
func TestCheckSingleCAImport(t *testing.T) {
	now := time.Now().UTC()
	h, err := ca.NewHierarchy(rand.Reader, now.Add(-time.Hour), ca.HierarchyRequest{Name: "Old"})
	if err != nil {
		t.Fatal(err)
	}
	var recs []store.Record
	for _, name := range []string{"alice", "noeku"} {
		key, _ := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
		cert, err := ca.Issue(rand.Reader, now.Add(-time.Hour), h.Root, ca.LeafRequest{Subject: pkix.Name{CommonName: name}, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		if name == "noeku" { // what openssl ca writes without an extensions section: re-sign without EKU
			tmpl := *cert
			tmpl.ExtKeyUsage = nil
			der, err := x509.CreateCertificate(rand.Reader, &tmpl, h.Root.Cert, key.Public(), h.Root.Key)
			if err != nil {
				t.Fatal(err)
			}
			if cert, err = x509.ParseCertificate(der); err != nil {
				t.Fatal(err)
			}
		}
		recs = append(recs, store.Record{Serial: cert.SerialNumber, Name: name, Kind: "client", Subject: cert.Subject.String(),
			NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, FingerprintSHA256: "00", DER: cert.Raw,
			IssuedAt: cert.NotBefore, IssuedBy: cadir.ImportedBy + "test"})
	}
	d := &cadir.Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "t", LockTimeout: time.Second}
	if _, err := d.Import(cadir.ImportRequest{Issuer: h.Root.Cert, IssuerKey: h.Root.Key, Records: recs, Passphrase: testPass, Source: "test"}); err != nil {
		t.Fatal(err)
	}
	fs := Check(d.Path, CheckOptions{Passphrase: passFunc(testPass)})
	for _, f := range fs {
		if (f.Severity == SeverityWarning || f.Severity == SeverityError) && f.Check != CheckImportedEKU {
			t.Errorf("false finding on a single-CA import: %s", f)
		}
		if strings.Contains(f.Fix, "root.key") || strings.Contains(f.Fix, "cat ") {
			t.Errorf("damaging fix on a single-CA import: %s", f)
		}
	}
	if !hasFinding(fs, SeverityInfo, CheckFiles, "single-CA directory") {
		t.Errorf("the layout is not named:\n%s", dump(fs))
	}
	if !hasFinding(fs, SeverityWarning, CheckImportedEKU, `"noeku"`) || hasFinding(fs, SeverityWarning, CheckImportedEKU, `"alice"`) {
		t.Errorf("clients without clientAuth not listed exactly:\n%s", dump(fs))
	}
	if t.Failed() {
		t.Log(dump(fs))
	}
}
