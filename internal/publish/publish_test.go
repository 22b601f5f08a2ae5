package publish

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/crypto/ocsp"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/atomicfile"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/ocspresp"
	"github.com/wsca/wsca/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fixture is a CA directory with alice issued and an OCSP signer, and a running publisher on loopback.
type fixture struct {
	t     testing.TB
	d     *cadir.Dir
	alice *x509.Certificate
	inter *x509.Certificate
	url   string
	srv   *Server
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	d := &cadir.Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: 5 * time.Second}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Publish Test"}, OCSPURL: "http://127.0.0.1/ocsp"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.EnsureOCSPSigner(0); err != nil {
		t.Fatal(err)
	}
	res, err := d.Issue(cadir.IssueRequest{Name: "alice", OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, d: d}
	if f.alice, err = x509.ParseCertificate(res.Record.DER); err != nil {
		t.Fatal(err)
	}
	if f.inter, _, err = d.Chain(); err != nil {
		t.Fatal(err)
	}
	if len(f.alice.OCSPServer) != 1 || f.alice.OCSPServer[0] != "http://127.0.0.1/ocsp" {
		t.Fatalf("alice's AIA OCSP: %v", f.alice.OCSPServer)
	}
	var stop func()
	f.srv, f.url, stop = startServer(t, Config{Dir: d})
	t.Cleanup(stop)
	return f
}

