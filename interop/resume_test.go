package interop_test

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestResumptionAfterReload shows which common session settings let a revoked client back in after
// wsca crl and the reload, by resuming a TLS session made before the revocation: OpenSSL does not verify
// the client certificate again on resumption, and the servers trust the verification result stored in
// the session. A session survives the reload when the session cache outlives it (nginx's shared cache)
// or when the ticket keys do (ssl_session_ticket_key, SSLSessionTicketKeyFile, tls-ticket-keys). The
// revoked client then gets in until the session times out. Each case asserts what was observed on the
// versions in FINDINGS.md, so a change of behaviour shows up here.
func TestResumptionAfterReload(t *testing.T) {
	openssl := requireTool(t, "openssl")
	for _, tc := range []struct {
		name   string
		start  func(t *testing.T, p *pki, port int, extra string) *server
		extra  func(t *testing.T, p *pki) string
		ticket bool // resume with a TLS 1.3 ticket (Go client); else a TLS 1.2 session ID (openssl s_client)
		admits bool // observed: the revoked client is admitted on the resumed session
	}{
		{"nginx shared session cache", handNginx, constExtra("ssl_session_cache shared:wsca:1m;"), false, true},
		{"nginx ssl_session_ticket_key", handNginx, ticketKeyFile("ssl_session_ticket_key %s;", 80, false), true, true},
		{"apache shmcb session cache", handApache, constExtra(""), false, false},
		{"apache SSLSessionTicketKeyFile", handApache, ticketKeyFile("SSLSessionTicketKeyFile %s", 48, false), true, true},
		{"haproxy default", handHAProxy, constExtra(""), false, false},
		{"haproxy tls-ticket-keys", handHAProxy, ticketKeyFile("tls-ticket-keys %s", 80, true), true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPKI(t, "Resume")
			port := freePort(t)
			srv := tc.start(t, p, port, tc.extra(t, p))
			var resume func() (bool, bool) // (resumed, admitted)
			if tc.ticket {
				bob := client{addr: srv.addr, roots: p.roots(), cert: p.cert("bob"), sessions: tls.NewLRUClientSessionCache(4)}
				resume = func() (bool, bool) {
					r := bob.get(handPath, nil)
					return r.resumed, r.err == nil && r.status == http.StatusOK
				}
			} else {
				sess := p.file("bob.session")
				resume = func() (bool, bool) { return sClient(t, openssl, srv.addr, p, sess) }
			}
			resume() // the first connection makes the session
			if resumed, admitted := resume(); !resumed || !admitted {
				t.Fatalf("before the revocation: resumed %v, admitted %v; want a resumed, admitted session", resumed, admitted)
			}
			p.revoke("bob")
			srv.reload(t)
			waitRevoked(t, client{addr: srv.addr, roots: p.roots(), cert: p.cert("bob")}, handPath)
			resumed, admitted := resume()
			t.Logf("revoked bob offering a pre-revocation session after the reload: resumed %v, admitted %v", resumed, admitted)
			if admitted != tc.admits {
				t.Errorf("revoked bob on a resumed session after the reload: admitted %v; FINDINGS.md records %v", admitted, tc.admits)
			}
		})
	}
}

func constExtra(s string) func(*testing.T, *pki) string {
	return func(*testing.T, *pki) string { return s }
}

// ticketKeyFile writes a random ticket key of n bytes (base64 for HAProxy) and returns the directive.
func ticketKeyFile(format string, n int, b64 bool) func(*testing.T, *pki) string {
	return func(t *testing.T, p *pki) string {
		key := make([]byte, n)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		data := string(key)
		if b64 {
			// HAProxy wants at least 3 keys, one per line; the second line encrypts new tickets.
			data = strings.Repeat(base64.StdEncoding.EncodeToString(key)+"\n", 3)
		}
		path := p.file("ticket.key")
		writeFile(t, path, data)
		return fmt.Sprintf(format, path)
	}
}

// sClient makes one TLS 1.2 request as bob with openssl s_client, resuming the session in sess by session
// ID (no tickets) when the file exists and saving it otherwise. Go's client cannot resume by session ID.
func sClient(t *testing.T, openssl, addr string, p *pki, sess string) (resumed, admitted bool) {
	t.Helper()
	args := []string{"s_client", "-connect", addr, "-servername", "localhost", "-tls1_2", "-no_ticket", "-ign_eof",
		"-cert", p.file("bob.crt"), "-key", p.file("bob.key"), "-CAfile", p.caFile("ca.crt")}
	if fileExists(sess) {
		args = append(args, "-sess_in", sess)
	} else {
		args = append(args, "-sess_out", sess)
	}
	cmd := exec.Command(openssl, args...)
	cmd.Stdin = strings.NewReader("GET " + handPath + " HTTP/1.0\r\nHost: localhost\r\n\r\n")
	cmd.WaitDelay = time.Second
	timer := time.AfterFunc(readyTimeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	out, _ := cmd.CombinedOutput() // s_client exits non-zero after an alert: the output tells
	return strings.Contains(string(out), "\nReused, "), strings.Contains(string(out), "HTTP/1.1 200")
}
