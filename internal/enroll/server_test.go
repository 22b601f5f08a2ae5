package enroll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/pkcs7"
	"github.com/wsca/wsca/store"
)

// testCA is a CA directory with a running EST server on loopback.
type testCA struct {
	t    *testing.T
	d    *cadir.Dir
	out  string
	url  string
	pool *x509.CertPool
	srv  *Server
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	before := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, before) }) // registered first, so it runs after the server closed
	root := t.TempDir()
	d := &cadir.Dir{Path: filepath.Join(root, "pki"), Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: time.Second}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Test"}}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	if err := os.Mkdir(out, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(cadir.IssueRequest{Name: "est", Kind: ca.KindServer, IPs: []string{"127.0.0.1"}, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	issuer, err := d.LoadIssuer()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(issuer, Files{Cert: filepath.Join(out, "est.crt"), Key: filepath.Join(out, "est.key"),
		ClientCA: d.File(cadir.BundleFile), CRL: d.File(cadir.CRLFile)}, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.TLS = srv.TLSConfig()
	hs.StartTLS()
	t.Cleanup(hs.Close)
	pool := x509.NewCertPool()
	inter, rootCert, _ := d.Chain()
	pool.AddCert(rootCert)
	pool.AddCert(inter)
	return &testCA{t: t, d: d, out: out, url: hs.URL, pool: pool, srv: srv}
}

// issue makes a certificate for name and returns it as a TLS client certificate.
func (c *testCA) issue(req cadir.IssueRequest) tls.Certificate {
	c.t.Helper()
	req.OutDir = c.out
	res, err := c.d.Issue(req)
	if err != nil {
		c.t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(res.CertPath, res.KeyPath)
	if err != nil {
		c.t.Fatal(err)
	}
	return pair
}

// post sends body to path with the given client certificate (nil: none) and headers.
func (c *testCA) post(path string, cert *tls.Certificate, contentType string, body []byte, hdr ...string) (int, []byte) {
	c.t.Helper()
	cfg := &tls.Config{RootCAs: c.pool}
	if cert != nil {
		// Sent even when the server's CA list does not name its issuer (Go's client would send nothing;
		// curl and OpenSSL send it), so that a foreign certificate reaches the server.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	tr := &http.Transport{TLSClientConfig: cfg}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, c.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

func csrFor(t *testing.T, key any, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(der))
}

func decodeAnswer(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil)))
	if err != nil {
		t.Fatalf("answer is not base64: %v\n%s", err, data)
	}
	certs, err := pkcs7.DecodeCertsOnly(der)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

const reenroll = "/.well-known/est/simplereenroll"
const enrollPath = "/.well-known/est/simpleenroll"

