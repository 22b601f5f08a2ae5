package doctor

import (
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/refusal"
	"github.com/wsca/wsca/internal/testpki"
	"github.com/wsca/wsca/internal/testpki/relaytest"
	"github.com/wsca/wsca/relay"
)

// connectCase is one diagnosis that must come out the same against every server.
type connectCase struct {
	name       string
	path       string
	cert       func(p *testpki.PKI) *tls.Certificate
	serverName string
	withCRLs   bool
	leafOnly   bool   // use the server that sends only its own certificate
	cause      string // want Report.Cause
	check      string // and a finding of this check with severity error (default: upgrade)
	parts      []string
}

func commonCases() []connectCase {
	alice := func(p *testpki.PKI) *tls.Certificate { return &p.Alice }
	return []connectCase{
		{name: "valid client", path: "/secure", cert: alice, cause: CauseOK},
		{name: "no client certificate", path: "/secure", cause: CauseNoCertificate, parts: []string{"no client certificate sent"}},
		{name: "unknown CA", path: "/secure", cert: func(p *testpki.PKI) *tls.Certificate { return &p.Mallory }, cause: CauseUnknownCA,
			parts: []string{"unknown CA", "issued by CN=Other Corp Intermediate CA", "the server accepts CN=Doctor Test Intermediate CA"}},
		{name: "revoked, confirmed by the CRL", path: "/secure", cert: func(p *testpki.PKI) *tls.Certificate { return &p.Bob }, withCRLs: true,
			cause: CauseRevoked, parts: []string{"revoked", "is in the CRL of Doctor Test Intermediate CA", "keyCompromise"}},
		{name: "revoked, without a CRL to confirm", path: "/secure", cert: func(p *testpki.PKI) *tls.Certificate { return &p.Bob },
			cause: CauseRevoked, parts: []string{"most likely revoked"}},
		{name: "expired", path: "/secure", cert: func(p *testpki.PKI) *tls.Certificate { return &p.Expired }, cause: CauseExpired,
			parts: []string{"expired", "CN=old expired on"}},
		{name: "wrong policy", path: "/alice-only", cert: func(p *testpki.PKI) *tls.Certificate { return &p.Carol }, cause: CauseForbidden,
			parts: []string{"forbidden by policy", "with the client certificate CN=carol", "403"}},
		{name: "backend down", path: "/down", cert: alice, cause: CauseBackendDown, parts: []string{"backend down", "502"}},
		{name: "server certificate missing its intermediate", path: "/secure", cert: alice, leafOnly: true, cause: CauseServerCertificate,
			check: CheckServerChain, parts: []string{"missing intermediate: the server sent only its own certificate",
				"without the intermediate CN=Doctor Test Intermediate CA"}},
		{name: "name mismatch", path: "/secure", cert: alice, serverName: "relay.example.com", cause: CauseServerCertificate,
			check: CheckServerName, parts: []string{"name mismatch", "DNS:localhost, IP:127.0.0.1", `not "relay.example.com"`}},
	}
}

func runConnectCase(t *testing.T, tc connectCase, addr string) Report {
	t.Helper()
	p := testpki.Get(t)
	opts := ConnectOptions{Path: tc.path, CAs: p.CAs, ServerName: tc.serverName, Timeout: 5 * time.Second}
	if tc.cert != nil {
		opts.Certificate = tc.cert(p)
	}
	if tc.withCRLs {
		opts.CRLs = p.CRLs
	}
	r := Connect(context.Background(), addr, opts)
	check := tc.check
	if check == "" {
		check = CheckUpgrade
	}
	sev := SeverityError
	if check == CheckUpgrade && tc.cause == CauseOK {
		sev = SeverityOK
	}
	if r.Cause != tc.cause || !hasFinding(r.Findings, sev, check, tc.parts...) {
		t.Fatalf("cause %q, want %q, and a %s %s finding with %q; report:\n%s", r.Cause, tc.cause, sev, check, tc.parts, dumpReport(r))
	}
	if (tc.cause == CauseOK || tc.cause == CauseServerCertificate) && !r.Upgraded {
		t.Fatalf("cause ok but not upgraded:\n%s", dumpReport(r))
	}
	if check == CheckUpgrade && Worst(r.Findings) == SeverityOK && tc.cause != CauseOK {
		t.Fatalf("a failed upgrade must be an error:\n%s", dumpReport(r))
	}
	return r
}

func dumpReport(r Report) string {
	data, _ := json.MarshalIndent(r, "", "  ")
	return string(data)
}

