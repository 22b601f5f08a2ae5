package interop_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// client is a TLS client for one server address, trusting the wsca CA, without session resumption and
// keep-alives, so every request is a fresh handshake that sees the server's current CRL.
type client struct {
	addr  string
	roots *x509.CertPool
	cert  *tls.Certificate // nil: no client certificate
	// sessions, when set, lets the client resume TLS sessions (tickets) across connections.
	sessions tls.ClientSessionCache
	// tls12 limits the client to TLS 1.2 and lets it accept one renegotiation (Apache's per-directory
	// client authentication).
	tls12 bool
}

func (c client) transport() *http.Transport {
	cfg := &tls.Config{RootCAs: c.roots, ServerName: "localhost", MinVersion: tls.VersionTLS12, ClientSessionCache: c.sessions}
	if c.tls12 {
		cfg.MaxVersion, cfg.Renegotiation = tls.VersionTLS12, tls.RenegotiateOnceAsClient
	}
	if c.cert != nil {
		// Send the certificate whatever CA names the server lists, as curl and browsers with a chosen
		// certificate do; Go's default would send nothing for a certificate from an unlisted CA.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return c.cert, nil }
	}
	return &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}
}

// response is what a request got: an HTTP status and body, or the error that stopped it.
type response struct {
	status  int
	body    string
	err     error
	resumed bool // the TLS session was resumed, not a full handshake
}

func (r response) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("HTTP %d %q", r.status, strings.TrimSpace(r.body))
}

func (c client) get(path string, hdr http.Header) response {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.addr+path, nil)
	if err != nil {
		return response{err: err}
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	tr := c.transport()
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return response{err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return response{status: resp.StatusCode, body: string(body), err: err, resumed: resp.TLS != nil && resp.TLS.DidResume}
}

// accepted returns nil when the server answered 200.
func (c client) accepted(path string) error {
	r := c.get(path, nil)
	if r.err != nil || r.status != http.StatusOK {
		return fmt.Errorf("want HTTP 200, got %v", r)
	}
	return nil
}

// rejected returns nil when the server refused the client: a TLS alert (Apache, HAProxy) or an HTTP 400
// (nginx, which completes the handshake and answers the error in HTTP).
func (c client) rejected(path string) error {
	r := c.get(path, nil)
	if r.err == nil && r.status != http.StatusBadRequest && r.status != http.StatusForbidden {
		return fmt.Errorf("want a TLS alert or HTTP 400/403, got %v", r)
	}
	return nil
}

// dialWS opens a WebSocket through the server.
func (c client) dialWS(path string) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "wss://"+c.addr+path, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: c.transport()},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	return conn, err
}

// echo sends msg on conn and returns the answer.
type wsConn = websocket.Conn

func echo(conn *websocket.Conn, msg string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		return "", err
	}
	_, data, err := conn.Read(ctx)
	return string(data), err
}

// newBackend starts the plain-HTTP backend the servers relay to: /ws is a WebSocket echo that prefixes
// every message with the X-Client-Cert-CN it was opened with; every other path answers the request headers
// as JSON.
func newBackend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			conn, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer conn.CloseNow()
			cn := r.Header.Get("X-Client-Cert-CN")
			for i := 0; i < 100; i++ {
				ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
				typ, data, err := conn.Read(ctx)
				if err == nil {
					err = conn.Write(ctx, typ, append([]byte(cn+": "), data...))
				}
				cancel()
				if err != nil {
					return
				}
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Header)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// headersSeen decodes the backend's JSON answer.
func headersSeen(t *testing.T, r response) http.Header {
	t.Helper()
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("want HTTP 200 from the backend, got %v", r)
	}
	var h http.Header
	if err := json.Unmarshal([]byte(r.body), &h); err != nil {
		t.Fatalf("backend answer %q: %v", r.body, err)
	}
	return h
}

// serialHex is a certificate serial in upper-case hex without leading zeros: how the servers' variables are
// compared, so that a DER sign byte or odd-length padding cannot make equal serials differ.
func serialHex(s string) string {
	return strings.TrimLeft(strings.ToUpper(s), "0")
}
