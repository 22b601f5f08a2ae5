package relay

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/internal/testpki"
)

// TestLiveRevocation: two sessions are open; the CRL file is replaced (temporary file + rename, as `wsca crl`
// does) with one revoking alice; the file watcher reloads it and alice's session is closed with 1008 within one
// second while bob's keeps echoing.
func TestLiveRevocation(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.mustDial("/secure", &e.pki.alice)
	bob := e.mustDial("/secure", &e.pki.bob)
	echoOnce(t, alice, "a1")
	echoOnce(t, bob, "b1")
	// Both sessions idle: all four relay directions park (alice's read below wakes none: it sends nothing).
	e.waitMetric("relay_parked_directions 4")
	aliceDone := readErr(alice)

	start := time.Now()
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), e.pki.crlPEM(t, e.pki.alice.Leaf))
	select {
	case err := <-aliceDone:
		took := time.Since(start)
		if took > time.Second {
			t.Errorf("alice cut after %v, want ≤ 1s", took)
		}
		if got := websocket.CloseStatus(err); got != websocket.StatusPolicyViolation {
			t.Errorf("alice's session ended with %v (status %d), want close 1008", err, got)
		}
		t.Logf("alice cut %v after the CRL was replaced", took.Round(time.Millisecond))
	case <-time.After(3 * time.Second):
		t.Fatal("alice's session is still open 3 s after her revocation")
	}
	e.waitLog("session closed", "reason=revoked", serialOfCert(e.pki.alice), "cn=alice")
	echoOnce(t, bob, "b2")
	// And she cannot come back.
	if c, _, err := e.dial("/secure", &e.pki.alice, nil); err == nil {
		c.CloseNow() //nolint:errcheck
		t.Fatal("revoked alice reconnected")
	}
}

// TestBadCRLRejected: a CRL file that does not parse, or is signed by another CA, is rejected and the last good one
// stays in force.
func TestBadCRLRejected(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.mustDial("/secure", &e.pki.alice)
	crlPath := filepath.Join(e.dir, "crl.pem")
	good := e.pki.crlPEM(t)

	writeAtomic(t, crlPath, []byte("-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n"))
	e.waitLog("level=ERROR", "reload rejected", "crl.pem")
	if err := e.srv.Reload(); err == nil {
		t.Fatal("Reload accepted a garbage CRL")
	}
	// A well-formed CRL from a CA the relay does not trust, revoking alice, must not be applied either.
	other := &testPKI{inter: e.pki.otherInter, root: e.pki.otherRoot, inter2: e.pki.otherInter, dave: e.pki.mallory}
	writeAtomic(t, crlPath, other.crlPEM(t, e.pki.alice.Leaf))
	if err := e.srv.Reload(); err == nil {
		t.Fatal("Reload accepted a CRL from a foreign CA")
	}
	echoOnce(t, alice, "still here")
	if _, _, err := e.dial("/secure", &e.pki.dave, nil); err == nil {
		t.Fatal("dave got in: the previous CRL was dropped")
	}
	echoOnce(t, e.mustDial("/secure", &e.pki.bob), "bob")
	writeAtomic(t, crlPath, good)
	if err := e.srv.Reload(); err != nil {
		t.Fatalf("Reload of a good CRL: %v", err)
	}
}

