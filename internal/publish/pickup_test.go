package publish

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// issuePickup issues name with --p12 --pickup and returns the token and the bundle password.
func (f *fixture) issuePickup(name string, ttl time.Duration) (token, password string) {
	f.t.Helper()
	out := f.t.TempDir()
	res, err := f.d.Issue(cadir.IssueRequest{Name: name, OutDir: out, P12: true, Pickup: true, PickupTTL: ttl})
	if err != nil {
		f.t.Fatal(err)
	}
	if res.PickupToken == "" || res.KeyPath != "" || res.P12Path != "" || !res.PasswordMade {
		f.t.Fatalf("pickup result: %+v", res)
	}
	if m, _ := filepath.Glob(filepath.Join(out, "*")); len(m) != 1 || filepath.Base(m[0]) != name+".crt" {
		f.t.Fatalf("files written with --pickup: %v (want only %s.crt)", m, name)
	}
	return res.PickupToken, res.P12Password
}

func (f *fixture) pickup(method, token, ua string) (*http.Response, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.url+"/pickup/"+token, nil)
	req.Header.Set("User-Agent", ua)
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return resp, string(body)
}

// audit returns the audit entries with the given action prefix.
func (f *fixture) audit(prefix store.Action) []store.AuditEntry {
	f.t.Helper()
	st, err := f.d.OpenStore(true)
	if err != nil {
		f.t.Fatal(err)
	}
	defer st.Close()
	var es []store.AuditEntry
	if err := st.Audit(func(e store.AuditEntry) error {
		if strings.HasPrefix(string(e.Action), string(prefix)) {
			es = append(es, e)
		}
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	if err := st.VerifyAudit(); err != nil {
		f.t.Fatal(err)
	}
	return es
}

func TestPickupPageDownloadOnce(t *testing.T) {
	f := newFixture(t)
	tok, pass := f.issuePickup("bob", time.Hour)

	// The page: twice (a link preview and the person), neither consumes.
	for i := 0; i < 2; i++ {
		resp, body := f.pickup(http.MethodGet, tok, "Slackbot-LinkExpanding 1.0")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET page: %d %s", resp.StatusCode, body)
		}
		for _, want := range []string{"bob.p12", `<form method="post" action="/pickup/` + tok + `">`, "Windows", "macOS", "Linux", "Android", "iPhone", "password", "works once"} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(strings.ToLower(body), "<script") || strings.Contains(body, pass) {
			t.Error("page has a script or the password")
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
	}
	resp, body := f.pickup(http.MethodPost, tok, "Mozilla/5.0 test")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-pkcs12" ||
		resp.Header.Get("Content-Disposition") != `attachment; filename=bob.p12` {
		t.Fatalf("download: %d %v", resp.StatusCode, resp.Header)
	}
	key, cert, _, err := pkcs12.DecodeChain([]byte(body), pass)
	if err != nil || cert.Subject.CommonName != "bob" || key == nil {
		t.Fatalf("bundle: %v, %v", cert, err)
	}
	for _, m := range []string{http.MethodPost, http.MethodGet} {
		resp, body = f.pickup(m, tok, "Mozilla/5.0 test")
		if resp.StatusCode != http.StatusGone || !strings.Contains(body, "already been used") || !strings.Contains(body, "Ask the administrator of Publish Test Intermediate CA") {
			t.Fatalf("%s after download: %d %s", m, resp.StatusCode, body)
		}
	}
	resp, body = f.pickup(http.MethodGet, strings.Repeat("A", 43), "guesser")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "not valid") {
		t.Fatalf("guessed token: %d %s", resp.StatusCode, body)
	}
	got := map[string]int{}
	for _, e := range f.audit("pickup-") {
		got[string(e.Action)]++
		if e.Action != store.ActionPickupStore && (!strings.Contains(e.Detail, "addr=127.0.0.1:") || !strings.Contains(e.Detail, `ua="`)) {
			t.Errorf("audit entry without address and user agent: %+v", e)
		}
		if strings.Contains(e.Detail, tok) {
			t.Errorf("audit entry holds the token: %+v", e)
		}
	}
	want := map[string]int{"pickup-store": 1, "pickup-view": 2, "pickup-download": 1, "pickup-refused": 3}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("audit actions %v, want %v", got, want)
	}
}

