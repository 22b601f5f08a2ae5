package crlsync

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testPKI is a root and an intermediate (as wsca's ca.crt), and another root for "signed by another CA".
type testPKI struct {
	root, inter, other *testCA
	rootCRL            []byte // signed once: two different root CRLs with one number would be a rollback
}

func newCA(t testing.TB, name string, parent *testCA) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: big.NewInt(time.Now().UnixNano()).Bytes()}
	signer, issuer := crypto.Signer(key), tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: c, key: key}
}

func newTestPKI(t testing.TB) *testPKI {
	root := newCA(t, "Test Root", nil)
	return &testPKI{root: root, inter: newCA(t, "Test Intermediate", root), other: newCA(t, "Other Root", nil),
		rootCRL: crlOf(t, root, 1, time.Hour)}
}

func (p *testPKI) cas() []*x509.Certificate { return []*x509.Certificate{p.inter.cert, p.root.cert} }

// crlOf returns one PEM CRL of ca with the given number, revoking serials.
func crlOf(t testing.TB, ca *testCA, number int64, next time.Duration, serials ...int64) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range serials {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: big.NewInt(s),
			RevocationTime: time.Now().Add(-time.Hour).Truncate(time.Second)})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number),
		ThisUpdate: time.Now().Add(-time.Minute), NextUpdate: time.Now().Add(next),
		RevokedCertificateEntries: entries}, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

// crlPEM is wsca's crl.pem: the intermediate's CRL (number, revoking serials) then the root's (number 1).
func (p *testPKI) crlPEM(t testing.TB, number int64, serials ...int64) []byte {
	t.Helper()
	return append(crlOf(t, p.inter, number, time.Hour, serials...), p.rootCRL...)
}
