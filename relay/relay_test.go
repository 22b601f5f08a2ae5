package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/internal/testpki"
)

func TestValidClientEchoes(t *testing.T) {
	e := newEnv(t, nil)
	for _, v := range []struct {
		name string
		max  uint16
	}{{"tls1.3", tls.VersionTLS13}, {"tls1.2", tls.VersionTLS12}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := e.clientTLS(&e.pki.alice)
			cfg.MaxVersion = v.max
			tr := &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, "wss://"+e.addr+"/secure", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow() //nolint:errcheck
			c.SetReadLimit(1 << 20)
			echoOnce(t, c, "hello "+v.name)
			big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB: exercises the pooled buffers
			echoOnce(t, c, big)
			// Pauses longer than the test relay's idleAfter: both directions park, then wake on new data.
			for i := range 3 {
				time.Sleep(60 * time.Millisecond)
				echoOnce(t, c, fmt.Sprintf("after a pause %d", i))
			}
			time.Sleep(60 * time.Millisecond)
			echoOnce(t, c, big)
			c.Close(websocket.StatusNormalClosure, "") //nolint:errcheck
		})
	}
	e.waitLog("msg=access", "cn=alice", "route=/secure", "status=101", "bytes_in=")
}

func TestPublicRouteWithoutCertificate(t *testing.T) {
	e := newEnv(t, nil)
	c := e.mustDial("/public", nil)
	echoOnce(t, c, "anonymous")
	// The demo page is served through the "/" route, and names the client.
	resp, body, err := e.get("/", &e.pki.alice, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %v, %v", resp, err)
	}
	if !strings.Contains(string(body), `id="who">alice<`) || !strings.Contains(string(body), `"/secure"`) {
		t.Errorf("page does not name alice or open /secure:\n%s", body)
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t, nil)
	p := e.pki
	tests := []struct {
		name   string
		path   string
		cert   *tls.Certificate
		status int // 0: the TLS handshake fails
		log    []string
	}{
		{"no certificate", "/secure", nil, http.StatusForbidden, []string{"reason=no_certificate"}},
		{"other CA", "/secure", &p.mallory, 0, []string{"reason=unknown_ca", "CN=mallory"}},
		{"expired", "/secure", &p.expired, 0, []string{"reason=expired", "CN=old"}},
		{"revoked", "/secure", &p.dave, 0, []string{"reason=revoked", serialOfCert(p.dave)}},
		{"revoked intermediate", "/secure", &p.erin, 0, []string{"reason=revoked", "CN=erin",
			"serial=" + p.inter2.Cert.SerialNumber.Text(16), "CA certificate"}},
		{"server certificate as client", "/secure", &p.serverEKU, 0, []string{"reason=wrong_eku"}},
		{"chain too deep", "/secure", &p.frank, 0, []string{"reason=chain_too_long", "CN=frank"}},
		{"CN not allowed", "/alice-only", &p.bob, http.StatusForbidden, []string{"reason=cn_not_allowed", "CN=bob"}},
		{"IP not allowed", "/lan", &p.alice, http.StatusForbidden, []string{"reason=ip_not_allowed", "127.0.0.1"}},
		{"revoked on a public route", "/public", &p.dave, 0, []string{"reason=revoked", serialOfCert(p.dave)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, resp, err := e.dial(tt.path, tt.cert, nil)
			if err == nil {
				c.CloseNow() //nolint:errcheck
				t.Fatal("dial succeeded, want a rejection")
			}
			switch {
			case tt.status == 0 && resp != nil:
				t.Errorf("got HTTP %d, want a failed TLS handshake (%v)", resp.StatusCode, err)
			case tt.status != 0 && (resp == nil || resp.StatusCode != tt.status):
				t.Errorf("got %v (%v), want HTTP %d", resp, err, tt.status)
			}
			e.waitLog(append([]string{"client rejected"}, tt.log...)...)
		})
	}
	// The allowed client of the restricted route passes.
	echoOnce(t, e.mustDial("/alice-only", &p.alice), "ok")
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`relay_handshakes_total{outcome="rejected",reason="unknown_ca"} 1`,
		`relay_handshakes_total{outcome="rejected",reason="revoked"} 3`,
		`relay_policy_rejections_total{reason="cn_not_allowed"} 1`, `relay_active_sessions 1`,
		`relay_crl_entries{issuer="Test Intermediate CA"} 1`, `relay_crl_next_update_seconds{issuer="Test Root CA"} 3`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, rec.Body.String())
		}
	}
}

