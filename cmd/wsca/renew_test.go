package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestRenewKeepsRouteAccess is issue 9 §3: a user whose certificate carries an OU, an e-mail and a URI
// is renewed with the help's own command (wsca issue alice --renew in the directory where alice was
// issued) and keeps access to routes that allow exactly those, through a running wsca serve. Before the
// fix the renewal was refused (alice.crt exists), and with another --out it dropped OU, e-mail and URI.
func TestRenewKeepsRouteAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "relay", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "alice", "--ou", "eng", "--email", "alice@example.com", "--uri", "spiffe://example.com/alice",
			"--key-type", "rsa-2048", "--p12", "--out", work, "--passphrase-file", pass},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil || c.Write(ctx, typ, msg) != nil {
				return
			}
		}
	}))
	defer echo.Close()
	backend := "ws://" + strings.TrimPrefix(echo.URL, "http://")
	config := fmt.Sprintf(`listen: 127.0.0.1:0
tls: {cert: %[1]s/relay.crt, key: %[1]s/relay.key}
client_ca: %[2]s/ca.crt
crl: %[2]s/crl.pem
routes:
  - {path: /ou, backend: %[3]s, allow_ou: [eng]}
  - {path: /email, backend: %[3]s, allow_email: [alice@example.com]}
  - {path: /uri, backend: %[3]s, allow_uri: ["spiffe://example.com/alice"]}
`, work, dir, backend)
	cfgPath := filepath.Join(work, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, dir, "serve", "--config", cfgPath)
	through := func(route string) (string, error) {
		out, err := wscaRun(dir, "client", "wss://"+addr+route, "--cert", filepath.Join(work, "alice.crt"),
			"--key", filepath.Join(work, "alice.key"), "--ca", filepath.Join(dir, "ca.crt"), "--send", "ping")
		return string(out), err
	}
	for _, route := range []string{"/ou", "/email", "/uri"} {
		if out, err := through(route); err != nil || !strings.Contains(out, "< ping") {
			t.Fatalf("before renewal, %s: %v\n%s", route, err, out)
		}
	}

	// The help's example, in the same directory.
	out, err := wscaRun(dir, "issue", "alice", "--renew", "--p12", "--out", work, "--passphrase-file", pass)
	if err != nil {
		t.Fatalf("wsca issue alice --renew --p12: %v\n%s", err, out)
	}
	for _, want := range []string{"renews:", "kept:        OU=eng, email:alice@example.com, uri:spiffe://example.com/alice, key rsa-2048", "previous:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("renewal output lacks %q:\n%s", want, out)
		}
	}
	archived, _ := filepath.Glob(filepath.Join(work, "alice.*.crt"))
	keys, _ := filepath.Glob(filepath.Join(work, "alice.*.key"))
	p12s, _ := filepath.Glob(filepath.Join(work, "alice.*.p12"))
	if len(archived) != 1 || len(keys) != 1 || len(p12s) != 1 {
		t.Fatalf("previous files kept under their serial: crt %v key %v p12 %v", archived, keys, p12s)
	}
	for _, route := range []string{"/ou", "/email", "/uri"} {
		if out, err := through(route); err != nil || !strings.Contains(out, "< ping") {
			t.Errorf("after renewal, %s: %v\n%s", route, err, out)
		}
	}
	show, err := wscaRun(dir, "show", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"renews:", "renewed by:", "kept from", "OU=eng"} {
		if !strings.Contains(string(show), want) {
			t.Errorf("wsca show alice lacks %q:\n%s", want, show)
		}
	}
}

// startServe runs wsca serve as a child process until the test ends and returns its listen address.
func startServe(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return startChild(t, dir, regexp.MustCompile(`msg="relay listening" addr=(\S+)`), args...)
}