func TestSimpleReenroll(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", OU: "eng", Emails: []string{"alice@example.com"}, Validity: time.Hour})
	newKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// The CSR names only the CN; the CA carries OU and e-mail from the current certificate.
	status, body := c.post(reenroll, &alice, "application/pkcs10", csrFor(t, newKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	cert := decodeAnswer(t, body)
	if cert.Subject.CommonName != "alice" || len(cert.Subject.OrganizationalUnit) != 1 || cert.Subject.OrganizationalUnit[0] != "eng" ||
		len(cert.EmailAddresses) != 1 || cert.EmailAddresses[0] != "alice@example.com" {
		t.Errorf("identity not kept: %v %v", cert.Subject, cert.EmailAddresses)
	}
	if err := ca.CheckKeyMatches(newKey, cert); err != nil {
		t.Errorf("the new certificate is not for the CSR's key: %v", err)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life < time.Hour || life > time.Hour+6*time.Minute {
		t.Errorf("lifetime %s, want the CA's hour (plus backdating)", life)
	}
	st, err := c.d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := st.Get(cert.SerialNumber)
	if err != nil {
		t.Fatalf("the renewal is not recorded: %v", err)
	}
	if rec.Renews == nil || rec.Renews.Cmp(alice.Leaf.SerialNumber) != 0 {
		t.Errorf("renews %v, want %v", rec.Renews, alice.Leaf.SerialNumber)
	}
}

// TestRefusals is the issue's bad-input list for simplereenroll: each gets a clear HTTP error with a
// reason, an audit entry, and nothing issued.
func TestRefusals(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: time.Hour})
	revoked := c.issue(cadir.IssueRequest{Name: "rob", Validity: time.Hour})
	if _, err := c.d.Revoke(cadir.RevokeRequest{Target: "rob"}); err != nil {
		t.Fatal(err)
	}
	other := otherCAClient(t)
	key := alice.PrivateKey
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	good := csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}})
	for _, tc := range []struct {
		name        string
		cert        *tls.Certificate
		contentType string
		body        []byte
		status      int
		reason      string
	}{
		{"another name", &alice, "application/pkcs10", csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bob"}}), 403, ReasonIdentity},
		{"extra SAN", &alice, "application/pkcs10", csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}, EmailAddresses: []string{"boss@example.com"}}), 403, ReasonIdentity},
		{"weak key", &alice, "application/pkcs10", csrFor(t, weak, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}), 400, ReasonBadCSR},
		{"10 MB body", &alice, "application/pkcs10", bytes.Repeat([]byte("A"), 10<<20), 413, ReasonTooLarge},
		{"wrong content type", &alice, "application/json", good, 415, ReasonContentType},
		{"not base64", &alice, "application/pkcs10", []byte("%%%"), 400, ReasonBadRequest},
		{"garbage CSR", &alice, "application/pkcs10", []byte(base64.StdEncoding.EncodeToString([]byte("not a csr"))), 400, ReasonBadCSR},
		{"no certificate", nil, "application/pkcs10", good, 401, ReasonNoCert},
		{"another CA", &other, "application/pkcs10", good, 403, ReasonRejected},
		{"revoked", &revoked, "application/pkcs10", csrFor(t, revoked.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "rob"}}), 403, ReasonRevoked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countRecords(t, c.d)
			status, body := c.post(reenroll, tc.cert, tc.contentType, tc.body)
			if status != tc.status || !strings.HasPrefix(string(body), tc.reason+": ") {
				t.Errorf("got %d %q, want %d %s", status, body, tc.status, tc.reason)
			}
			if n := countRecords(t, c.d); n != before {
				t.Errorf("%d certificates recorded, want none", n-before)
			}
			if last := lastAudit(t, c.d); last.Action != cadir.ActionEnrollRefused || !strings.Contains(last.Detail, tc.reason) {
				t.Errorf("last audit entry %+v, want a refusal naming %s", last, tc.reason)
			}
		})
	}
}

// TestRevokedInDatabaseBeforeCRL: wsca revoke without wsca crl (no passphrase to publish) is enforced at once.
func TestRevokedInDatabaseBeforeCRL(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: time.Hour})
	st, err := c.d.OpenStore(false)
	if err != nil {
		t.Fatal(err)
	}
	_, err = st.Revoke(alice.Leaf.SerialNumber, store.Revocation{At: time.Now(), Reason: store.KeyCompromise, By: "test"})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	status, body := c.post(reenroll, &alice, "application/pkcs10",
		csrFor(t, alice.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}))
	if status != 403 || !strings.HasPrefix(string(body), ReasonRevoked+": ") {
		t.Errorf("got %d %q, want 403 revoked", status, body)
	}
}

func TestSimpleEnrollToken(t *testing.T) {
	c := newTestCA(t)
	token, _, err := c.d.CreateToken(cadir.IssueRequest{Name: "dev1", URIs: []string{"spiffe://example.com/dev1"}, Validity: 2 * time.Hour}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev1"}})
	bad := csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "root"}})
	// A CSR for another name is refused and leaves the token usable.
	if status, body := c.post(enrollPath, nil, "application/pkcs10", bad, "Authorization", "Bearer "+token); status != 403 ||
		!strings.HasPrefix(string(body), ReasonIdentity) {
		t.Fatalf("CSR for another name: %d %s", status, body)
	}
	status, body := c.post(enrollPath, nil, "application/pkcs10", csr, "Authorization", "Bearer "+token)
	if status != 200 {
		t.Fatalf("enrollment: %d %s", status, body)
	}
	cert := decodeAnswer(t, body)
	if cert.Subject.CommonName != "dev1" || len(cert.URIs) != 1 || cert.URIs[0].String() != "spiffe://example.com/dev1" {
		t.Errorf("identity %v %v, want the token's", cert.Subject, cert.URIs)
	}
	if status, body := c.post(enrollPath, nil, "application/pkcs10", csr, "Authorization", "Bearer "+token); status != 403 ||
		!strings.HasPrefix(string(body), ReasonBadToken) {
		t.Errorf("second use: %d %s, want 403 bad_token", status, body)
	}
}