func TestPlainHTTPToWebSocketRoute(t *testing.T) {
	e := newEnv(t, nil)
	resp, body, err := e.get("/secure", &e.pki.alice, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" ||
		!strings.Contains(string(body), "WebSocket") {
		t.Errorf("got %d %q %q, want 426 with Upgrade: websocket", resp.StatusCode, resp.Header.Get("Upgrade"), body)
	}
	// An opening handshake carrying a body is refused (a smuggling attempt), as is a non-WebSocket upgrade.
	for _, req := range []string{
		"GET /secure HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nContent-Length: 5\r\n\r\nhello",
		"GET /secure HTTP/1.1\r\nHost: r\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
	} {
		conn, err := tls.Dial("tcp", e.addr, e.clientTLS(&e.pki.alice))
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil || resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: got %v %v, want 400", req, resp, err)
		}
	}
	for _, path := range []string{"/public/../secure", "/secure%2fx", "/public/./x"} {
		resp, _, err := e.get(path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 400 or 404", path, resp.StatusCode)
		}
	}
}

func TestBackendDown(t *testing.T) {
	e := newEnv(t, nil)
	_, resp, err := e.dial("/down", &e.pki.alice, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("dial /down = %v, %v; want 502", resp, err)
	}
	e.waitLog("backend unavailable", "backend=ws://"+e.deadAddr)
}

// TestHeaderForgingStripped proves that identity headers reach the backend only from the relay, whatever the client
// sends: case and underscore variants, a Connection header naming them, and on an anonymous request.
func TestHeaderForgingStripped(t *testing.T) {
	e := newEnv(t, nil)
	forged := http.Header{
		"X-Client-Cert-Cn":        {"mallory"},
		"x-client-cert-serial":    {"00"},
		"X_Client_Cert_CN":        {"mallory"},
		"X-CLIENT-VERIFY":         {"SUCCESS"},
		"Client-Cert":             {":Zm9yZ2Vk:"},
		"Client_Cert_Chain":       {":Zm9yZ2Vk:"},
		"X-Client-Cert-Subject":   {"CN=mallory"},
		"X-Forwarded-For":         {"10.1.2.3"},
		"Connection":              {"X-Client-Cert-Fingerprint, X-Client-Verify"},
		"X-Client-Cert-Not-After": {"2099-01-01T00:00:00Z"},
	}
	check := func(t *testing.T, got http.Header, cert *tls.Certificate) {
		t.Helper()
		for k := range got {
			if strings.Contains(k, "_") {
				t.Errorf("backend received %q", k)
			}
		}
		want := map[string]string{HeaderVerify: "NONE", "X-Forwarded-For": "127.0.0.1", HeaderCN: "",
			HeaderClientCert: "", HeaderSerial: "", HeaderSubject: "", HeaderNotAfter: ""}
		if cert != nil {
			want = map[string]string{HeaderVerify: "SUCCESS", "X-Forwarded-For": "127.0.0.1", HeaderCN: "alice",
				HeaderSerial:     cert.Leaf.SerialNumber.Text(16),
				HeaderClientCert: ":" + base64.StdEncoding.EncodeToString(cert.Leaf.Raw) + ":",
				HeaderSubject:    cert.Leaf.Subject.String(), HeaderNotAfter: cert.Leaf.NotAfter.UTC().Format(time.RFC3339)}
		}
		for k, v := range want {
			vals := got.Values(k)
			if v == "" && len(vals) == 0 {
				continue
			}
			if len(vals) != 1 || vals[0] != v {
				t.Errorf("%s = %q, want %q", k, vals, v)
			}
		}
		if cert != nil && len(got.Get(HeaderFingerprint)) != 64 {
			t.Errorf("fingerprint = %q", got.Get(HeaderFingerprint))
		}
		wantChain := ""
		if cert != nil {
			wantChain = ":" + base64.StdEncoding.EncodeToString(e.pki.inter.Cert.Raw) + ":"
		}
		if got.Get(HeaderCertChain) != wantChain {
			t.Errorf("Client-Cert-Chain = %q, want %q", got.Get(HeaderCertChain), wantChain)
		}
	}
	decode := func(t *testing.T, data []byte) http.Header {
		t.Helper()
		var h http.Header
		if err := json.Unmarshal(data, &h); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		return h
	}
	t.Run("plain", func(t *testing.T) {
		for _, tc := range []struct {
			path string
			cert *tls.Certificate
		}{{"/headers/x", &e.pki.alice}, {"/public-headers", nil}} {
			resp, body, err := e.get(tc.path, tc.cert, forged)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %v %v %s", tc.path, resp, err, body)
			}
			h := decode(t, body)
			check(t, h, tc.cert)
			if tc.path == "/headers/x" && h.Get("X-Test-Path") != "/report/x" {
				t.Errorf("backend path = %q, want /report/x", h.Get("X-Test-Path"))
			}
		}
	})
	t.Run("websocket", func(t *testing.T) {
		c, _, err := e.dial("/wsheaders", &e.pki.alice, forged)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow() //nolint:errcheck
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check(t, decode(t, data), &e.pki.alice)
		c.Close(websocket.StatusNormalClosure, "") //nolint:errcheck
	})
}

