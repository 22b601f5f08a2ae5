package relay

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
)

// testPKI is the hierarchy the relay tests use:
//
//	root ── inter ── alice, bob, carol, dave (revoked), expired, serverEKU, short (expires in seconds)
//	     ├─ inter2 (revoked by root) ── erin
//	     └─ deepA ── deepB ── frank (chain of 4: too deep for verify_depth 2)
//	otherRoot ── otherInter ── mallory
type testPKI struct {
	root, inter, inter2, deepA, deepB, otherRoot, otherInter *testpki.CA

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

// getPKI builds the test PKI once per test binary, with internal/testpki's crypto/x509 builder: the ca package
// refuses several of these certificates (two intermediates, a chain of four, leaves without clientAuth).
func getPKI(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = buildPKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

func buildPKI() (*testPKI, error) {
	p := &testPKI{}
	var err error
	must := func(f func() error) {
		if err == nil {
			err = f()
		}
	}
	must(func() (e error) { p.root, e = testpki.NewCA("Test Root CA", nil, 2); return })
	must(func() (e error) { p.inter, e = testpki.NewCA("Test Intermediate CA", p.root, 0); return })
	must(func() (e error) { p.inter2, e = testpki.NewCA("Old Intermediate CA", p.root, 0); return })
	must(func() (e error) { p.deepA, e = testpki.NewCA("Deep A CA", p.root, 1); return })
	must(func() (e error) { p.deepB, e = testpki.NewCA("Deep B CA", p.deepA, 0); return })
	must(func() (e error) { p.otherRoot, e = testpki.NewCA("Other Root CA", nil, 1); return })
	must(func() (e error) { p.otherInter, e = testpki.NewCA("Other Intermediate CA", p.otherRoot, 0); return })
	if err != nil {
		return nil, err
	}
	in := p.inter
	must(func() (e error) {
		p.server, e = in.Issue(testpki.Leaf{CN: "127.0.0.1", EKU: x509.ExtKeyUsageServerAuth,
			IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}}, in)
		return
	})
	must(func() (e error) {
		p.alice, e = in.Issue(testpki.Leaf{CN: "alice", OU: []string{"eng"}, Emails: []string{"alice@example.com"}}, in)
		return
	})
	must(func() (e error) { p.bob, e = in.Issue(testpki.Leaf{CN: "bob", OU: []string{"ops"}}, in); return })
	must(func() (e error) { p.carol, e = in.Issue(testpki.Leaf{CN: "carol"}, in); return })
	must(func() (e error) { p.dave, e = in.Issue(testpki.Leaf{CN: "dave"}, in); return })
	must(func() (e error) {
		p.expired, e = in.Issue(testpki.Leaf{CN: "old", NotBefore: time.Now().Add(-3 * time.Hour),
			NotAfter: time.Now().Add(-time.Hour)}, in)
		return
	})
	must(func() (e error) {
		p.serverEKU, e = in.Issue(testpki.Leaf{CN: "server-as-client", EKU: x509.ExtKeyUsageServerAuth}, in)
		return
	})
	must(func() (e error) { p.noEKU, e = in.Issue(testpki.Leaf{CN: "no-eku", NoEKU: true}, in); return })
	must(func() (e error) {
		p.anyEKU, e = in.Issue(testpki.Leaf{CN: "any-eku", EKUs: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, in)
		return
	})
	must(func() (e error) { p.erin, e = p.inter2.Issue(testpki.Leaf{CN: "erin"}, p.inter2); return })
	must(func() (e error) { p.frank, e = p.deepB.Issue(testpki.Leaf{CN: "frank"}, p.deepB, p.deepA); return })
	must(func() (e error) { p.mallory, e = p.otherInter.Issue(testpki.Leaf{CN: "mallory"}, p.otherInter); return })
	if err != nil {
		return nil, err
	}
	p.serverChainPEM = testpki.PEMCerts(p.server.Leaf, p.inter.Cert)
	if p.serverKeyPEM, err = testpki.KeyPEM(p.server.PrivateKey); err != nil {
		return nil, err
	}
	p.caPEM = testpki.PEMCerts(p.inter.Cert, p.inter2.Cert, p.root.Cert)
	p.backendCA = testpki.PEMCerts(p.root.Cert)
	return p, nil
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
	mk := func(ca *testpki.CA, revoked ...*x509.Certificate) []byte {
		out, err := ca.CRLPEM(number, thisUpdate, nextUpdate, revoked...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := mk(p.inter, append([]*x509.Certificate{p.dave.Leaf}, extra...)...)
	out = append(out, mk(p.root, p.inter2.Cert)...)
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