// TestConnectRelay runs every diagnosis of issue #6 must-show 2 against the relay behind wsca serve.
func TestConnectRelay(t *testing.T) {
	addr := relaytest.Start(t, false)
	leafOnlyAddr := relaytest.Start(t, true)
	for _, tc := range commonCases() {
		t.Run(tc.name, func(t *testing.T) {
			a := addr
			if tc.leafOnly {
				a = leafOnlyAddr
			}
			r := runConnectCase(t, tc, a)
			if r.TLSVersion != "TLS 1.3" {
				t.Errorf("TLS version %q, want TLS 1.3 (the relay's default)", r.TLSVersion)
			}
			if !r.ClientCertRequested || len(r.AcceptableCAs) != 2 || r.AcceptableCAs[0] != "CN=Doctor Test Intermediate CA" {
				t.Errorf("the relay asks for client certificates from its ca.crt; report:\n%s", dumpReport(r))
			}
			// wsca serve refuses every bad certificate with the same alert: the cause came from the certificate.
			if tc.cert != nil && (tc.cause == CauseRevoked || tc.cause == CauseExpired || tc.cause == CauseUnknownCA) &&
				r.Alert != "bad_certificate" {
				t.Errorf("alert %q, want bad_certificate", r.Alert)
			}
		})
	}
}

func TestConnectReportJSONIsStable(t *testing.T) {
	addr := relaytest.Start(t, false)
	p := testpki.Get(t)
	r := Connect(context.Background(), addr, ConnectOptions{Path: "/secure", CAs: p.CAs, Certificate: &p.Bob})
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"addr", "server_name", "path", "tls_version", "cipher_suite", "server_chain",
		"client_cert_requested", "acceptable_cas", "client_cert", "client_cert_sent", "tls_alert", "upgraded", "cause", "findings"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON report lacks %q: %s", k, data)
		}
	}
	chain := m["server_chain"].([]any)
	if len(chain) != 2 || chain[0].(map[string]any)["subject"] != "CN=relay" {
		t.Errorf("server_chain = %v", chain)
	}
	f := m["findings"].([]any)[0].(map[string]any)
	for _, k := range []string{"severity", "check", "message"} {
		if _, ok := f[k]; !ok {
			t.Errorf("finding lacks %q: %v", k, f)
		}
	}
}

func TestConnectUnreachable(t *testing.T) {
	r := Connect(context.Background(), testpki.DeadAddr(t), ConnectOptions{Timeout: 2 * time.Second})
	if r.Cause != CauseUnreachable || !hasFinding(r.Findings, SeverityError, CheckConnect, "cannot connect to") {
		t.Fatalf("report:\n%s", dumpReport(r))
	}
	r = Connect(context.Background(), "no-port", ConnectOptions{})
	if r.Cause != CauseUnreachable || !hasFinding(r.Findings, SeverityError, CheckConnect, "is not HOST:PORT") {
		t.Fatalf("report:\n%s", dumpReport(r))
	}
}

// TestConnectNotTLS: a plain HTTP server on the port is a TLS failure, named as such.
func TestConnectNotTLS(t *testing.T) {
	srv := httptest.NewServer(relay.EchoBackend())
	defer srv.Close()
	r := Connect(context.Background(), srv.Listener.Addr().String(), ConnectOptions{Timeout: 3 * time.Second})
	if r.Cause != CauseTLS || !hasFinding(r.Findings, SeverityError, CheckUpgrade, "the TLS handshake failed") {
		t.Fatalf("report:\n%s", dumpReport(r))
	}
}

// TestDiagnoseAlerts covers the alerts that OpenSSL-based servers (Apache) send and wsca serve does not.
func TestDiagnoseAlerts(t *testing.T) {
	p := testpki.Get(t)
	tests := []struct {
		code  int
		sent  bool
		cause string
	}{
		{refusal.AlertCertificateRevoked, true, CauseRevoked},
		{refusal.AlertCertificateExpired, true, CauseExpired},
		{refusal.AlertUnknownCA, true, CauseUnknownCA},
		{refusal.AlertCertificateRequired, false, CauseNoCertificate},
		{refusal.AlertHandshakeFailure, false, CauseNoCertificate},
		{alertProtocolVersion, false, CauseTLS},
	}
	for _, tt := range tests {
		t.Run(refusal.AlertName(tt.code), func(t *testing.T) {
			r := &Report{}
			pr := &prober{r: r, now: time.Now(), requested: true, sent: tt.sent, opts: ConnectOptions{CRLs: p.CRLs}}
			if tt.sent {
				pr.leaf = p.Bob.Leaf
			}
			pr.diagnoseAlert(tt.code, "the TLS handshake")
			if r.Cause != tt.cause || !hasFinding(r.Findings, SeverityError, CheckUpgrade, refusal.AlertName(tt.code)) {
				t.Fatalf("cause %q, want %q; findings:\n%s", r.Cause, tt.cause, dump(r.Findings))
			}
		})
	}
}