func TestSecureBackendAndOrigin(t *testing.T) {
	e := newEnv(t, nil)
	echoOnce(t, e.mustDial("/wss", &e.pki.alice), "through wss:// with backend_ca")
	// A browser's same-origin WebSocket passes the echo backend's origin check through the relay…
	c, _, err := e.dial("/secure", &e.pki.alice, http.Header{"Origin": {"https://" + e.addr}})
	if err != nil {
		t.Fatalf("same-origin dial: %v", err)
	}
	echoOnce(t, c, "same origin")
	c.CloseNow() //nolint:errcheck
	// …and a cross-origin one is refused by the backend, whose non-101 answer the relay passes on.
	_, resp, err := e.dial("/secure", &e.pki.alice, http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial = %v, %v; want the backend's 403", resp, err)
	}
	e.waitLog("msg=access", "status=403", "route=/secure")
}

// TestOpenSSLClient: OpenSSL's s_client presents its certificate at the handshake and gets through; a revoked one
// is refused with a TLS alert.
func TestOpenSSLClient(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	e := newEnv(t, nil)
	write := func(name string, data []byte) string {
		path := filepath.Join(e.dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	root := write("root.pem", testpki.PEMCerts(e.pki.root.Cert))
	for _, tc := range []struct {
		name  string
		cert  tls.Certificate
		flags []string
		want  string
	}{
		{"alice tls1.3", e.pki.alice, []string{"-tls1_3"}, "426 Upgrade Required"},
		{"alice tls1.2", e.pki.alice, []string{"-tls1_2"}, "426 Upgrade Required"},
		{"revoked dave", e.pki.dave, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keyDER, err := x509.MarshalPKCS8PrivateKey(tc.cert.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			certFile := write("client.pem", testpki.PEMCerts(tc.cert.Leaf, e.pki.inter.Cert))
			keyFile := write("client.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			args := append([]string{"s_client", "-connect", e.addr, "-CAfile", root, "-cert", certFile, "-key", keyFile,
				"-verify_return_error", "-ign_eof", "-quiet"}, tc.flags...)
			cmd := exec.CommandContext(ctx, openssl, args...)
			cmd.Stdin = strings.NewReader("GET /secure HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n")
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if strings.Contains(string(out), "HTTP/1.1") {
					t.Fatalf("revoked client got an HTTP answer:\n%s", out)
				}
				e.waitLog("client rejected", "reason=revoked", serialOfCert(tc.cert))
				return
			}
			if err != nil || !strings.Contains(string(out), tc.want) {
				t.Fatalf("openssl s_client: %v\n%s", err, out)
			}
		})
	}
}

func TestPreserveHostAndMetricsListener(t *testing.T) {
	e := newEnv(t, nil)
	for path, want := range map[string]string{"/preserve/x": e.addr, "/headers": "127.0.0.1:"} {
		resp, body, err := e.get(path, &e.pki.alice, nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %v %v", path, resp, err)
		}
		var h http.Header
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatal(err)
		}
		if got := h.Get("Host"); !strings.HasPrefix(got, want) || (path == "/headers" && got == e.addr) {
			t.Errorf("%s: backend saw Host %q, want %q", path, got, want)
		}
		if got := h.Get("X-Forwarded-Host"); got != e.addr {
			t.Errorf("%s: X-Forwarded-Host = %q, want %q", path, got, e.addr)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeMetrics(ln) }()
	var body []byte
	for range 50 { // the server may not be accepting yet
		resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(string(body), "# TYPE relay_handshakes_total counter") ||
		!strings.Contains(string(body), `relay_handshakes_total{outcome="ok",reason="certificate"}`) {
		t.Errorf("metrics over HTTP:\n%s", body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrServerClosed) {
		t.Errorf("ServeMetrics returned %v", err)
	}
}
