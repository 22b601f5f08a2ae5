package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
)

// Tests for issue 11 ("wsca serve under attack"), one or more per section; each failed on the relay before the fix.

// TestClientEKURequired (§2): a leaf without an EKU extension, or with only anyExtendedKeyUsage, is refused with
// reason wrong_eku, although x509.Verify accepts both; allow_legacy_eku admits them and logs every admission.
func TestClientEKURequired(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		name := "default"
		if legacy {
			name = "allow_legacy_eku"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, func(s string) string {
				if legacy {
					return "allow_legacy_eku: true\n" + s
				}
				return s
			})
			for _, cert := range []*tls.Certificate{&e.pki.noEKU, &e.pki.anyEKU} {
				c, _, err := e.dial("/secure", cert, nil)
				cn := cert.Leaf.Subject.CommonName
				if !legacy {
					if err == nil {
						c.CloseNow() //nolint:errcheck
						t.Fatalf("%s admitted without clientAuth", cn)
					}
					e.waitLog("client rejected", "reason=wrong_eku", "CN="+cn, "clientAuth")
					continue
				}
				if err != nil {
					t.Fatalf("%s refused with allow_legacy_eku: %v", cn, err)
				}
				echoOnce(t, c, "legacy "+cn)
				c.CloseNow() //nolint:errcheck
				e.waitLog("level=WARN", "admitted under allow_legacy_eku", "cn="+cn)
			}
			// clientAuth keeps working either way, and a serverAuth-only leaf stays refused.
			echoOnce(t, e.mustDial("/secure", &e.pki.alice), "alice")
			if c, _, err := e.dial("/secure", &e.pki.serverEKU, nil); err == nil {
				c.CloseNow() //nolint:errcheck
				t.Fatal("serverAuth-only leaf admitted")
			}
		})
	}
}

// TestServerCertEKURequired (issue 9 §4): a server certificate without serverAuth is refused at start (and so by
// `wsca serve --check`) with ErrServerCertEKU, naming the file.
func TestServerCertEKURequired(t *testing.T) {
	p := getPKI(t)
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.alice.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"server.crt": testpki.PEMCerts(p.alice.Leaf, p.inter.Cert),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), "ca.crt": p.caPEM,
		"crl.pem": p.crlPEM(t)}
	for n, d := range files {
		if err := os.WriteFile(filepath.Join(dir, n), d, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f := func(n string) string { return filepath.Join(dir, n) }
	cfg := NewSimpleConfig("127.0.0.1:0", "ws://127.0.0.1:9", f("server.crt"), f("server.key"), f("ca.crt"), f("crl.pem"))
	_, err = New(cfg, nil)
	if !errors.Is(err, ErrServerCertEKU) || !strings.Contains(err.Error(), "server.crt") {
		t.Fatalf("New with a clientAuth certificate as server certificate: %v", err)
	}
}

// getHeaders makes a plain request through the relay to a header-reporting route and decodes what the backend saw.
func (e *testEnv) getHeaders(path string, cert *tls.Certificate, hdr http.Header) http.Header {
	e.t.Helper()
	resp, body, err := e.get(path, cert, hdr)
	if err != nil || resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET %s: %v %v %s", path, resp, err, body)
	}
	var h http.Header
	if err := json.Unmarshal(body, &h); err != nil {
		e.t.Fatalf("%v: %s", err, body)
	}
	return h
}

// TestIdentityHeadersInjective (§3): certificates whose CNs differ only by leading or trailing spaces, and two
// users named alice from two different CAs, reach the backend with different identity headers; the subject
// header is well-formed RFC 4514 (a trailing space is written \20, not left to the header writer to trim).
func TestIdentityHeadersInjective(t *testing.T) {
	e := newEnv(t, nil)
	p := e.pki
	third, err := testpki.NewCA("Third Intermediate CA", p.root, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Trust the third intermediate too: ca.crt and crl.pem gain it, the relay reloads.
	writeAtomic(t, filepath.Join(e.dir, "ca.crt"), append(testpki.PEMCerts(third.Cert), p.caPEM...))
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), append(p.crlPEM(t), caCRL(t, third)...))
	if err := e.srv.Reload(); err != nil {
		t.Fatal(err)
	}
	type who struct {
		cn   string
		ca   *testpki.CA
		want [2]string // CN and Subject header values
	}
	users := []who{
		{"alice", p.inter, [2]string{"alice", "CN=alice"}},
		{"alice ", p.inter, [2]string{"alice%20", `CN=alice\20`}},
		{" alice", p.inter, [2]string{"%20alice", `CN=\20alice`}},
		{"al,ice", p.inter, [2]string{"al%2Cice", `CN=al\,ice`}},
		{"Zoë", p.inter, [2]string{"Zo%C3%AB", `CN=Zo\C3\AB`}},
		{"alice", third, [2]string{"alice", "CN=alice"}},
	}
	seen := map[string]string{}
	for _, u := range users {
		cert, err := u.ca.Issue(testpki.Leaf{CN: u.cn}, u.ca)
		if err != nil {
			t.Fatal(err)
		}
		h := e.getHeaders("/headers", &cert, nil)
		got := [2]string{h.Get(HeaderCN), h.Get(HeaderSubject)}
		if got != u.want {
			t.Errorf("CN %q from %s: headers CN, Subject = %q, want %q", u.cn, u.ca.Cert.Subject.CommonName, got, u.want)
		}
		id := got[0] + "|" + got[1] + "|" + h.Get(HeaderIssuer)
		if prev, dup := seen[id]; dup {
			t.Errorf("CN %q from %s has the same identity headers as %s: %q", u.cn, u.ca.Cert.Subject.CommonName, prev, id)
		}
		seen[id] = u.cn + " from " + u.ca.Cert.Subject.CommonName
		wantIssuer := "CN=" + u.ca.Cert.Subject.CommonName + ",O=wsca test"
		if h.Get(HeaderIssuer) != wantIssuer {
			t.Errorf("issuer header %q, want %q", h.Get(HeaderIssuer), wantIssuer)
		}
	}
}

