package crl

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"iter"
	"math/big"
	"testing"
	"time"
)

// testCA is a CA certificate and its key, made with the standard library.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// baseTime is near the real clock so that openssl verify, which uses the
// system time, accepts the certificates.
func baseTime() time.Time { return time.Now().UTC().Truncate(time.Second) }

func genKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var k crypto.Signer
	var err error
	switch kind {
	case "p256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRoot(t testing.TB, kind, cn string) *testCA {
	t.Helper()
	key := genKey(t, kind)
	now := baseTime()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"wsca test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &testCA{cert: mustCert(t, tmpl, tmpl, key.Public(), key), key: key}
}

func (ca *testCA) newIntermediate(t testing.TB, kind, cn string, serial int64) *testCA {
	t.Helper()
	key := genKey(t, kind)
	now := baseTime()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"wsca test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return &testCA{cert: mustCert(t, tmpl, ca.cert, key.Public(), ca.key), key: key}
}

func (ca *testCA) newLeaf(t testing.TB, cn string, serial *big.Int) *x509.Certificate {
	t.Helper()
	key := genKey(t, "p256")
	now := baseTime()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return mustCert(t, tmpl, ca.cert, key.Public(), ca.key)
}

// build makes a CRL of ca listing entries, current at baseTime.
func (ca *testCA) build(t testing.TB, number int64, entries ...Entry) []byte {
	t.Helper()
	now := baseTime()
	der, err := Build(Template{
		Number: big.NewInt(number), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
		Issuer: ca.cert, Signer: ca.key,
	}, seqOf(entries))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func seqOf(entries []Entry) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		for _, e := range entries {
			if !yield(e) {
				return
			}
		}
	}
}

// genEntries lazily yields n entries with 16-octet serials derived from i
// (high bit set, so 17 encoded octets: the worst case of wsca's 128-bit random
// serials), so a million entries never exist as a slice.
func genEntries(n int, at time.Time) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		s, low := new(big.Int), new(big.Int)
		for i := range n {
			s.SetUint64(1<<63 | uint64(i+1))
			s.Lsh(s, 64)
			s.Or(s, low.SetUint64(uint64(i)*7919+1))
			if !yield(Entry{Serial: s, RevokedAt: at, Reason: i % 6}) {
				return
			}
		}
	}
}
