// Tests of a single-CA directory (an imported CA that is its own root) going through the ordinary
// workflows: GenerateCRL writes one CRL, and bundles and --bundle output hold the CA once.

package cadir

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"testing"

	"github.com/wsca/wsca/ca"
)

// TestGenerateCRLSingleCA: wsca crl on an imported self-signed CA writes one CRL, never a second
// "root" CRL from the same issuer (which OpenSSL or crl.Bundle could pick instead of the real one).
func TestGenerateCRLSingleCA(t *testing.T) {
	d, root := singleCA(t)
	for i := range 2 {
		res, err := d.GenerateCRL(CRLOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Entries != 1 || res.RootResigned {
			t.Errorf("run %d: %+v", i, res)
		}
		if crls := crlCount(t, d, root); len(crls) != 1 || crls[0].Revoked.Len() != 1 {
			t.Fatalf("run %d: crl.pem has %d CRLs, want exactly 1 with 1 entry", i, len(crls))
		}
	}
}

// TestSingleCAChainOnce: a server certificate (leaf + chain) from a single-CA directory carries the CA
// once, not twice.
func TestSingleCAChainOnce(t *testing.T) {
	d, _ := singleCA(t)
	res, err := d.Issue(IssueRequest{Name: "srv", Kind: ca.KindServer, DNSNames: []string{"srv.example"}, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(res.CertPath)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 {
		t.Errorf("server certificate file holds %d certificates, want leaf + CA", len(certs))
	}
	sr, err := d.Sign(SignRequest{CSR: csrFor(t, "signed"), Bundle: true})
	if err != nil {
		t.Fatal(err)
	}
	if certs, _ := ca.ParseCertificates(sr.PEM); len(certs) != 2 {
		t.Errorf("sign --bundle gives %d certificates, want leaf + CA", len(certs))
	}
}

func csrFor(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