// TestPickupConcurrentDownloads: simultaneous POSTs; exactly one gets the bundle, the others 410.
func TestPickupConcurrentDownloads(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.issuePickup("carol", time.Hour)
	const n = 8
	codes := make(chan int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, f.url+"/pickup/"+tok, nil)
			resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
			if err != nil {
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[http.StatusOK] != 1 || got[http.StatusGone] != n-1 {
		t.Fatalf("status counts %v: want one 200 and %d 410", got, n-1)
	}
	if d := f.audit(store.ActionPickupDownload); len(d) != 1 {
		t.Fatalf("%d download audit entries", len(d))
	}
}

// TestPickupExpiry: an expired link is refused with 410 and its bundle deleted, on a visit or by the sweep.
func TestPickupExpiry(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.issuePickup("dave", time.Millisecond)
	f.issuePickup("erin", time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	resp, body := f.pickup(http.MethodPost, tok, "late")
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "This link has expired") {
		t.Fatalf("expired link: %d %s", resp.StatusCode, body)
	}
	f.srv.expirePickups()
	st, err := f.d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	n, _, err := st.PendingPickups()
	st.Close()
	if n != 0 || err != nil {
		t.Fatalf("pending after expiry: %d, %v", n, err)
	}
	if e := f.audit(store.ActionPickupExpire); len(e) != 2 {
		t.Fatalf("%d expiry audit entries, want 2", len(e))
	}
}

// TestPickupRevokedBeforeDownload: wsca revoke before the pickup; the link answers 410 and hands nothing out.
func TestPickupRevokedBeforeDownload(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.issuePickup("hank", time.Hour)
	if _, err := f.d.Revoke(cadir.RevokeRequest{Target: "hank"}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.pickup(http.MethodPost, tok, "x")
	if resp.StatusCode != http.StatusGone || !strings.Contains(body, "withdrawn") || strings.Contains(resp.Header.Get("Content-Type"), "pkcs12") {
		t.Fatalf("download after revocation: %d %s", resp.StatusCode, body)
	}
}

// TestPickupGuessLimit: refusals per address are bounded, so guessing cannot fill the audit log.
func TestPickupGuessLimit(t *testing.T) {
	f := newFixture(t)
	for i := 0; i < pickupFailLimit; i++ {
		if resp, _ := f.pickup(http.MethodGet, fmt.Sprintf("guess%d", i), "g"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
	}
	if resp, _ := f.pickup(http.MethodGet, "one-more", "g"); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d refusals: %d, want 429", pickupFailLimit, resp.StatusCode)
	}
	if e := f.audit(store.ActionPickupRefused); len(e) != pickupFailLimit {
		t.Fatalf("%d refused entries, want %d", len(e), pickupFailLimit)
	}
}

// TestPickupWhileIssuing: wsca issue and revoke keep working between pickup requests (publish holds no lock).
func TestPickupWhileIssuing(t *testing.T) {
	f := newFixture(t)
	tok, _ := f.issuePickup("frank", time.Hour)
	f.pickup(http.MethodGet, tok, "x")
	d := *f.d
	d.LockTimeout = 200 * time.Millisecond
	if _, err := d.Issue(cadir.IssueRequest{Name: "gina", OutDir: t.TempDir()}); err != nil {
		t.Fatalf("issue while publish runs: %v", err)
	}
	if resp, _ := f.pickup(http.MethodPost, tok, "x"); resp.StatusCode != http.StatusOK {
		t.Fatalf("download: %d", resp.StatusCode)
	}
}

// FuzzPickupPath: whatever follows /pickup/ gives a page with a known status, never a panic or a 5xx.
func FuzzPickupPath(f *testing.F) {
	d := &cadir.Dir{Path: filepath.Join(f.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: 5 * time.Second}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Fuzz"}}); err != nil {
		f.Fatal(err)
	}
	res, err := d.Issue(cadir.IssueRequest{Name: "zed", OutDir: f.TempDir(), P12: true, Pickup: true})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Dir: d})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	for _, s := range []string{res.PickupToken, "", "x", "..", "%2e%2e/wsca.db", strings.Repeat("A", 43), "a/b", "\x00", "é"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, tail string, post bool) {
		m := http.MethodGet
		if post {
			m = http.MethodPost
		}
		req := httptest.NewRequestWithContext(context.Background(), m, "/", nil)
		req.URL = &url.URL{Path: "/pickup/" + tail}
		req.RemoteAddr = net.JoinHostPort("127.0.0.1", fmt.Sprint(len(tail)%50000+1))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK, http.StatusNotFound, http.StatusGone, http.StatusTooManyRequests,
			http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusMethodNotAllowed:
		default:
			t.Fatalf("%s /pickup/%q: %d %s", m, tail, rec.Code, rec.Body)
		}
	})
}
