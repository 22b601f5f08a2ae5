package doctor

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

// testPKI is the hierarchy of the connection tests, built with the ca and crl packages as wsca does:
//
//	Doctor Test Root CA ── Doctor Test Intermediate CA ── relay (server: localhost, 127.0.0.1)
//	                                                   ├─ alice, carol (valid), bob (revoked), expired
//	Other Corp Root CA ── Other Corp Intermediate CA ── mallory
type testPKI struct {
	h, other            *ca.Hierarchy
	server              *x509.Certificate
	serverKey           crypto.Signer
	alice, carol, bob   tls.Certificate
	expired, mallory    tls.Certificate
	bobSerial           *big.Int
	cas                 []*x509.Certificate // ca.crt: intermediate, root
	crlPEM              []byte
	crls                []*crl.CRL
	serverChainPEM      []byte // leaf + intermediate
	serverLeafPEM       []byte // leaf only: the "missing intermediate" fault
	serverKeyPEM, caPEM []byte
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func buildPKI() (*testPKI, error) {
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
	p := &testPKI{h: h, other: other, cas: []*x509.Certificate{h.Intermediate.Cert, h.Root.Cert}}
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
	if p.server, p.serverKey, err = leaf(h, ca.LeafRequest{Kind: ca.KindServer, Subject: pkix.Name{CommonName: "relay"},
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
		{&p.alice, h, "alice", now, 0},
		{&p.carol, h, "carol", now, 0},
		{&p.bob, h, "bob", now, 0},
		{&p.expired, h, "old", now.Add(-48 * time.Hour), time.Hour},
		{&p.mallory, other, "mallory", now, 0},
	} {
		if *c.dst, err = client(c.issuer, c.cn, c.at, c.validity); err != nil {
			return nil, err
		}
	}
	p.bobSerial = p.bob.Leaf.SerialNumber
	interCRL, err := crl.Build(crl.Template{Number: big.NewInt(2), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour),
		Issuer: h.Intermediate.Cert, Signer: h.Intermediate.Key},
		slices.Values([]crl.Entry{{Serial: p.bobSerial, RevokedAt: now.Add(-time.Minute), Reason: crl.ReasonKeyCompromise}}))
	if err != nil {
		return nil, err
	}
	rootCRL, err := crl.Build(crl.Template{Number: big.NewInt(1), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(30 * 24 * time.Hour),
		Issuer: h.Root.Cert, Signer: h.Root.Key}, slices.Values([]crl.Entry{}))
	if err != nil {
		return nil, err
	}
	p.crlPEM = crl.EncodePEM(interCRL, rootCRL)
	if p.crls, err = crl.Parse(p.crlPEM, p.cas); err != nil {
		return nil, err
	}
	p.serverChainPEM = ca.EncodeCertificates(p.server, h.Intermediate.Cert)
	p.serverLeafPEM = ca.EncodeCertificates(p.server)
	if p.serverKeyPEM, err = ca.MarshalKey(p.serverKey); err != nil {
		return nil, err
	}
	p.caPEM = ca.EncodeCertificates(p.cas...)
	return p, nil
}

// writeServerFiles writes server.crt (leaf + intermediate), leaf.crt (leaf only), server.key, ca.crt and crl.pem
// into dir.
func (p *testPKI) writeServerFiles(t *testing.T, dir string) {
	t.Helper()
	for name, data := range map[string][]byte{
		"server.crt": p.serverChainPEM, "leaf.crt": p.serverLeafPEM, "server.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": p.crlPEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// deadAddr returns a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
