package relay

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/wsca/wsca/internal/testpki"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(helperEnv); path != "" {
		runRelayHelper(path)
		return
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is the shared goroutine-safe log sink.
type syncBuffer = testpki.Buffer

// testEnv is a relay on loopback in front of an echo backend and a header-reporting backend.
type testEnv struct {
	t        *testing.T
	pki      *testPKI
	dir      string
	srv      *Server
	addr     string
	logs     *syncBuffer
	serveErr chan error
	deadAddr string
}

const baseConfig = `listen: 127.0.0.1:0
tls: {cert: server.crt, key: server.key}
client_ca: ca.crt
crl: crl.pem
shutdown_grace: 300ms
log: {level: debug}
routes:
  - path: /secure
    backend: ws://{{echo}}
  - path: /public
    backend: ws://{{echo}}
    require_client_cert: false
  - path: /alice-only
    backend: ws://{{echo}}
    allow_cn: [alice]
    allow_ou: [eng]
  - path: /lan
    backend: ws://{{echo}}
    allow_cidr: [10.0.0.0/8]
  - path: /headers
    backend: http://{{hdr}}/report
  - path: /public-headers
    backend: http://{{hdr}}/report
    require_client_cert: false
  - path: /wsheaders
    backend: ws://{{hdr}}
  - path: /preserve
    backend: http://{{hdr}}
    preserve_host: true
  - path: /down
    backend: ws://{{dead}}
  - path: /idle
    backend: ws://{{echo}}
    idle_timeout: 300ms
  - path: /ping
    backend: ws://{{echo}}
    ping_interval: 150ms
  - path: /wss
    backend: wss://{{tlsecho}}
    backend_ca: backend-ca.pem
  - path: /
    backend: http://{{echo}}
`

// newEnv starts backends and a relay configured from baseConfig (edited by edit, if not nil).
func newEnv(t *testing.T, edit func(string) string) *testEnv {
	t.Helper()
	p := getPKI(t)
	e := &testEnv{t: t, pki: p, dir: t.TempDir(), logs: &syncBuffer{}, serveErr: make(chan error, 1)}

	echo := httptest.NewServer(EchoBackend())
	t.Cleanup(echo.Close)
	hdr := httptest.NewServer(http.HandlerFunc(headerBackend))
	t.Cleanup(hdr.Close)
	tlsEcho := httptest.NewUnstartedServer(EchoBackend())
	tlsEcho.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	tlsEcho.StartTLS()
	t.Cleanup(tlsEcho.Close)
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.deadAddr = dead.Addr().String()
	dead.Close()

	for name, data := range map[string][]byte{
		"server.crt": p.serverChainPEM, "server.key": p.serverKeyPEM, "ca.crt": p.caPEM, "crl.pem": p.crlPEM(t),
		"backend-ca.pem": p.backendCA,
	} {
		if err := os.WriteFile(filepath.Join(e.dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	yml := strings.NewReplacer("{{echo}}", echo.Listener.Addr().String(), "{{hdr}}", hdr.Listener.Addr().String(),
		"{{dead}}", e.deadAddr, "{{tlsecho}}", tlsEcho.Listener.Addr().String()).Replace(baseConfig)
	if edit != nil {
		yml = edit(yml)
	}
	cfgPath := filepath.Join(e.dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	e.srv, err = New(cfg, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	// Park idle relay directions almost at once, so that every test also exercises parking and waking.
	e.srv.idleAfter = 20 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { e.serveErr <- e.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-e.serveErr; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
		if t.Failed() {
			t.Logf("relay log:\n%s", e.logs.String())
		}
	})
	return e
}

// headerBackend reports the request headers it received as JSON: in the body for plain requests, as the first
// message for WebSocket upgrades.
func headerBackend(w http.ResponseWriter, r *http.Request) {
	h := r.Header.Clone()
	h.Set("Host", r.Host)
	h.Set("X-Test-Path", r.URL.Path)
	data, _ := json.Marshal(h)
	if headerHasToken(r.Header, "Upgrade", "websocket") {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
		if err != nil {
			return
		}
		defer c.CloseNow() //nolint:errcheck
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if c.Write(ctx, websocket.MessageText, data) == nil {
			c.Read(ctx) //nolint:errcheck // wait for the client to close
		}
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(data) //nolint:errcheck
}

// clientTLS returns a client TLS configuration trusting the test root and always presenting cert (even when the
// server's acceptable-CA list does not name its issuer, which is what an attacker would do).
func (e *testEnv) clientTLS(cert *tls.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(e.pki.root.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return cfg
}

// dial opens a WebSocket through the relay.
func (e *testEnv) dial(path string, cert *tls.Certificate, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	tr := &http.Transport{TLSClientConfig: e.clientTLS(cert), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return websocket.Dial(ctx, "wss://"+e.addr+path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, HTTPHeader: hdr})
}

func (e *testEnv) mustDial(path string, cert *tls.Certificate) *websocket.Conn {
	e.t.Helper()
	c, _, err := e.dial(path, cert, nil)
	if err != nil {
		e.t.Fatalf("dial %s: %v", path, err)
	}
	e.t.Cleanup(func() { c.CloseNow() }) //nolint:errcheck
	return c
}

// get makes a plain HTTPS request through the relay.
func (e *testEnv) get(path string, cert *tls.Certificate, hdr http.Header) (*http.Response, []byte, error) {
	tr := &http.Transport{TLSClientConfig: e.clientTLS(cert), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+e.addr+path, nil)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	_, err = body.ReadFrom(resp.Body)
	return resp, body.Bytes(), err
}

// echo sends msg and expects it back.
func echoOnce(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if string(got) != msg {
		t.Fatalf("echo = %q, want %q", got, msg)
	}
}

// waitLog waits up to 3 s for a log line containing every part.
func (e *testEnv) waitLog(parts ...string) string {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		for line := range strings.SplitSeq(e.logs.String(), "\n") {
			ok := true
			for _, p := range parts {
				if !strings.Contains(line, p) {
					ok = false
					break
				}
			}
			if ok {
				return line
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("no log line with %q; log:\n%s", parts, e.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func serialOfCert(c tls.Certificate) string {
	return fmt.Sprintf("serial=%s", c.Leaf.SerialNumber.Text(16))
}

// waitMetric waits up to 3 s for the metrics exposition to contain line.
func (e *testEnv) waitMetric(line string) {
	e.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		rec := httptest.NewRecorder()
		e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if strings.Contains(rec.Body.String(), line+"\n") {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("metrics never showed %q:\n%s", line, rec.Body.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readErr starts a read on c and returns a channel with its error.
func readErr(c *websocket.Conn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := c.Read(ctx)
		ch <- err
	}()
	return ch
}
