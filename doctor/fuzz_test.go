package doctor

import (
	"crypto"
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wsca/wsca/ca"
)

// FuzzSplitCRLs: crl.pem is read from disk and may hold anything; splitting never panics, and what it returns
// is only CRL blocks.
func FuzzSplitCRLs(f *testing.F) {
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("\x30\x03\x02\x01\x00"))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\ngarbage"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		ders, err := splitCRLs(data)
		if err == nil && len(ders) == 0 {
			t.Fatal("no error and no CRL")
		}
	})
}

// FuzzDecodeDN: the acceptable-CA names come from the server; decoding never panics and yields one line.
func FuzzDecodeDN(f *testing.F) {
	for _, n := range []pkix.Name{{CommonName: "Doctor Test Root CA"}, {CommonName: "a", Organization: []string{"b"}, Country: []string{"DE"}}} {
		der, err := asn1.Marshal(n.ToRDNSequence())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(der)
	}
	f.Add([]byte{0x30, 0x80})
	f.Fuzz(func(t *testing.T, der []byte) {
		s := decodeDN(der)
		if strings.ContainsAny(s, "\n\r") && !strings.HasPrefix(s, "(undecodable") {
			// pkix.Name.String escapes nothing but its own syntax; a newline would split the report's lines.
			t.Logf("name with a line break: %q", s)
		}
	})
}

// FuzzSummarizeBody: error pages come from the server; the summary is short, valid text without control
// characters, whatever the page.
func FuzzSummarizeBody(f *testing.F) {
	f.Add([]byte("<html><head><title>400 The SSL certificate error</title></head></html>"))
	f.Add([]byte("403 Forbidden: cn not allowed\n"))
	f.Add([]byte("<TITLE>x</title"))
	f.Add([]byte("\x00\x01\r\n\x7f"))
	f.Fuzz(func(t *testing.T, body []byte) {
		s := summarizeBody(body)
		if n := utf8.RuneCountInString(s); n > 201 || !utf8.ValidString(s) {
			t.Fatalf("summary of %d runes, valid UTF-8 %v: %q", n, utf8.ValidString(s), s)
		}
		for _, r := range s {
			if r < ' ' || r == 0x7f {
				t.Fatalf("control character in %q", s)
			}
		}
	})
}

// FuzzLoadPKCS12: a bundle is a user-supplied file; a damaged one is an error, never a panic.
func FuzzLoadPKCS12(f *testing.F) {
	p := getPKI(f)
	alice, err := ca.EncodePKCS12(rand.Reader, p.alice.PrivateKey.(crypto.Signer), p.alice.Leaf, p.cas, "alice", "pw", ca.P12Legacy)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(alice, "pw")
	f.Add(alice, "wrong")
	f.Add([]byte{0x30, 0x00}, "")
	f.Fuzz(func(t *testing.T, data []byte, pw string) {
		c, err := LoadPKCS12(data, pw)
		if err == nil && (c.Leaf == nil || len(c.Certificate) == 0 || c.PrivateKey == nil) {
			t.Fatal("no error but no certificate")
		}
	})
}

// FuzzLoadKeyPair: certificate and key files are user input.
func FuzzLoadKeyPair(f *testing.F) {
	p := getPKI(f)
	keyPEM, err := ca.MarshalKey(p.alice.PrivateKey.(crypto.Signer))
	if err != nil {
		f.Fatal(err)
	}
	certPEM := ca.EncodeCertificates(p.alice.Leaf, p.h.Intermediate.Cert)
	f.Add(certPEM, keyPEM)
	f.Add(certPEM, p.serverKeyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		c, err := LoadKeyPair(certPEM, keyPEM)
		if err == nil && (c.Leaf == nil || c.PrivateKey == nil) {
			t.Fatal("no error but no certificate")
		}
	})
}

func TestLoadPKCS12(t *testing.T) {
	p := getPKI(t)
	bundle, err := ca.EncodePKCS12(rand.Reader, p.alice.PrivateKey.(crypto.Signer), p.alice.Leaf, p.cas, "alice", "pw", ca.P12Legacy)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadPKCS12(bundle, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// The root stays home: leaf + intermediate is what a server needs.
	if !c.Leaf.Equal(p.alice.Leaf) || len(c.Certificate) != 2 {
		t.Fatalf("leaf %s, %d certificates", c.Leaf.Subject, len(c.Certificate))
	}
	if _, err := LoadPKCS12(bundle, "wrong"); !errors.Is(err, ErrBadP12Password) {
		t.Fatalf("wrong password: %v", err)
	}
	keyPEM, _ := ca.MarshalKey(p.alice.PrivateKey.(crypto.Signer))
	if _, err := LoadKeyPair(ca.EncodeCertificates(p.bob.Leaf), keyPEM); !errors.Is(err, ca.ErrKeyMismatch) {
		t.Fatalf("mismatched pair: %v", err)
	}
}