func (f *fixture) get(path string, hdr map[string]string) (*http.Response, []byte) {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.url+path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{Timeout: 20 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, body
}

func (f *fixture) crl() {
	f.t.Helper()
	if _, err := f.d.GenerateCRL(cadir.CRLOptions{}); err != nil {
		f.t.Fatal(err)
	}
}

func TestCRLEndpoints(t *testing.T) {
	f := newFixture(t)
	disk, err := os.ReadFile(f.d.File(cadir.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.get("/crl.pem", nil)
	sum := sha256.Sum256(disk)
	etag := `"` + hex.EncodeToString(sum[:])[:32] + `"`
	if resp.StatusCode != 200 || !bytes.Equal(body, disk) || resp.Header.Get("ETag") != etag ||
		resp.Header.Get("Content-Type") != "application/x-pem-file" || resp.Header.Get("Last-Modified") == "" {
		t.Fatalf("GET /crl.pem: %d %v", resp.StatusCode, resp.Header)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=60" {
		t.Fatalf("Cache-Control %q", cc)
	}
	for _, c := range []struct {
		name string
		hdr  map[string]string
		path string
		want int
	}{
		{"If-None-Match", map[string]string{"If-None-Match": etag}, "/crl.pem", 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"00"`}, "/crl.pem", 200},
		{"If-Modified-Since", map[string]string{"If-Modified-Since": resp.Header.Get("Last-Modified")}, "/crl.pem", 304},
		{"If-Modified-Since old", map[string]string{"If-Modified-Since": "Mon, 02 Jan 2006 15:04:05 GMT"}, "/crl.pem", 200},
		{"wait with other ETag answers at once", map[string]string{"If-None-Match": `"00"`}, "/crl.pem?wait=30s", 200},
		{"malformed wait", nil, "/crl.pem?wait=soon", 400},
		{"negative wait", nil, "/crl.pem?wait=-1s", 400},
		{"unknown CA", nil, "/crl/other.crl", 404},
		{"ca.crt", nil, "/ca.crt", 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			resp, _ := f.get(c.path, c.hdr)
			if resp.StatusCode != c.want || time.Since(start) > 2*time.Second {
				t.Fatalf("status %d after %v, want %d at once", resp.StatusCode, time.Since(start), c.want)
			}
			if c.want == 304 && resp.Header.Get("ETag") != etag {
				t.Fatalf("304 without the ETag: %v", resp.Header)
			}
		})
	}
	for _, name := range []string{"intermediate", "root"} {
		resp, body := f.get("/crl/"+name+".crl", nil)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, resp.Header)
		}
		rl, err := x509.ParseRevocationList(body)
		if err != nil || !strings.Contains(rl.Issuer.CommonName, map[string]string{"intermediate": "Intermediate", "root": "Root"}[name]) {
			t.Fatalf("%s: %v %v", name, err, rl)
		}
	}
}

// TestLongPoll: a request holding the current ETag with ?wait= returns as soon as wsca crl publishes (200,
// new ETag), or with 304 when the wait elapses.
func TestLongPoll(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.get("/crl.pem", nil)
	etag := resp.Header.Get("ETag")

	start := time.Now()
	resp, _ = f.get("/crl.pem?wait=300ms", map[string]string{"If-None-Match": etag})
	if el := time.Since(start); resp.StatusCode != 304 || el < 250*time.Millisecond || el > 2*time.Second {
		t.Fatalf("no change: %d after %v, want 304 after ~300ms", resp.StatusCode, el)
	}

	type answer struct {
		resp *http.Response
		at   time.Time
	}
	got := make(chan answer, 1)
	go func() {
		resp, _ := f.get("/crl.pem?wait=30s", map[string]string{"If-None-Match": etag})
		got <- answer{resp, time.Now()}
	}()
	time.Sleep(300 * time.Millisecond)
	f.crl()
	published := time.Now()
	a := <-got
	if a.resp.StatusCode != 200 || a.resp.Header.Get("ETag") == etag {
		t.Fatalf("after wsca crl: %d, ETag %s (was %s)", a.resp.StatusCode, a.resp.Header.Get("ETag"), etag)
	}

	lag := a.at.Sub(published)
	t.Logf("long-poll answered %v after wsca crl returned", lag)
	if lag > 300*time.Millisecond {
		t.Fatalf("long-poll answered %v after the publication, want < 100ms (+ slack for a loaded machine)", lag)
	}
}

// TestRollbackRefused: an older crl.pem written back over a newer one is not served.
func TestRollbackRefused(t *testing.T) {
	f := newFixture(t)
	old, err := os.ReadFile(f.d.File(cadir.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	f.crl()
	newer, _ := os.ReadFile(f.d.File(cadir.CRLFile))
	waitFor(t, "the newer crl.pem", func() bool { _, b := f.get("/crl.pem", nil); return bytes.Equal(b, newer) })
	if err := atomicfile.Write(f.d.File(cadir.CRLFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the refusal", func() bool { return f.srv.metrics.crlRefused.Load() == 1 })
	if _, b := f.get("/crl.pem", nil); !bytes.Equal(b, newer) {
		t.Fatal("the older crl.pem is served")
	}
	// A CRL signed by another CA, a truncated file and garbage are refused the same way.
	other := newFixture(t)
	foreign, err := os.ReadFile(other.d.File(cadir.CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	for i, bad := range [][]byte{foreign, newer[:len(newer)/2], []byte("<html>not found</html>")} {
		if err := atomicfile.Write(f.d.File(cadir.CRLFile), bad, 0o644); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the refusal", func() bool { return f.srv.metrics.crlRefused.Load() == int64(2+i) })
		if _, b := f.get("/crl.pem", nil); !bytes.Equal(b, newer) {
			t.Fatalf("bad crl.pem %d is served", i)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no %s after 5s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(start)
}

func (f *fixture) ocsp(cert *x509.Certificate, issuer *x509.Certificate) (*http.Response, []byte) {
	f.t.Helper()
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp, err := http.Post(f.url+"/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func (f *fixture) status(cert *x509.Certificate) int {
	f.t.Helper()
	_, body := f.ocsp(cert, f.inter)
	r, err := ocsp.ParseResponseForCert(body, cert, f.inter)
	if err != nil {
		f.t.Fatalf("OCSP response: %v", err)
	}
	return r.Status
}

// TestOCSPRevocation: good, then revoked within 1 s of Revoke returning, with no wsca crl run; the database
// is not held while the publisher is idle (a writer with a 100 ms lock timeout gets in).
func TestOCSPRevocation(t *testing.T) {
	f := newFixture(t)
	if s := f.status(f.alice); s != ocsp.Good {
		t.Fatalf("alice: status %d, want good", s)
	}
	st, err := store.Open(f.d.File(cadir.DBFile), store.Options{Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("the idle publisher holds wsca.db: %v", err)
	}
	st.Close()
	if _, err := f.d.Revoke(cadir.RevokeRequest{Target: "alice", Reason: store.KeyCompromise}); err != nil {
		t.Fatal(err)
	}
	lag := waitFor(t, "revoked answer", func() bool { return f.status(f.alice) == ocsp.Revoked })
	t.Logf("OCSP said revoked %v after Revoke returned", lag)
	if lag > time.Second {
		t.Fatalf("revoked after %v, want within 1s", lag)
	}
}

func TestOCSPBadInput(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	if resp, body := f.ocsp(other.alice, other.inter); resp.StatusCode != 200 || !bytes.Equal(body, ocspresp.ErrorResponse(ocspresp.Unauthorized)) {
		t.Fatalf("another CA's certificate: %d %x", resp.StatusCode, body)
	}
	// A 10 MB body, sent over a raw connection so the answer is read even while the rest is still being sent:
	// 413 with malformedRequest after at most ocspresp.MaxRequestSize bytes, then the connection is closed.
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go func() {
		fmt.Fprintf(conn, "POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: %d\r\n\r\n", 10<<20)
		_, _ = io.Copy(conn, io.LimitReader(zeroReader{}, 10<<20)) // fails once the server closes: expected
	}()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	big, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("10 MB body: %v", err)
	}
	body, _ := io.ReadAll(big.Body)
	if big.StatusCode != http.StatusRequestEntityTooLarge || !bytes.Equal(body, ocspresp.ErrorResponse(ocspresp.MalformedRequest)) {
		t.Fatalf("10 MB body: %d %x", big.StatusCode, body)
	}
	if resp, body := f.get("/ocsp/not-base64!", nil); resp.StatusCode != 200 || !bytes.Equal(body, ocspresp.ErrorResponse(ocspresp.MalformedRequest)) {
		t.Fatalf("GET garbage: %d %x", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPut, f.url+"/ocsp", nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Fatalf("PUT: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if f.status(f.alice) != ocsp.Good {
		t.Fatal("alice not good after the bad requests")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestOCSPGet: RFC 6960 §A.1 GET with the base64 request in the path (kept as is even with "//" or "+"),
// cacheable for a bounded time.
func TestOCSPGet(t *testing.T) {
	f := newFixture(t)
	der, err := ocsp.CreateRequest(f.alice, f.inter, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := f.get("/ocsp/"+base64.StdEncoding.EncodeToString(der), nil)
	r, err := ocsp.ParseResponseForCert(body, f.alice, f.inter)
	if err != nil || r.Status != ocsp.Good || resp.Header.Get("Content-Type") != "application/ocsp-response" {
		t.Fatalf("GET: %v %v %v", err, r, resp.Header)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
		t.Fatalf("Cache-Control %q", cc)
	}
}

// TestDBLockedRetry: while a writer holds wsca.db (a long wsca issue), the publisher cannot read it and
// keeps its last snapshot; it reads the change on the first tick after the writer closes.
func TestDBLockedRetry(t *testing.T) {
	f := newFixture(t)
	if s := f.status(f.alice); s != ocsp.Good {
		t.Fatalf("alice: %d", s)
	}
	st, err := store.Open(f.d.File(cadir.DBFile), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Revoke(f.alice.SerialNumber, store.Revocation{At: time.Now(), Reason: store.KeyCompromise, By: "test"}); err != nil {
		t.Fatal(err)
	}
	reads := f.srv.metrics.dbReads.Load()
	time.Sleep(1500 * time.Millisecond) // three lock timeouts of the publisher
	if s := f.status(f.alice); s != ocsp.Good || f.srv.metrics.dbReads.Load() != reads {
		t.Fatalf("while the writer holds the database: status %d, %d reads", s, f.srv.metrics.dbReads.Load()-reads)
	}
	st.Close()
	closed := time.Now()
	waitFor(t, "revoked answer", func() bool { return f.status(f.alice) == ocsp.Revoked })
	if lag := time.Since(closed); lag > time.Second {
		t.Fatalf("revoked %v after the writer closed, want within 1s", lag)
	}
}

// TestLastModifiedIncreases: publications in quick succession (within one second) still get increasing
// Last-Modified values, so a poller using If-Modified-Since sees each of them.
func TestLastModifiedIncreases(t *testing.T) {
	f := newFixture(t)
	resp, _ := f.get("/crl.pem", nil)
	for i := 0; i < 3; i++ {
		etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
		f.crl()
		waitFor(t, "the new crl.pem", func() bool { resp, _ = f.get("/crl.pem", nil); return resp.Header.Get("ETag") != etag })
		prev, _ := http.ParseTime(lm)
		now, _ := http.ParseTime(resp.Header.Get("Last-Modified"))
		if !now.After(prev) {
			t.Fatalf("publication %d: Last-Modified %v, not after the previous %v", i+1, now, prev)
		}
		if r, _ := f.get("/crl.pem", map[string]string{"If-Modified-Since": lm}); r.StatusCode != 200 {
			t.Fatalf("publication %d: If-Modified-Since the previous one: %d, want 200", i+1, r.StatusCode)
		}
	}
}

// TestServeTLS: --tls-cert/--tls-key serve the same endpoints over HTTPS.
func TestServeTLS(t *testing.T) {
	f := newFixture(t)
	out := t.TempDir()
	res, err := f.d.Issue(cadir.IssueRequest{Name: "pki", Kind: ca.KindServer, IPs: []string{"127.0.0.1"}, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Dir: f.d})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, res.CertPath, res.KeyPath) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	<-srv.Ready()
	_, root, err := f.d.Chain()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://" + ln.Addr().String() + "/crl.pem")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("HTTPS GET /crl.pem: %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
}
