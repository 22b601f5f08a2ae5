package relay

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// testCA is a CA certificate with its key.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// testPKI is the hierarchy the relay tests use:
//
//	root ── inter ── alice, bob, carol, dave (revoked), expired, serverEKU, short (expires in seconds)
//	     ├─ inter2 (revoked by root) ── erin
//	     └─ deepA ── deepB ── frank (chain of 4: too deep for verify_depth 2)
//	otherRoot ── otherInter ── mallory
type testPKI struct {
	root, inter, inter2, deepA, deepB, otherRoot, otherInter *testCA

	server                                         tls.Certificate
	alice, bob, carol, dave, expired, serverEKU    tls.Certificate
	noEKU, anyEKU                                  tls.Certificate // clientAuth only implied (legacy CAs)
	erin, frank, mallory                           tls.Certificate
	serverChainPEM, serverKeyPEM, caPEM, backendCA []byte
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

// getPKI builds the test PKI once per test binary (ECDSA P-256 keeps it fast).
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func newKey() (crypto.Signer, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }

func randSerial() *big.Int {
	s, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return s.Add(s, big.NewInt(1))
}

func makeCA(name string, parent *testCA, maxPathLen int) (*testCA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randSerial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"wsca test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key}, nil
}

type leafOpts struct {
	cn        string
	ou        []string
	emails    []string
	eku       x509.ExtKeyUsage
	ekus      []x509.ExtKeyUsage // replaces eku when set
	noEKU     bool               // no extended key usage extension at all
	ips       []net.IP
	notBefore time.Time
	notAfter  time.Time
}

// issue returns a tls.Certificate holding the leaf followed by chain (what the client presents).
func (c *testCA) issue(o leafOpts, chain ...*testCA) (tls.Certificate, error) {
	key, err := newKey()
	if err != nil {
		return tls.Certificate{}, err
	}
	if o.notBefore.IsZero() {
		o.notBefore = time.Now().Add(-10 * time.Minute)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(12 * time.Hour)
	}
	if o.eku == 0 {
		o.eku = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber:   randSerial(),
		Subject:        pkix.Name{CommonName: o.cn, OrganizationalUnit: o.ou},
		EmailAddresses: o.emails,
		IPAddresses:    o.ips,
		NotBefore:      o.notBefore,
		NotAfter:       o.notAfter,
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{o.eku},
	}
	if o.ekus != nil {
		tmpl.ExtKeyUsage = o.ekus
	}
	if o.noEKU {
		tmpl.ExtKeyUsage = nil
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, key.Public(), c.key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	out := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	for _, ca := range chain {
		out.Certificate = append(out.Certificate, ca.cert.Raw)
	}
	return out, nil
}

func buildPKI() (*testPKI, error) {
	p := &testPKI{}
	var err error
	must := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	must(func() (e error) { p.root, e = makeCA("Test Root CA", nil, 2); return })
	must(func() (e error) { p.inter, e = makeCA("Test Intermediate CA", p.root, 0); return })
	must(func() (e error) { p.inter2, e = makeCA("Old Intermediate CA", p.root, 0); return })
	must(func() (e error) { p.deepA, e = makeCA("Deep A CA", p.root, 1); return })
	must(func() (e error) { p.deepB, e = makeCA("Deep B CA", p.deepA, 0); return })
	must(func() (e error) { p.otherRoot, e = makeCA("Other Root CA", nil, 1); return })
	must(func() (e error) { p.otherInter, e = makeCA("Other Intermediate CA", p.otherRoot, 0); return })
	if err != nil {
		return nil, err
	}
	in := p.inter
	must(func() (e error) {
		p.server, e = in.issue(leafOpts{cn: "127.0.0.1", eku: x509.ExtKeyUsageServerAuth,
			ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}}, in)
		return
	})
	must(func() (e error) {
		p.alice, e = in.issue(leafOpts{cn: "alice", ou: []string{"eng"}, emails: []string{"alice@example.com"}}, in)
		return
	})
	must(func() (e error) { p.bob, e = in.issue(leafOpts{cn: "bob", ou: []string{"ops"}}, in); return })
	must(func() (e error) { p.carol, e = in.issue(leafOpts{cn: "carol"}, in); return })
	must(func() (e error) { p.dave, e = in.issue(leafOpts{cn: "dave"}, in); return })
	must(func() (e error) {
		p.expired, e = in.issue(leafOpts{cn: "old", notBefore: time.Now().Add(-3 * time.Hour),
			notAfter: time.Now().Add(-time.Hour)}, in)
		return
	})
	must(func() (e error) {
		p.serverEKU, e = in.issue(leafOpts{cn: "server-as-client", eku: x509.ExtKeyUsageServerAuth}, in)
		return
	})
	must(func() (e error) { p.noEKU, e = in.issue(leafOpts{cn: "no-eku", noEKU: true}, in); return })
	must(func() (e error) {
		p.anyEKU, e = in.issue(leafOpts{cn: "any-eku", ekus: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, in)
		return
	})
	must(func() (e error) { p.erin, e = p.inter2.issue(leafOpts{cn: "erin"}, p.inter2); return })
	must(func() (e error) { p.frank, e = p.deepB.issue(leafOpts{cn: "frank"}, p.deepB, p.deepA); return })
	must(func() (e error) { p.mallory, e = p.otherInter.issue(leafOpts{cn: "mallory"}, p.otherInter); return })
	if err != nil {
		return nil, err
	}
	p.serverChainPEM = pemCerts(p.server.Leaf, p.inter.cert)
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.server.PrivateKey)
	if err != nil {
		return nil, err
	}
	p.serverKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	p.caPEM = pemCerts(p.inter.cert, p.inter2.cert, p.root.cert)
	p.backendCA = pemCerts(p.root.cert)
	return p, nil
}

func pemCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// crlPEM returns crl.pem content: the intermediate's CRL revoking dave plus extra leaves, the root's CRL revoking
// inter2, and inter2's empty CRL. Numbers grow with time so that a rewrite is always newer.
func (p *testPKI) crlPEM(t testing.TB, extra ...*x509.Certificate) []byte {
	t.Helper()
	return p.crlPEMAt(t, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), extra...)
}

