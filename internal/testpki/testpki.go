// Package testpki is the one test PKI of wsca's tests: the hierarchy of the connection tests (a CA with valid,
// revoked and expired clients, a server certificate, and a foreign CA) built with the ca and crl packages exactly
// as wsca does (testpki.go), and a crypto/x509 builder for certificates the ca package refuses to make (x509.go,
// the relay's tests). Only tests import it.
package testpki

import (
	"crypto"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// PKI is the hierarchy of the connection tests, built with the ca and crl packages as wsca does:
//
//	Doctor Test Root CA ── Doctor Test Intermediate CA ── relay (server: localhost, 127.0.0.1)
//	                                                   ├─ alice, carol (valid), bob (revoked), expired
//	Other Corp Root CA ── Other Corp Intermediate CA ── mallory
type PKI struct {
	H, Other            *ca.Hierarchy
	Server              *x509.Certificate
	ServerKey           crypto.Signer
	Alice, Carol, Bob   tls.Certificate
	Expired, Mallory    tls.Certificate
	BobSerial           *big.Int
	CAs                 []*x509.Certificate // ca.crt: intermediate, root
	CRLPEM              []byte              // the intermediate's CRL (Bob revoked) and the root's, as crl.pem
	CRLs                []*crl.CRL
	ServerChainPEM      []byte // leaf + intermediate
	ServerLeafPEM       []byte // leaf only: the "missing intermediate" fault
	ServerKeyPEM, CAPEM []byte
}

// The hierarchy is built once per test binary: key generation dominates the tests' run time otherwise. It is
// never changed after build, so sharing it between parallel tests is safe.
var (
	pkiOnce sync.Once
	pkiVal  *PKI
	pkiErr  error
)

// Get returns the shared hierarchy, failing t if it could not be built.
func Get(t testing.TB) *PKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = build() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

// build makes the hierarchy with the ca and crl packages.
func build() (*PKI, error) {
	now := time.Now()
	// The CAs start three days ago so that a client certificate can have expired already.
	start := now.Add(-72 * time.Hour)
	h, err := ca.NewHierarchy(rand.Reader, start, ca.HierarchyRequest{Name: "Doctor Test", RootValidity: 365 * 24 * time.Hour,
		IntermediateValidity: 300 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	other, err := ca.NewHierarchy(rand.Reader, start, ca.HierarchyRequest{Name: "Other Corp", RootValidity: 365 * 24 * time.Hour,
		IntermediateValidity: 300 * 24 * time.Hour})
	if err != nil {
		return nil, err
	}
	p := &PKI{H: h, Other: other, CAs: []*x509.Certificate{h.Intermediate.Cert, h.Root.Cert}}
	leaf := func(issuer *ca.Hierarchy, req ca.LeafRequest, at time.Time) (*x509.Certificate, crypto.Signer, error) {
		key, err := ca.GenerateKey(rand.Reader, ca.KeyECDSAP256)
		if err != nil {
			return nil, nil, err
		}
		req.PublicKey = key.Public()
		if req.Validity == 0 {
			req.Validity = 90 * 24 * time.Hour
		}
		cert, err := ca.Issue(rand.Reader, at, issuer.Intermediate, req)
		return cert, key, err
	}
	client := func(issuer *ca.Hierarchy, cn string, at time.Time, validity time.Duration) (tls.Certificate, error) {
		cert, key, err := leaf(issuer, ca.LeafRequest{Subject: pkix.Name{CommonName: cn}, Validity: validity}, at)
		if err != nil {
			return tls.Certificate{}, err
		}
		return tls.Certificate{Certificate: [][]byte{cert.Raw, issuer.Intermediate.Cert.Raw}, PrivateKey: key, Leaf: cert}, nil
	}
	if p.Server, p.ServerKey, err = leaf(h, ca.LeafRequest{Kind: ca.KindServer, Subject: pkix.Name{CommonName: "relay"},
		DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, now); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		dst      *tls.Certificate
		issuer   *ca.Hierarchy
		cn       string
		at       time.Time
		validity time.Duration
	}{
		{&p.Alice, h, "alice", now, 0},
		{&p.Carol, h, "carol", now, 0},
		{&p.Bob, h, "bob", now, 0},
		{&p.Expired, h, "old", now.Add(-48 * time.Hour), time.Hour},
		{&p.Mallory, other, "mallory", now, 0},
	} {
		if *c.dst, err = client(c.issuer, c.cn, c.at, c.validity); err != nil {
			return nil, err
		}
	}
	p.BobSerial = p.Bob.Leaf.SerialNumber
	interCRL, err := crl.Build(crl.Template{Number: big.NewInt(2), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour),
		Issuer: h.Intermediate.Cert, Signer: h.Intermediate.Key},
		slices.Values([]crl.Entry{{Serial: p.BobSerial, RevokedAt: now.Add(-time.Minute), Reason: crl.ReasonKeyCompromise}}))
	if err != nil {
		return nil, err
	}
	rootCRL, err := crl.Build(crl.Template{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(30 * 24 * time.Hour),
		Issuer: h.Root.Cert, Signer: h.Root.Key}, slices.Values([]crl.Entry{}))
	if err != nil {
		return nil, err
	}
	p.CRLPEM = crl.EncodePEM(interCRL, rootCRL)
	if p.CRLs, err = crl.Parse(p.CRLPEM, p.CAs); err != nil {
		return nil, err
	}
	p.ServerChainPEM = ca.EncodeCertificates(p.Server, h.Intermediate.Cert)
	p.ServerLeafPEM = ca.EncodeCertificates(p.Server)
	if p.ServerKeyPEM, err = ca.MarshalKey(p.ServerKey); err != nil {
		return nil, err
	}
	p.CAPEM = ca.EncodeCertificates(p.CAs...)
	return p, nil
}

// WriteServerFiles writes server.crt (leaf + intermediate), leaf.crt (leaf only), server.key, ca.crt and crl.pem
// into dir.
func (p *PKI) WriteServerFiles(t testing.TB, dir string) {
	t.Helper()
	for name, data := range map[string][]byte{
		"server.crt": p.ServerChainPEM, "leaf.crt": p.ServerLeafPEM, "server.key": p.ServerKeyPEM,
		"ca.crt": p.CAPEM, "crl.pem": p.CRLPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// DeadAddr returns a loopback address where nothing listens.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// ClientTLS trusts the test root and always presents cert (none when nil), even when the server's list of
// acceptable CAs does not name its issuer: the tests want the server's refusal, not a silent omission.
func (p *PKI) ClientTLS(cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(p.H.Root.Cert)
	cfg := &tls.Config{RootCAs: pool}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// WriteCRL replaces crl.pem atomically (as wsca crl does) with an intermediate CRL listing serials, plus the
// root CRL.
func (p *PKI) WriteCRL(t testing.TB, path string, number int64, serials ...*big.Int) {
	t.Helper()
	now := time.Now()
	var entries []crl.Entry
	for _, s := range serials {
		entries = append(entries, crl.Entry{Serial: s, RevokedAt: now, Reason: crl.ReasonKeyCompromise})
	}
	inter, err := crl.Build(crl.Template{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Second), NextUpdate: now.Add(time.Hour),
		Issuer: p.H.Intermediate.Cert, Signer: p.H.Intermediate.Key}, slices.Values(entries))
	if err != nil {
		t.Fatal(err)
	}
	root, err := crl.Build(crl.Template{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Second), NextUpdate: now.Add(time.Hour),
		Issuer: p.H.Root.Cert, Signer: p.H.Root.Key}, slices.Values([]crl.Entry{}))
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, crl.EncodePEM(inter, root), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