// caCRL returns an empty CRL from ca, valid for an hour.
func caCRL(t *testing.T, ca *testpki.CA) []byte {
	t.Helper()
	out, err := ca.CRLPEM(testpki.RandSerial(), time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestForeignIdentityHeadersStripped (§4): the identity headers of other gateways, which a backend migrated from
// them may trust, never pass from a client to the backend, in any case or with underscores; strip_headers adds
// more; other headers pass.
func TestForeignIdentityHeadersStripped(t *testing.T) {
	e := newEnv(t, func(s string) string { return "strip_headers: [X-Auth-*, X-Api-User]\n" + s })
	forged := http.Header{}
	names := []string{"X-Forwarded-Client-Cert", "X-SSL-Client-DN", "X-Ssl-Client-Verify", "X_SSL_Client_S_DN",
		"Ssl-Client-Cert", "X-Client-Id", "X-Client-Dn", "Remote-User", "remote_user", "X-Remote-User",
		"X-Original-URL", "X-Rewrite-Url", "X-Auth-Request-User", "X-Api-User"}
	for _, n := range names {
		forged[n] = []string{"admin"}
	}
	forged["X-Keep"] = []string{"kept"}
	for _, path := range []string{"/public-headers", "/headers"} {
		var cert *tls.Certificate
		if path == "/headers" {
			cert = &e.pki.alice
		}
		h := e.getHeaders(path, cert, forged)
		for k, v := range h {
			for _, x := range v {
				if x == "admin" {
					t.Errorf("%s: backend received forged %s: %s", path, k, x)
				}
			}
		}
		if h.Get("X-Keep") != "kept" {
			t.Errorf("%s: an ordinary header was stripped: %v", path, h)
		}
	}
}

// TestAmbiguousPathsRefused (§5): "..;" dot segments and %25-encoded characters are answered 400 with the reason,
// unless the route sets allow_ambiguous_paths.
func TestAmbiguousPathsRefused(t *testing.T) {
	paths := []string{"/public-headers/..;/headers", "/public-headers/..;jsessionid=1/headers",
		"/public-headers/.;/x", "/public-headers/%252e%252e/headers", "/public-headers/%2541"}
	e := newEnv(t, nil)
	for _, path := range paths {
		resp, body, err := e.get(path, nil, nil)
		if err != nil || resp.StatusCode != http.StatusBadRequest ||
			!strings.Contains(string(body), "in path") {
			t.Errorf("GET %s: %v %v %s, want 400 naming the path problem", path, resp, err, body)
		}
	}
	e.waitLog("request refused", "status=400", "double-encoded")
	// Ordinary paths with ';' or '%' elsewhere pass.
	for _, path := range []string{"/public-headers/a;b", "/public-headers/100%25"} {
		if resp, body, err := e.get(path, nil, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %v %v %s", path, resp, err, body)
		}
	}
	allow := newEnv(t, func(s string) string {
		return strings.Replace(s, "  - path: /wsheaders\n", "    allow_ambiguous_paths: true\n  - path: /wsheaders\n", 1)
	})
	for _, path := range paths {
		if resp, body, err := allow.get(path, nil, nil); err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("allow_ambiguous_paths: GET %s: %v %v %s", path, resp, err, body)
		}
	}
}

// TestNoCBCSuitesByDefault (§6): OpenSSL offering only CBC suites over TLS 1.2 fails the handshake; an AEAD suite
// succeeds; tls.cipher_suites widens the list (which proves the probe would see a CBC suite if one were offered).
func TestNoCBCSuitesByDefault(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatal("openssl is required for this test (scripts/install-deps installs it)")
	}
	probe := func(e *testEnv, cipher string) (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, openssl, "s_client", "-connect", e.addr, "-tls1_2", "-cipher", cipher,
			"-servername", "localhost")
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		return err == nil && strings.Contains(string(out), "Cipher is "), string(out)
	}
	cbc := []string{"ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
		"ECDHE-RSA-AES128-SHA", "AES128-SHA", "AES128-SHA256", "AES128-GCM-SHA256"}
	e := newEnv(t, nil)
	for _, c := range cbc {
		if ok, out := probe(e, c); ok {
			t.Errorf("TLS 1.2 handshake with %s succeeded by default:\n%s", c, out)
		}
	}
	for _, c := range []string{"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"} {
		if ok, out := probe(e, c); !ok {
			t.Errorf("TLS 1.2 handshake with %s failed:\n%s", c, out)
		}
	}
	wide := newEnv(t, func(s string) string {
		return strings.Replace(s, "tls: {cert: server.crt, key: server.key}",
			"tls: {cert: server.crt, key: server.key, cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]}", 1)
	})
	if ok, out := probe(wide, "ECDHE-ECDSA-AES128-SHA"); !ok {
		t.Errorf("tls.cipher_suites with a CBC suite: handshake failed:\n%s", out)
	}
	for _, bad := range []string{"TLS_RSA_WITH_RC4_128_SHA", "TLS_AES_128_GCM_SHA256", "TLS_NOPE"} {
		_, err := ParseConfig([]byte("listen: 127.0.0.1:1\ntls: {cert: a, key: b, cipher_suites: ["+bad+"]}\n"+
			"client_ca: c\ncrl: d\nroutes: [{path: /, backend: 'ws://127.0.0.1:1'}]\n"), "/")
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), bad) {
			t.Errorf("cipher_suites [%s]: %v", bad, err)
		}
	}
}