func TestSimpleEnrollExpiredToken(t *testing.T) {
	c := newTestCA(t)
	token, _, err := c.d.CreateToken(cadir.IssueRequest{Name: "dev2"}, time.Nanosecond)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	status, body := c.post(enrollPath, nil, "application/pkcs10", csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev2"}}),
		"Authorization", "Bearer "+token)
	if status != 403 || !strings.HasPrefix(string(body), ReasonBadToken) {
		t.Errorf("expired token: %d %s", status, body)
	}
}

// TestTokenGuessRateLimit: after FailLimit wrong tokens an address gets 429, even with a right one.
func TestTokenGuessRateLimit(t *testing.T) {
	c := newTestCA(t)
	token, _, err := c.d.CreateToken(cadir.IssueRequest{Name: "dev3"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr := csrFor(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "dev3"}})
	for i := 0; i < FailLimit; i++ {
		guess := strings.Repeat("0", 31) + string(rune('a'+i))
		if status, body := c.post(enrollPath, nil, "application/pkcs10", csr, "Authorization", "Bearer "+guess); status != 403 {
			t.Fatalf("guess %d: %d %s", i, status, body)
		}
	}
	if status, body := c.post(enrollPath, nil, "application/pkcs10", csr, "Authorization", "Bearer "+token); status != 429 ||
		!strings.HasPrefix(string(body), ReasonRateLimited) {
		t.Errorf("after %d guesses: %d %s, want 429", FailLimit, status, body)
	}
	// A flood goes on being refused without growing the audit log, on either path; a holder with a valid
	// certificate from the same address still renews.
	entries := auditLen(t, c.d)
	for range 3 {
		if status, _ := c.post(reenroll, nil, "application/pkcs10", csr); status != 429 {
			t.Errorf("anonymous simplereenroll after the limit: %d, want 429", status)
		}
		if status, _ := c.post(enrollPath, nil, "application/pkcs10", csr); status != 429 {
			t.Errorf("simpleenroll without a token after the limit: %d, want 429", status)
		}
	}
	if n := auditLen(t, c.d); n != entries {
		t.Errorf("the flood added %d audit entries", n-entries)
	}
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: time.Hour})
	if status, body := c.post(reenroll, &alice, "application/pkcs10",
		csrFor(t, alice.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}})); status != 200 {
		t.Errorf("a valid holder from a limited address: %d %s", status, body)
	}
}

func auditLen(t *testing.T, d *cadir.Dir) int {
	t.Helper()
	return int(lastAudit(t, d).Seq)
}

func TestCACerts(t *testing.T) {
	c := newTestCA(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: c.pool}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(c.url + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	der, err := base64.StdEncoding.DecodeString(string(bytes.Join(bytes.Fields(data), nil)))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pkcs7.DecodeCertsOnly(der)
	if err != nil || len(certs) != 2 || !certs[0].IsCA || !certs[1].IsCA {
		t.Fatalf("cacerts: %v, %d certificates", err, len(certs))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/pkcs7-mime") {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestDatabaseNotHeld: between requests wsca.db is closed, so another writer gets its lock at once.
func TestDatabaseNotHeld(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: time.Hour})
	if status, body := c.post(reenroll, &alice, "application/pkcs10",
		csrFor(t, alice.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}})); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	st, err := store.Open(c.d.File(cadir.DBFile), store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("wsca.db is held by the enroll server: %v", err)
	}
	st.Close()
}

