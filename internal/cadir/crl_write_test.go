package cadir

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateCRLWrites checks the streamed write path of GenerateCRL: DER and PEM output, --copy-to
// copies byte-identical to the main file with mode 0644, and a failed copy reported without leaving
// temporary files behind.
func TestGenerateCRLWrites(t *testing.T) {
	d, root := singleCA(t)
	out := t.TempDir()
	cases := []struct {
		name   string
		der    bool
		copies []string
	}{
		{"pem", false, []string{filepath.Join(out, "a.pem")}},
		{"der", true, []string{filepath.Join(out, "a.der"), filepath.Join(out, "b.der")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(out, "crl-"+tc.name)
			res, err := d.GenerateCRL(CRLOptions{Out: path, DER: tc.der, CopyTo: tc.copies})
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tc.der {
				rl, err := x509.ParseRevocationList(data)
				if err != nil {
					t.Fatalf("DER output: %v", err)
				}
				if err := rl.CheckSignatureFrom(root.Cert); err != nil || len(rl.RevokedCertificateEntries) != 1 || rl.Number.Cmp(res.Number) != 0 {
					t.Fatalf("DER output: signature %v, %d entries, number %v (want %v)", err, len(rl.RevokedCertificateEntries), rl.Number, res.Number)
				}
			} else if !bytes.HasPrefix(data, []byte("-----BEGIN X509 CRL-----\n")) {
				t.Fatalf("PEM output starts %q", data[:min(len(data), 30)])
			}
			for _, c := range tc.copies {
				got, err := os.ReadFile(c)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("copy %s differs from %s (%v)", c, path, err)
				}
				if fi, err := os.Stat(c); err != nil || fi.Mode().Perm() != 0o644 {
					t.Errorf("copy %s: mode %v (%v), want 0644", c, fi.Mode().Perm(), err)
				}
			}
		})
	}

	bad := filepath.Join(out, "missing", "crl.pem")
	_, err := d.GenerateCRL(CRLOptions{Out: filepath.Join(out, "crl-x"), CopyTo: []string{bad}})
	if err == nil || !strings.Contains(err.Error(), "is written but its copy is not") {
		t.Fatalf("copy into a missing directory: %v", err)
	}
	ents, _ := os.ReadDir(out)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}
