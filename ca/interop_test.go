package ca

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// These tests exercise the real OpenSSL 3 and Java keytool binaries: what
// wsca writes must be what operators' tools read.

func TestOpenSSLVerifiesChain(t *testing.T) {
	openssl := requireTool(t, "openssl")
	for _, kt := range []KeyType{KeyECDSAP256, KeyECDSAP384, KeyRSA2048, KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			now := time.Now()
			dir := t.TempDir()
			h := newTestHierarchy(t, kt, now)
			key := mustKey(t, kt)
			leaf, err := Issue(rand.Reader, now, h.Intermediate, LeafRequest{
				Subject: pkix.Name{CommonName: "alice"}, Emails: []string{"alice@example.com"},
				Validity: 24 * time.Hour, CRLURLs: []string{"http://ca.example.com/crl.pem"}, PublicKey: key.Public(),
			})
			if err != nil {
				t.Fatal(err)
			}
			root := writeFile(t, dir, "root.crt", EncodeCertificates(h.Root.Cert))
			inter := writeFile(t, dir, "inter.crt", EncodeCertificates(h.Intermediate.Cert))
			lf := writeFile(t, dir, "leaf.crt", EncodeCertificates(leaf))

			out, _ := run(t, true, openssl, "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", root, "-untrusted", inter, lf)
			if !strings.Contains(out, ": OK") {
				t.Errorf("openssl verify: %s", out)
			}
			// The EKU is clientAuth only: the same chain fails as a server.
			if out, err := run(t, false, openssl, "verify", "-purpose", "sslserver", "-CAfile", root, "-untrusted", inter, lf); err == nil {
				t.Errorf("openssl verify -purpose sslserver accepted a client certificate: %s", out)
			}
			text, _ := run(t, true, openssl, "x509", "-noout", "-text", "-in", lf)
			for _, want := range []string{"TLS Web Client Authentication", "CA:FALSE", "Digital Signature",
				"X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier", "URI:http://ca.example.com/crl.pem", "email:alice@example.com"} {
				if !strings.Contains(text, want) {
					t.Errorf("leaf text lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, "TLS Web Server Authentication") {
				t.Errorf("client leaf has serverAuth:\n%s", text)
			}
			itext, _ := run(t, true, openssl, "x509", "-noout", "-text", "-in", inter)
			for _, want := range []string{"CA:TRUE, pathlen:0", "Certificate Sign, CRL Sign"} {
				if !strings.Contains(itext, want) {
					t.Errorf("intermediate text lacks %q:\n%s", want, itext)
				}
			}
		})
	}
}