func countRecords(t *testing.T, d *cadir.Dir) int {
	t.Helper()
	st, err := d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	if err := st.ForEach(func(store.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func lastAudit(t *testing.T, d *cadir.Dir) store.AuditEntry {
	t.Helper()
	st, err := d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last store.AuditEntry
	if err := st.Audit(func(e store.AuditEntry) error { last = e; return nil }); err != nil {
		t.Fatal(err)
	}
	return last
}

// otherCAClient is a client certificate from an unrelated CA.
func otherCAClient(t *testing.T) tls.Certificate {
	t.Helper()
	d := &cadir.Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: time.Second}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Other"}}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Issue(cadir.IssueRequest{Name: "alice", OutDir: filepath.Dir(d.Path)})
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(res.CertPath, res.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// TestRenewalGrace: an expired certificate renews only within --grace, and not when it was revoked since
// (whether the revocation is in wsca.db only or published in crl.pem).
func TestRenewalGrace(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: 2 * time.Second})
	bob := c.issue(cadir.IssueRequest{Name: "bob", Validity: 2 * time.Second})
	if _, err := c.d.Revoke(cadir.RevokeRequest{Target: "bob", Publish: true}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(alice.Leaf.NotAfter.Add(1100 * time.Millisecond)))
	csr := func(p tls.Certificate, cn string) []byte {
		return csrFor(t, p.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}})
	}
	if status, body := c.post(reenroll, &alice, "application/pkcs10", csr(alice, "alice")); status != 403 ||
		!strings.HasPrefix(string(body), ReasonRejected) || !strings.Contains(string(body), "expired") {
		t.Fatalf("expired, no grace: %d %s", status, body)
	}
	c.srv.SetGrace(time.Hour)
	status, body := c.post(reenroll, &alice, "application/pkcs10", csr(alice, "alice"))
	if status != 200 {
		t.Fatalf("expired within the grace: %d %s", status, body)
	}
	if cert := decodeAnswer(t, body); !cert.NotAfter.After(time.Now()) {
		t.Errorf("the renewal expired at %s", cert.NotAfter)
	}
	if status, body := c.post(reenroll, &bob, "application/pkcs10", csr(bob, "bob")); status != 403 ||
		!strings.HasPrefix(string(body), ReasonRevoked+": client certificate rejected: revoked") {
		// The CRL's word, not wsca.db's: the CRLs are checked as now, not as at the expiry.
		t.Errorf("revoked and expired within the grace: %d %s", status, body)
	}
	c.srv.SetGrace(time.Second)
	if status, body := c.post(reenroll, &alice, "application/pkcs10", csr(alice, "alice")); status != 403 {
		t.Errorf("expired longer than the grace: %d %s", status, body)
	}
}

// TestAllowFrom: a renewal or enrollment from an address outside --allow-cidr is refused, with a reason and
// an audit entry; cacerts stays open.
func TestAllowFrom(t *testing.T) {
	c := newTestCA(t)
	alice := c.issue(cadir.IssueRequest{Name: "alice", Validity: time.Hour})
	c.srv.AllowFrom([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	before := countRecords(t, c.d)
	status, body := c.post(reenroll, &alice, "application/pkcs10",
		csrFor(t, alice.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}}))
	if status != 403 || !strings.HasPrefix(string(body), ReasonAddress+": ") {
		t.Errorf("renewal from 127.0.0.1: %d %s", status, body)
	}
	if status, body := c.post(enrollPath, nil, "application/pkcs10", []byte("x"), "Authorization", "Bearer "+strings.Repeat("a", 32)); status != 403 ||
		!strings.HasPrefix(string(body), ReasonAddress+": ") {
		t.Errorf("enrollment from 127.0.0.1: %d %s", status, body)
	}
	if countRecords(t, c.d) != before {
		t.Error("something was issued")
	}
	if last := lastAudit(t, c.d); !strings.Contains(last.Detail, ReasonAddress) {
		t.Errorf("last audit entry %+v", last)
	}
	c.srv.AllowFrom([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")})
	if status, body := c.post(reenroll, &alice, "application/pkcs10",
		csrFor(t, alice.PrivateKey, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice"}})); status != 200 {
		t.Errorf("renewal from an allowed address: %d %s", status, body)
	}
}