const alertProtocolVersion = 70

func TestDiagnoseStatus(t *testing.T) {
	tests := []struct {
		status int
		body   string
		cause  string
	}{
		{400, "400 No required SSL certificate was sent", CauseNoCertificate},
		{403, "403 Forbidden: client certificate required", CauseNoCertificate},
		{403, "403 Forbidden: cn not allowed", CauseForbidden},
		{403, "403 Forbidden: client certificate revoked", CauseRevoked},
		{502, "502 Bad Gateway", CauseBackendDown},
		{504, "504 Gateway Time-out", CauseBackendDown},
		{426, "426 Upgrade Required", CauseNotWebSocket},
		{400, "400 Bad Request", CauseNotWebSocket},
		{200, "hello", CauseNotWebSocket},
		{404, "404 Not Found", CauseNotFound},
		{500, "500 Internal Server Error", CauseHTTPError},
	}
	for _, tt := range tests {
		r := &Report{Path: "/wss"}
		pr := &prober{r: r, now: time.Now(), requested: true}
		pr.diagnoseStatus(tt.status, tt.body)
		if r.Cause != tt.cause {
			t.Errorf("%d %q: cause %q, want %q (%s)", tt.status, tt.body, r.Cause, tt.cause, dump(r.Findings))
		}
	}
}

// TestConnectAlerts: a server that verifies client certificates in the handshake (here crypto/tls with
// RequireAndVerifyClientCert, like OpenSSL under Apache) names the problem in its alert; Connect reports it.
func TestConnectAlerts(t *testing.T) {
	p := testpki.Get(t)
	pool := x509.NewCertPool()
	for _, c := range p.CAs {
		pool.AddCert(c)
	}
	srv := httptest.NewUnstartedServer(relay.EchoBackend())
	srv.TLS = &tls.Config{
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool,
		Certificates: []tls.Certificate{{Certificate: [][]byte{p.Server.Raw, p.H.Intermediate.Cert.Raw}, PrivateKey: p.ServerKey}},
	}
	srv.StartTLS()
	defer srv.Close()
	tests := []struct {
		name  string
		cert  *tls.Certificate
		alert string
		cause string
	}{
		{"no certificate", nil, "certificate_required", CauseNoCertificate},
		{"unknown CA", &p.Mallory, "unknown_ca", CauseUnknownCA},
		{"expired", &p.Expired, "certificate_expired", CauseExpired},
		{"valid", &p.Alice, "", CauseOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Connect(context.Background(), srv.Listener.Addr().String(), ConnectOptions{CAs: p.CAs, Certificate: tt.cert})
			if r.Alert != tt.alert || r.Cause != tt.cause {
				t.Fatalf("alert %q cause %q, want %q %q:\n%s", r.Alert, r.Cause, tt.alert, tt.cause, dumpReport(r))
			}
		})
	}
}

// TestConnectServerPresentsClientCert is issue 9 §4: a server configured with a client certificate (wsca
// writes those without the intermediate) is named as such, not as a missing intermediate, and the cause is
// never "ok" next to that error although the doctor's own upgrade succeeds.
func TestConnectServerPresentsClientCert(t *testing.T) {
	p := testpki.Get(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + acceptGUID))
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Sec-WebSocket-Accept", base64.StdEncoding.EncodeToString(h[:]))
		w.WriteHeader(http.StatusSwitchingProtocols)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: p.Alice.Certificate[:1], PrivateKey: p.Alice.PrivateKey}}}
	srv.StartTLS()
	defer srv.Close()
	r := Connect(context.Background(), srv.Listener.Addr().String(), ConnectOptions{CAs: p.CAs, ServerName: "127.0.0.1", Timeout: 5 * time.Second})
	if !hasFinding(r.Findings, SeverityError, CheckServerEKU, "the server presented a client certificate", "clientAuth") {
		t.Fatalf("no server.eku error naming a client certificate:\n%s", dumpReport(r))
	}
	if hasFinding(r.Findings, SeverityError, CheckServerChain, "missing intermediate") {
		t.Errorf("reported as a missing intermediate:\n%s", dumpReport(r))
	}
	if !r.Upgraded || r.Cause != CauseServerCertificate {
		t.Errorf("upgraded %v, cause %q; want an upgrade and cause %q:\n%s", r.Upgraded, r.Cause, CauseServerCertificate, dumpReport(r))
	}
}