// crlPEMAt is crlPEM with the given thisUpdate and nextUpdate.
func (p *testPKI) crlPEMAt(t testing.TB, thisUpdate, nextUpdate time.Time, extra ...*x509.Certificate) []byte {
	t.Helper()
	return p.crlPEMNum(t, big.NewInt(time.Now().UnixNano()), thisUpdate, nextUpdate, extra...)
}

// crlPEMNum is crlPEMAt with the given CRL number for all three CRLs.
func (p *testPKI) crlPEMNum(t testing.TB, number *big.Int, thisUpdate, nextUpdate time.Time,
	extra ...*x509.Certificate) []byte {
	t.Helper()
	mk := func(ca *testCA, revoked ...*x509.Certificate) []byte {
		var entries []x509.RevocationListEntry
		for _, c := range revoked {
			entries = append(entries, x509.RevocationListEntry{SerialNumber: c.SerialNumber,
				RevocationTime: thisUpdate.Add(-time.Minute).Truncate(time.Second), ReasonCode: 1})
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: number, ThisUpdate: thisUpdate, NextUpdate: nextUpdate,
			RevokedCertificateEntries: entries,
		}, ca.cert, ca.key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	}
	out := mk(p.inter, append([]*x509.Certificate{p.dave.Leaf}, extra...)...)
	out = append(out, mk(p.root, p.inter2.cert)...)
	return append(out, mk(p.inter2)...)
}

// writeAtomic replaces a file the way `wsca crl` does: temporary file, then rename.
func writeAtomic(t testing.TB, name string, data []byte) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(name), "."+filepath.Base(name)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}
