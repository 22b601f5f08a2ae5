package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"testing"

	"github.com/youmark/pkcs8"
)

// The fuzz targets feed untrusted input (CSRs from users, certificate and
// key files from disk) to the parsers: they must return errors, never panic,
// and anything accepted must satisfy the parser's promises.

func FuzzParseCSR(f *testing.F) {
	key := mustKey(f, KeyECDSAP256)
	der := makeCSR(f, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "fuzz"}, DNSNames: []string{"a.example"}})
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	f.Add(makeCSR(f, mustKey(f, KeyEd25519), &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ca"}, ExtraExtensions: []pkix.Extension{bcExt(f, true)}}))
	f.Add(makeCSR(f, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "mallory", OrganizationalUnit: []string{"ops\x1b[0m"},
		Organization: []string{"Admins"}}, EmailAddresses: []string{"alice@example.com"}, DNSNames: []string{"relay.example.com"}}))
	f.Add([]byte("-----BEGIN NEW CERTIFICATE REQUEST-----\n-----END NEW CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			return
		}
		if csr.CheckSignature() != nil || CheckPublicKey(csr.PublicKey) != nil {
			t.Fatal("ParseCSR accepted a CSR with a bad signature or key")
		}
		// Issue 9: of the CSR's identity only the CN is taken, and every listed attribute prints safely.
		req := LeafRequestFromCSR(csr, KindClient)
		if len(req.Subject.Names) != 0 || len(req.Subject.OrganizationalUnit) != 0 || len(req.Subject.Organization) != 0 ||
			len(req.Emails) != 0 || len(req.URIs) != 0 || len(req.DNSNames) != 0 || len(req.IPs) != 0 {
			t.Fatalf("LeafRequestFromCSR took more than the CN: %+v", req)
		}
		for _, id := range CSRIdentity(csr) {
			if strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("CSRIdentity entry %q holds a control character", id)
			}
		}
		if c := WithCSRNames(req, csr); len(c.DNSNames) != 0 || len(c.IPs) != 0 {
			t.Fatal("WithCSRNames put server names into a client request")
		}
	})
}

func FuzzParseCertificates(f *testing.F) {
	h := newTestHierarchy(f, KeyECDSAP256, testNow)
	f.Add(EncodeCertificates(h.Intermediate.Cert, h.Root.Cert))
	f.Add(EncodeCertificates(h.Root.Cert))
	f.Add(append(EncodeCertificates(h.Root.Cert), "junk"...))
	f.Add(append([]byte("Certificate:\n    Data:\n-----\n"), EncodeCertificates(h.Root.Cert)...))
	f.Add(append([]byte("Bag Attributes\n-----BEGIN CERTIFICATE-----\nAAAA\n"), EncodeCertificates(h.Root.Cert)...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates(data)
		if err == nil && len(certs) == 0 {
			t.Fatal("ParseCertificates returned no certificates and no error")
		}
	})
}

func FuzzParseKey(f *testing.F) {
	ec := mustKey(f, KeyECDSAP256)
	ed := mustKey(f, KeyEd25519)
	plain, _ := MarshalKey(ed)
	f.Add(plain, []byte(""))
	f.Add(lowIterKey(f, ec, []byte("pw")), []byte("pw"))
	f.Add(lowIterKey(f, ec, []byte("pw")), []byte("wrong"))
	sec1, _ := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}), []byte(""))
	rk := mustKey(f, KeyRSA2048).(*rsa.PrivateKey)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), []byte("x"))
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), []byte("pw"))
	// The decrypt-only formats of wsca import: PBES2 with 3DES, and legacy Proc-Type PEM.
	des3, err := pkcs8.MarshalPrivateKey(ec, []byte("pw"), &pkcs8.Opts{Cipher: pkcs8.TripleDESCBC,
		KDFOpts: pkcs8.PBKDF2Opts{SaltSize: 8, IterationCount: 1, HMACHash: crypto.SHA256}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: des3}), []byte("pw"))
	for _, c := range []x509.PEMCipher{x509.PEMCipher3DES, x509.PEMCipherAES256, x509.PEMCipherDES} {
		//lint:ignore SA1019 seeds in the legacy format ParseKey decrypts for wsca import.
		legacy, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", sec1, []byte("pw"), c) //nolint:staticcheck
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pem.EncodeToMemory(legacy), []byte("pw"))
		f.Add(pem.EncodeToMemory(legacy), []byte("wrong"))
	}
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"), []byte("pw"))
	f.Fuzz(func(t *testing.T, data, pass []byte) {
		key, err := ParseKey(data, pass)
		if err != nil {
			return
		}
		if key == nil || CheckPublicKey(key.Public()) != nil {
			t.Fatal("ParseKey returned an unusable key without error")
		}
	})
}