func TestOpenSSLReadsEncryptedKey(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	pass := writeFile(t, dir, "pass", []byte("hunter2 hunter2\n"))
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048, KeyEd25519} {
		key := mustKey(t, kt)
		// openssl reads only the first line of a -passin file.
		enc, err := EncryptKey(rand.Reader, key, []byte("hunter2 hunter2"))
		if err != nil {
			t.Fatal(err)
		}
		kf := writeFile(t, dir, string(kt)+".key", enc)
		got, _ := run(t, true, openssl, "pkey", "-in", kf, "-passin", "file:"+pass, "-pubout")
		want := pubPEM(t, key.Public())
		if got != want {
			t.Errorf("%s: openssl pkey public key\n%s\nwant\n%s", kt, got, want)
		}
		if _, err := run(t, false, openssl, "pkey", "-in", kf, "-passin", "pass:wrong", "-noout"); err == nil {
			t.Errorf("%s: openssl accepted a wrong passphrase", kt)
		}
	}

	// The other direction: keys OpenSSL encrypts (its default PBES2
	// parameters, and explicit AES-128/SHA-1) parse with ParseKey.
	for i, args := range [][]string{
		{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes-256-cbc", "-pass", "file:" + pass},
		{"genpkey", "-algorithm", "ED25519", "-aes128", "-pass", "file:" + pass},
	} {
		out := fmt.Sprintf("%s/ossl%d.key", dir, i)
		run(t, true, openssl, append(args, "-out", out)...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseKey(data, []byte("hunter2 hunter2")); err != nil {
			t.Errorf("ParseKey(openssl %v): %v", args[:3], err)
		}
		if _, err := ParseKey(data, []byte("nope")); !errors.Is(err, ErrWrongPassphrase) {
			t.Errorf("ParseKey(openssl key, wrong passphrase) = %v", err)
		}
	}
	// OpenSSL reads -passin and -passout from one file as two lines.
	pass2 := writeFile(t, dir, "pass2", []byte("hunter2 hunter2\n"))
	sha1Key := dir + "/sha1.key"
	run(t, true, openssl, "pkcs8", "-topk8", "-v2", "aes-128-cbc", "-v2prf", "hmacWithSHA1", "-in", dir+"/ossl0.key",
		"-passin", "file:"+pass, "-passout", "file:"+pass2, "-out", sha1Key)
	if data, _ := os.ReadFile(sha1Key); !bytes.Contains(data, []byte("ENCRYPTED PRIVATE KEY")) {
		t.Fatalf("openssl pkcs8 output:\n%s", data)
	} else if _, err := ParseKey(data, []byte("hunter2 hunter2")); err != nil {
		t.Errorf("ParseKey(openssl pkcs8 hmacWithSHA1/aes-128): %v", err)
	}
	// Traditional SEC 1 and PKCS#1 files as written by older OpenSSL.
	for _, args := range [][]string{
		{"ec", "-in", dir + "/ossl0.key", "-passin", "file:" + pass},
		{"genrsa", "-traditional"},
	} {
		out := dir + "/traditional.key"
		run(t, true, openssl, append(args, "-out", out)...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseKey(data, nil); err != nil {
			t.Errorf("ParseKey(openssl %s): %v\n%s", args[0], err, data)
		}
	}
}

func TestOpenSSLCSR(t *testing.T) {
	openssl := requireTool(t, "openssl")
	dir := t.TempDir()
	now := time.Now()
	h := newTestHierarchy(t, KeyECDSAP256, now)

	csrFile := dir + "/bob.csr"
	run(t, true, openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", dir+"/bob.key", "-subj", "/CN=bob", "-out", csrFile)
	data, err := os.ReadFile(csrFile)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCSR(data)
	if err != nil {
		t.Fatalf("ParseCSR(openssl req): %v", err)
	}
	req := LeafRequestFromCSR(csr, KindClient)
	req.Validity = 24 * time.Hour
	leaf, err := Issue(rand.Reader, now, h.Intermediate, req)
	if err != nil {
		t.Fatal(err)
	}
	root := writeFile(t, dir, "root.crt", EncodeCertificates(h.Root.Cert))
	inter := writeFile(t, dir, "inter.crt", EncodeCertificates(h.Intermediate.Cert))
	lf := writeFile(t, dir, "bob.crt", EncodeCertificates(leaf))
	run(t, true, openssl, "verify", "-purpose", "sslclient", "-CAfile", root, "-untrusted", inter, lf)
	// The certificate belongs to the key OpenSSL generated.
	mod, _ := run(t, true, openssl, "x509", "-noout", "-pubkey", "-in", lf)
	kmod, _ := run(t, true, openssl, "pkey", "-pubout", "-in", dir+"/bob.key")
	if mod != kmod {
		t.Error("issued certificate does not carry the CSR's key")
	}
	// DER input works too.
	der, _ := run(t, true, openssl, "req", "-in", csrFile, "-outform", "DER")
	if _, err := ParseCSR([]byte(der)); err != nil {
		t.Errorf("ParseCSR(DER from openssl): %v", err)
	}

	refused := []struct {
		name string
		args []string
		is   error
	}{
		{"CA:TRUE", []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-addext", "basicConstraints=critical,CA:TRUE"}, ErrCSRRequestsCA},
		{"RSA-1024", []string{"-newkey", "rsa:1024"}, ErrWeakKey},
		{"P-224", []string{"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-224"}, ErrWeakKey},
	}
	for _, tt := range refused {
		out := dir + "/refused.csr"
		args := append([]string{"req", "-new", "-nodes", "-keyout", dir + "/refused.key", "-subj", "/CN=mallory", "-out", out}, tt.args...)
		run(t, true, openssl, args...)
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseCSR(data); !errors.Is(err, tt.is) {
			t.Errorf("%s: ParseCSR = %v, want %v", tt.name, err, tt.is)
		}
	}
}

func TestPKCS12Interop(t *testing.T) {
	openssl := requireTool(t, "openssl")
	now := time.Now()
	dir := t.TempDir()
	const password = "abcd-efgh-ijkl"
	for _, kt := range []KeyType{KeyECDSAP256, KeyRSA2048} {
		h := newTestHierarchy(t, kt, now)
		key := mustKey(t, kt)
		leaf, err := Issue(rand.Reader, now, h.Intermediate, LeafRequest{Subject: pkix.Name{CommonName: "alice"}, Validity: 24 * time.Hour, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range []P12Format{P12Legacy, P12Modern} {
			t.Run(string(kt)+"/"+string(format), func(t *testing.T) {
				pfx, err := EncodePKCS12(rand.Reader, key, leaf, []*x509.Certificate{h.Intermediate.Cert, h.Root.Cert}, "alice-laptop", password, format)
				if err != nil {
					t.Fatal(err)
				}
				f := writeFile(t, dir, fmt.Sprintf("%s-%s.p12", kt, format), pfx)
				// No -legacy: OpenSSL 3's default provider must read it.
				info, _ := run(t, true, openssl, "pkcs12", "-info", "-nokeys", "-in", f, "-passin", "pass:"+password)
				wantMAC := map[P12Format]string{P12Legacy: "MAC: sha1", P12Modern: "MAC: sha256"}[format]
				for _, want := range []string{wantMAC, "Shrouded Keybag", "friendlyName: alice-laptop", "subject=CN = alice", "CN = Test Corp Root CA"} {
					if !strings.Contains(info, want) {
						t.Errorf("openssl pkcs12 -info lacks %q:\n%s", want, info)
					}
				}
				// The key decrypts and matches.
				keyOut, _ := run(t, true, openssl, "pkcs12", "-in", f, "-passin", "pass:"+password, "-nocerts", "-nodes")
				keyOut = keyOut[strings.Index(keyOut, "-----BEGIN"):]
				if k, err := ParseKey([]byte(keyOut), nil); err != nil || CheckKeyMatches(k, leaf) != nil {
					t.Errorf("key from openssl pkcs12: %v", err)
				}
				if _, err := run(t, false, openssl, "pkcs12", "-info", "-nokeys", "-in", f, "-passin", "pass:wrong"); err == nil {
					t.Error("openssl accepted a wrong PKCS#12 password")
				}

				keytool, err := lookKeytool()
				if err != nil {
					t.Skip(err)
				}
				list, _ := run(t, true, keytool, "-list", "-v", "-storetype", "PKCS12", "-keystore", f, "-storepass", password)
				for _, want := range []string{"Alias name: alice-laptop", "Entry type: PrivateKeyEntry", "Certificate chain length: 3"} {
					if !strings.Contains(list, want) {
						t.Errorf("keytool -list lacks %q:\n%s", want, list)
					}
				}
			})
		}
	}
}

func pubPEM(t *testing.T, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// lookKeytool finds Java's keytool; a missing JDK skips only the keytool part.
func lookKeytool() (string, error) {
	p, err := exec.LookPath("keytool")
	if err != nil {
		return "", fmt.Errorf("keytool not found in PATH: skipping the Java check (%w)", err)
	}
	return p, nil
}
