package ca

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"testing"
	"time"
)

// BenchmarkIssue measures signing one ecdsa-p256 client certificate with an
// ecdsa-p256 intermediate (the default `wsca issue`, minus key generation).
func BenchmarkIssue(b *testing.B) {
	h := newTestHierarchy(b, KeyECDSAP256, testNow)
	req := LeafRequest{Subject: pkix.Name{CommonName: "bench"}, Emails: []string{"bench@example.com"},
		Validity: 30 * 24 * time.Hour, CRLURLs: []string{"http://ca.example.com/crl.pem"}, PublicKey: mustKey(b, KeyECDSAP256).Public()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Issue(rand.Reader, testNow, h.Intermediate, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseKeyEncrypted measures decrypting an intermediate key written
// by EncryptKey: the KDFIterations cost `wsca issue` pays on every run.
func BenchmarkParseKeyEncrypted(b *testing.B) {
	pass := []byte("a reasonably long passphrase")
	enc, err := EncryptKey(rand.Reader, mustKey(b, KeyECDSAP256), pass)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseKey(enc, pass); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodePKCS12 measures building a legacy bundle with friendly names.
func BenchmarkEncodePKCS12(b *testing.B) {
	h := newTestHierarchy(b, KeyECDSAP256, testNow)
	key := mustKey(b, KeyECDSAP256)
	leaf, err := Issue(rand.Reader, testNow, h.Intermediate, LeafRequest{Subject: pkix.Name{CommonName: "bench"}, PublicKey: key.Public()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodePKCS12(rand.Reader, key, leaf, nil, "", "pw", P12Legacy); err != nil {
			b.Fatal(err)
		}
	}
}
