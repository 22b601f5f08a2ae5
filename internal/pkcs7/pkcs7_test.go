package pkcs7

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func selfSigned(t testing.TB, cn string) *x509.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func TestRoundTrip(t *testing.T) {
	a, b := selfSigned(t, "a"), selfSigned(t, "b")
	der, err := EncodeCertsOnly(a, b)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCertsOnly(der)
	if err != nil || len(got) != 2 || !got[0].Equal(a) || !got[1].Equal(b) {
		t.Fatalf("round trip: %v, %d certificates", err, len(got))
	}
	if _, err := EncodeCertsOnly(); err == nil {
		t.Error("encoding nothing succeeded")
	}
	if _, err := DecodeCertsOnly(append(der, 0)); err == nil {
		t.Error("trailing byte accepted")
	}
}

// TestOpenSSLReads: openssl pkcs7 -print_certs, what an admin or an EST client uses, reads the encoding.
func TestOpenSSLReads(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true and openssl is missing (scripts/install-deps installs it)")
		}
		t.Skip("openssl not installed")
	}
	a, b := selfSigned(t, "first"), selfSigned(t, "second")
	der, err := EncodeCertsOnly(a, b)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("openssl", "pkcs7", "-inform", "DER", "-print_certs", "-noout")
	cmd.Stdin = bytes.NewReader(der)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "subject=CN = first") || !strings.Contains(string(out), "subject=CN = second") {
		t.Errorf("openssl printed:\n%s", out)
	}
	// And the other way: a certs-only structure made by openssl crl2pkcs7 decodes.
	pemCerts := "-----BEGIN CERTIFICATE-----\n" + b64(a.Raw) + "-----END CERTIFICATE-----\n"
	cmd = exec.Command("openssl", "crl2pkcs7", "-nocrl", "-certfile", "/dev/stdin", "-outform", "DER")
	cmd.Stdin = strings.NewReader(pemCerts)
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("openssl crl2pkcs7: %v", err)
	}
	got, err := DecodeCertsOnly(out)
	if err != nil || len(got) != 1 || !got[0].Equal(a) {
		t.Errorf("decoding openssl's certs-only: %v", err)
	}
}

func b64(der []byte) string {
	return base64.StdEncoding.EncodeToString(der) + "\n"
}

func FuzzDecodeCertsOnly(f *testing.F) {
	a := selfSigned(f, "seed")
	der, _ := EncodeCertsOnly(a)
	f.Add(der)
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := DecodeCertsOnly(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
	})
}
