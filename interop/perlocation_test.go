package interop_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestApachePerLocationAuth is the evidence behind the comment in the printed Apache block: with
// SSLVerifyClient require inside a <Location>, Apache asks for the certificate only after the handshake.
// Under TLS 1.3 that is post-handshake authentication, which Go (like Chromium and Node) does not offer:
// the client gets 403 although it holds a valid certificate. Under TLS 1.2 Apache renegotiates instead,
// which works only for clients that accept renegotiation.
func TestApachePerLocationAuth(t *testing.T) {
	p := newPKI(t, "Location")
	port := freePort(t)
	srv := startApache(t, fmt.Sprintf(`Listen 127.0.0.1:%[1]d
<VirtualHost 127.0.0.1:%[1]d>
    ServerName localhost
    SSLEngine on
    SSLCertificateFile %[2]s
    SSLCertificateKeyFile %[3]s
    SSLCACertificateFile %[4]s
    SSLCARevocationFile %[5]s
    SSLCARevocationCheck chain
    SSLVerifyDepth 2
    <Location />
        SSLVerifyClient require
    </Location>
</VirtualHost>
`, port, p.file("srv.crt"), p.file("srv.key"), p.caFile("ca.crt"), p.caFile("crl.pem")), port)

	r := client{addr: srv.addr, roots: p.roots(), cert: p.cert("alice")}.get("/", nil)
	if r.err != nil || r.status != http.StatusForbidden {
		t.Fatalf("TLS 1.3, per-<Location> auth: got %v; want 403 (no post-handshake auth in Go)", r)
	}
	t.Logf("TLS 1.3, per-<Location> auth, valid certificate: HTTP %d", r.status)
	if log := srv.proc.logText(); !strings.Contains(log, "AH10158") {
		t.Errorf("Apache did not log AH10158 for the refused post-handshake authentication:\n%s", log)
	}

	// Under TLS 1.2 the same request triggers a renegotiation; without a document root Apache answers 404
	// once the certificate is accepted, so anything but 403 and a TLS error means it got through.
	r = client{addr: srv.addr, roots: p.roots(), cert: p.cert("alice"), tls12: true}.get("/", nil)
	if r.err != nil || r.status == http.StatusForbidden {
		t.Fatalf("TLS 1.2 with renegotiation, per-<Location> auth: got %v; want the certificate accepted", r)
	}
	t.Logf("TLS 1.2 with renegotiation, per-<Location> auth, valid certificate: HTTP %d", r.status)
}
