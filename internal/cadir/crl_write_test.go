package cadir

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateCRLWrites checks the streamed write path of GenerateCRL: DER and PEM output, and that copy
// targets, which mirror crl.pem, cannot be registered for another output file or DER.
func TestGenerateCRLWrites(t *testing.T) {
	d, root := singleCA(t)
	out := t.TempDir()
	for _, der := range []bool{false, true} {
		path := filepath.Join(out, fmt.Sprintf("crl-%v", der))
		res, err := d.GenerateCRL(CRLOptions{Out: path, DER: der})
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if der {
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
	}
	for _, opt := range []CRLOptions{{Out: filepath.Join(out, "x"), CopyTo: []string{filepath.Join(out, "c")}},
		{DER: true, CopyTo: []string{filepath.Join(out, "c")}}} {
		if _, err := d.GenerateCRL(opt); !errors.Is(err, ErrTargetNotCRL) {
			t.Errorf("GenerateCRL(%+v) = %v, want ErrTargetNotCRL", opt, err)
		}
	}
	if _, err := d.GenerateCRL(CRLOptions{CopyTo: []string{out}}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("a directory as copy target: %v", err)
	}
}