// TestResumptionCannotBypassRevocation: a client resumes a TLS session (DidResume), is revoked, and its next
// resumption attempt with the same session cache is refused: VerifyConnection runs on resumed handshakes.
func TestResumptionCannotBypassRevocation(t *testing.T) {
	e := newEnv(t, nil)
	var revoked []*x509.Certificate
	for _, v := range []struct {
		name string
		ver  uint16
		cert *tls.Certificate
	}{{"tls1.3", tls.VersionTLS13, &e.pki.alice}, {"tls1.2", tls.VersionTLS12, &e.pki.bob}} {
		t.Run(v.name, func(t *testing.T) {
			cfg := e.clientTLS(v.cert)
			cfg.MaxVersion = v.ver
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)
			request := func() (bool, error) {
				conn, err := tls.Dial("tcp", e.addr, cfg)
				if err != nil {
					return false, err
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
				if _, err := io.WriteString(conn, "GET /secure HTTP/1.1\r\nHost: relay\r\n\r\n"); err != nil {
					return conn.ConnectionState().DidResume, err
				}
				resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
				if err != nil {
					return conn.ConnectionState().DidResume, err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUpgradeRequired {
					return false, errors.New(resp.Status)
				}
				return conn.ConnectionState().DidResume, nil
			}
			if resumed, err := request(); err != nil || resumed {
				t.Fatalf("first connection: resumed=%v err=%v", resumed, err)
			}
			if resumed, err := request(); err != nil || !resumed {
				t.Fatalf("second connection: resumed=%v err=%v, want a resumed session", resumed, err)
			}
			revoked = append(revoked, v.cert.Leaf)
			writeAtomic(t, filepath.Join(e.dir, "crl.pem"), e.pki.crlPEM(t, revoked...))
			if err := e.srv.Reload(); err != nil {
				t.Fatal(err)
			}
			if _, err := request(); err == nil {
				t.Fatal("revoked client got a response over a resumed session")
			}
			e.waitLog("client rejected", "reason=revoked", serialOfCert(*v.cert), "resumed=true")
		})
	}
}

func TestCertificateExpiryCutsSession(t *testing.T) {
	e := newEnv(t, nil)
	short, err := e.pki.inter.Issue(testpki.Leaf{CN: "shortlived", NotAfter: time.Now().Add(1500 * time.Millisecond)}, e.pki.inter)
	if err != nil {
		t.Fatal(err)
	}
	c := e.mustDial("/secure", &short)
	echoOnce(t, c, "x")
	select {
	case err := <-readErr(c):
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("session ended with %v, want close 1008", err)
		}
	case <-time.After(4 * time.Second):
		t.Fatal("session outlived its certificate")
	}
	e.waitLog("client certificate expired", "cn=shortlived")
}

// TestCAReloadRecheck: replacing the client CA bundle (and CRL) with another CA's re-verifies open sessions: those
// that no longer chain to a trusted root are cut. A CA bundle whose CRLs are missing is rejected.
func TestCAReloadRecheck(t *testing.T) {
	e := newEnv(t, nil)
	alice := e.mustDial("/secure", &e.pki.alice)
	other := &testPKI{inter: e.pki.otherInter, root: e.pki.otherRoot, inter2: e.pki.otherInter, dave: e.pki.mallory}
	writeAtomic(t, filepath.Join(e.dir, "ca.crt"), testpki.PEMCerts(e.pki.otherInter.Cert, e.pki.otherRoot.Cert))
	e.waitLog("reload rejected", "crl.pem") // the CRLs on disk are not from the new CAs
	echoOnce(t, alice, "a CA bundle without its CRL changes nothing")
	done := readErr(alice)
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), other.crlPEM(t))
	select {
	case err := <-done:
		if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
			t.Errorf("session ended with %v, want 1008", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("session of a no longer trusted CA still open")
	}
	e.waitLog("session closed", "reason=unknown_ca", "cn=alice")
}

// TestCRLGrace: an expired CRL fails closed; with crl_grace it is accepted and every use is logged.
func TestCRLGrace(t *testing.T) {
	for _, grace := range []string{"", "crl_grace: 2h\n"} {
		t.Run("grace="+strings.TrimSpace(grace), func(t *testing.T) {
			e := newEnv(t, func(s string) string { return grace + s })
			writeAtomic(t, filepath.Join(e.dir, "crl.pem"), e.pki.crlPEMAt(t, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)))
			if err := e.srv.Reload(); err != nil {
				t.Fatal(err)
			}
			c, _, err := e.dial("/secure", &e.pki.alice, nil)
			if grace == "" {
				if err == nil {
					c.CloseNow() //nolint:errcheck
					t.Fatal("expired CRL accepted without crl_grace")
				}
				e.waitLog("client rejected", "reason=crl_expired")
				return
			}
			if err != nil {
				t.Fatalf("expired CRL within crl_grace: %v", err)
			}
			defer c.CloseNow() //nolint:errcheck
			echoOnce(t, c, "grace")
			e.waitLog("level=WARN", "accepted within crl_grace")
		})
	}
}
