package wsclient

import (
	"crypto"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/testpki"
)

// FuzzLoadPKCS12: a bundle is a user-supplied file; a damaged one is an error, never a panic.
func FuzzLoadPKCS12(f *testing.F) {
	p := testpki.Get(f)
	alice, err := ca.EncodePKCS12(rand.Reader, p.Alice.PrivateKey.(crypto.Signer), p.Alice.Leaf, p.CAs, "alice", "pw", ca.P12Legacy)
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
	p := testpki.Get(f)
	keyPEM, err := ca.MarshalKey(p.Alice.PrivateKey.(crypto.Signer))
	if err != nil {
		f.Fatal(err)
	}
	certPEM := ca.EncodeCertificates(p.Alice.Leaf, p.H.Intermediate.Cert)
	f.Add(certPEM, keyPEM)
	f.Add(certPEM, p.ServerKeyPEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), []byte{})
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		c, err := LoadKeyPair(certPEM, keyPEM)
		if err == nil && (c.Leaf == nil || c.PrivateKey == nil) {
			t.Fatal("no error but no certificate")
		}
	})
}

func TestLoadPKCS12(t *testing.T) {
	p := testpki.Get(t)
	bundle, err := ca.EncodePKCS12(rand.Reader, p.Alice.PrivateKey.(crypto.Signer), p.Alice.Leaf, p.CAs, "alice", "pw", ca.P12Legacy)
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadPKCS12(bundle, "pw")
	if err != nil {
		t.Fatal(err)
	}
	// The root stays home: leaf + intermediate is what a server needs.
	if !c.Leaf.Equal(p.Alice.Leaf) || len(c.Certificate) != 2 {
		t.Fatalf("leaf %s, %d certificates", c.Leaf.Subject, len(c.Certificate))
	}
	if _, err := LoadPKCS12(bundle, "wrong"); !errors.Is(err, ErrBadP12Password) {
		t.Fatalf("wrong password: %v", err)
	}
	keyPEM, _ := ca.MarshalKey(p.Alice.PrivateKey.(crypto.Signer))
	if _, err := LoadKeyPair(ca.EncodeCertificates(p.Bob.Leaf), keyPEM); !errors.Is(err, ca.ErrKeyMismatch) {
		t.Fatalf("mismatched pair: %v", err)
	}
}
