package relay

import (
	"context"
	"crypto/x509"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/internal/crlpubtest"
)

// TestCRLRollbackFile is issue #10 §2 for a CRL file: a stale crl.pem copied back (lower CRL number, or the same
// number with other content) is refused with an ERROR naming both numbers and counted; the newer CRL stays in
// force (alice, revoked in it, stays out); and after a restart the relay refuses to start on the stale file.
func TestCRLRollbackFile(t *testing.T) {
	p := getPKI(t)
	stale := p.crlPEM(t) // older than the env's own CRL, and than everything below
	e := newEnv(t, nil)
	crlPath := filepath.Join(e.dir, "crl.pem")
	alice := e.mustDial("/secure", &p.alice)
	done := readErr(alice)
	n := big.NewInt(time.Now().UnixNano())
	writeAtomic(t, crlPath, p.crlPEMNum(t, n, time.Now().Add(-time.Minute), time.Now().Add(time.Hour), p.alice.Leaf))
	if err := <-done; websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("alice after her revocation: %v", err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		log  string
	}{
		{"lower number", stale, "is lower than " + n.String()},
		{"same number, other content", p.crlPEMNum(t, n, time.Now().Add(-time.Minute), time.Now().Add(time.Hour)),
			"has different content"},
	} {
		writeAtomic(t, crlPath, tc.data)
		if err := e.srv.Reload(); err == nil || !strings.Contains(err.Error(), tc.log) {
			t.Fatalf("%s: Reload returned %v, want a rollback error", tc.name, err)
		}
		e.waitLog("level=ERROR", "CRL refused", "highest_seen="+n.String(), tc.log)
		if c, _, err := e.dial("/secure", &p.alice, nil); err == nil {
			c.CloseNow() //nolint:errcheck
			t.Fatalf("%s: revoked alice got back in", tc.name)
		}
		echoOnce(t, e.mustDial("/secure", &p.bob), "bob")
	}
	e.waitMetric("relay_crl_rollbacks_total 2")
	if _, err := os.Stat(crlPath + ".state.json"); err != nil {
		t.Fatalf("state file next to the CRL: %v", err)
	}
	// Restart on the stale file: refused, the watermark survived.
	cfg, err := LoadConfig(filepath.Join(e.dir, "relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "CRL rollback refused") {
		t.Fatalf("restart on a stale CRL: %v, want a rollback refusal", err)
	}
}

// urlEnv starts a relay whose crl: is the publisher's URL, with state in its own directory.
func urlEnv(t *testing.T, url string, interval string) *testEnv {
	t.Helper()
	return newEnv(t, func(s string) string {
		return strings.Replace(s, "crl: crl.pem\n", "crl: "+url+"\nstate_dir: state\ncrl_poll_interval: "+interval+"\n", 1)
	})
}

// TestCRLFromURL is issue #10 §5: a relay fed by a publisher (long-poll) cuts a revoked session within a second of
// the publication; garbage, a CRL signed by another CA and an older CRL are refused with the last good CRL kept;
// with the publisher gone, a restarted relay serves from its cached copy.
func TestCRLFromURL(t *testing.T) {
	p := getPKI(t)
	older := p.crlPEM(t)
	pub := crlpubtest.New(p.crlPEM(t))
	defer pub.Close()
	e := urlEnv(t, pub.CRLURL(), "200ms")
	alice := e.mustDial("/secure", &p.alice)
	bob := e.mustDial("/secure", &p.bob)
	echoOnce(t, alice, "a")
	time.Sleep(100 * time.Millisecond) // the poller is in its long-poll
	done := readErr(alice)
	start := time.Now()
	pub.Set(p.crlPEM(t, p.alice.Leaf))
	select {
	case err := <-done:
		took := time.Since(start)
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation || took > time.Second {
			t.Fatalf("alice's session ended with %v after %v, want 1008 within 1 s", err, took)
		}
		t.Logf("alice cut %v after the publication", took.Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("alice's session still open 3 s after the publication")
	}
	e.waitMetric("relay_crl_fetch_errors_total 0")

	other := &testPKI{inter: p.otherInter, root: p.otherRoot, inter2: p.otherInter, dave: p.mallory}
	for i, tc := range []struct {
		name string
		h    http.Handler
		log  string
	}{
		{"garbage", crlpubtest.Garbage(), "malformed CRL"},
		{"other CA", crlpubtest.Body(other.crlPEM(t)), "unknown CRL issuer"},
		{"older CRL", crlpubtest.Body(older), "CRL rollback refused"},
		{"10 MB", crlpubtest.Huge(10 << 20), "too large"},
	} {
		pub.Misbehave(tc.h)
		e.waitLog("level=ERROR", tc.log)
		e.waitMetric("relay_crl_fetch_errors_total " + strconv.Itoa(i+1))
		if c, _, err := e.dial("/secure", &p.alice, nil); err == nil {
			c.CloseNow() //nolint:errcheck
			t.Fatalf("%s: alice got back in", tc.name)
		}
		echoOnce(t, bob, tc.name)
	}
	pub.Behave()

	// Restart without the publisher: the cache in state_dir carries the last good CRL.
	pub.Close()
	cfg, err := LoadConfig(filepath.Join(e.dir, "relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("restart without network: %v", err)
	}
	if !strings.Contains(logs.String(), "using the cached CRL") {
		t.Fatalf("restart log does not mention the cache:\n%s", logs)
	}
	if _, rej := srv.mat.Load().verifyClient([]*x509.Certificate{p.alice.Leaf}, time.Now()); rej == nil || rej.Reason != ReasonRevoked {
		t.Fatalf("alice after a restart from the cache: %v, want revoked", rej)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCRLURLStaticServerAndExpiry: a plain static web server is polled at crl_poll_interval; when it goes away
// the relay keeps the last CRL and fails closed at its nextUpdate.
func TestCRLURLStaticServerAndExpiry(t *testing.T) {
	p := getPKI(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "crl.pem"), p.crlPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	static := httptest.NewServer(http.FileServer(http.Dir(dir)))
	defer static.Close()
	e := urlEnv(t, static.URL+"/crl.pem", "100ms")
	alice := e.mustDial("/secure", &p.alice)
	done := readErr(alice)
	// Revokes alice; the CRL expires in 2 s.
	writeAtomic(t, filepath.Join(dir, "crl.pem"), p.crlPEMAt(t, time.Now().Add(-time.Minute), time.Now().Add(2*time.Second), p.alice.Leaf))
	select {
	case err := <-done:
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Fatalf("alice: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a static server's new CRL did not cut alice")
	}
	static.Close()
	e.waitLog("level=ERROR", "CRL fetch failed, keeping the last good CRL")
	echoOnce(t, e.mustDial("/secure", &p.bob), "bob, with the last good CRL")
	time.Sleep(2100 * time.Millisecond)
	if c, _, err := e.dial("/secure", &p.bob, nil); err == nil {
		c.CloseNow() //nolint:errcheck
		t.Fatal("bob admitted after the CRL's nextUpdate: the relay must fail closed")
	}
	e.waitLog("client rejected", "reason=crl_expired")
}

// TestCRLURLConfig: a CRL URL needs state_dir; other schemes are refused.
func TestCRLURLConfig(t *testing.T) {
	for yml, want := range map[string]string{
		"crl: https://pki.example/crl.pem\n":             "state_dir: required with a CRL URL",
		"crl: ftp://pki.example/crl.pem\n":               "must be http:// or https://",
		"crl: http://\nstate_dir: /var/lib/wsca-relay\n": "want http:// or https:// with a host",
	} {
		base := "listen: 127.0.0.1:8443\ntls: {cert: a, key: b}\nclient_ca: ca.crt\nroutes: [{path: /, backend: ws://127.0.0.1:1}]\n"
		if _, err := ParseConfig([]byte(base+yml), "/etc/wsca"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yml, err, want)
		}
	}
	cfg, err := ParseConfig([]byte("listen: 127.0.0.1:8443\ntls: {cert: a, key: b}\nclient_ca: ca.crt\n"+
		"crl: https://pki.example/crl.pem\nstate_dir: state\nroutes: [{path: /, backend: ws://127.0.0.1:1}]\n"), "/etc/wsca")
	if err != nil || cfg.CRL != "https://pki.example/crl.pem" || cfg.StateDir != "/etc/wsca/state" {
		t.Fatalf("%+v %v", cfg, err)
	}
}

// TestCRLURLLongPollFromTheStart: with a poll interval of an hour only the long-poll can deliver; a revocation
// published right after the relay started still cuts within a second, and an idle relay does not poll.
func TestCRLURLLongPollFromTheStart(t *testing.T) {
	p := getPKI(t)
	pub := crlpubtest.New(p.crlPEM(t))
	defer pub.Close()
	e := urlEnv(t, pub.CRLURL(), "1h")
	alice := e.mustDial("/secure", &p.alice)
	done := readErr(alice)
	for i := 0; pub.Gets() < 2 && i < 300; i++ { // New's fetch, then the poller's first (held) request
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	pub.Set(p.crlPEM(t, p.alice.Leaf))
	select {
	case err := <-done:
		if took := time.Since(start); websocket.CloseStatus(err) != websocket.StatusPolicyViolation || took > time.Second {
			t.Fatalf("alice's session ended with %v after %v, want 1008 within 1 s", err, took)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("alice's session still open 3 s after the publication")
	}
	time.Sleep(300 * time.Millisecond)
	if n := pub.Gets(); n > 4 {
		t.Fatalf("%d requests to the publisher, want at most 4 (start, held, news, held)", n)
	}
}

// TestCRLURLWithBrokenConfig: a configuration file with a typo does not stop a published CRL (the reload uses the
// last good configuration) and does not count as a fetch error, so the poller does not fetch it again and again.
func TestCRLURLWithBrokenConfig(t *testing.T) {
	p := getPKI(t)
	pub := crlpubtest.New(p.crlPEM(t))
	defer pub.Close()
	e := urlEnv(t, pub.CRLURL(), "100ms")
	alice := e.mustDial("/secure", &p.alice)
	done := readErr(alice)
	cfgPath := filepath.Join(e.dir, "relay.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, cfgPath, append(data, "bogus_key: 1\n"...))
	e.waitLog("config rejected", "bogus_key")
	pub.Set(p.crlPEM(t, p.alice.Leaf))
	if err := <-done; websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Fatalf("alice after the publication: %v, want close 1008", err)
	}
	time.Sleep(500 * time.Millisecond)
	e.waitMetric("relay_crl_fetch_errors_total 0")
	if n := pub.Gets(); n > 5 {
		t.Fatalf("%d requests to the publisher in about a second: the accepted CRL is fetched again and again", n)
	}
}
