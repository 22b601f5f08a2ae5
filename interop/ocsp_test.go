package interop_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// publisher is a running wsca publish on loopback for a pki created with its OCSP URL.
type publisher struct {
	proc *proc
	url  string // http://127.0.0.1:PORT
}

// newOCSPPKI creates a CA whose certificates name a wsca publish responder on a free loopback port, and
// starts that publisher with the given extra flags.
func newOCSPPKI(t *testing.T, name string, publishArgs ...string) (*pki, *publisher) {
	t.Helper()
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := newPKI(t, name, "--ocsp-url", url+"/ocsp")
	args := append([]string{"--dir", p.caDir, "publish", "--listen", fmt.Sprintf("127.0.0.1:%d", port)}, publishArgs...)
	pr := startProc(t, nil, wscaBin, args...)
	pr.waitListening(t, fmt.Sprintf("127.0.0.1:%d", port))
	return p, &publisher{proc: pr, url: url}
}

// opensslOCSP runs openssl ocsp as an Apache admin would check a certificate, nonce included (the default),
// and returns its combined output.
func opensslOCSP(t *testing.T, p *pki, pub *publisher, target ...string) string {
	t.Helper()
	args := append([]string{"ocsp", "-issuer", p.caFile("intermediate.crt")}, target...)
	args = append(args, "-url", pub.url+"/ocsp", "-CAfile", p.caFile("ca.crt"))
	out, err := exec.Command(requireTool(t, "openssl"), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestOpenSSLOCSP is issue #10 "Real components": openssl ocsp verifies wsca publish's responses against
// ca.crt (signer embedded, nonce echoed) and reads good, revoked with its reason and time, and unknown.
func TestOpenSSLOCSP(t *testing.T) {
	p, pub := newOCSPPKI(t, "Interop OCSP")
	for _, c := range []struct {
		name   string
		target []string
		want   []string
	}{
		{"alice", []string{"-cert", p.file("alice.crt")}, []string{"alice.crt: good"}},
		{"never issued", []string{"-serial", "0x1234567890abcdef"}, []string{"0x1234567890abcdef: unknown"}},
		{"two in one request", []string{"-cert", p.file("alice.crt"), "-cert", p.file("bob.crt")}, []string{"alice.crt: good", "bob.crt: good"}},
	} {
		out := opensslOCSP(t, p, pub, c.target...)
		for _, w := range append(c.want, "Response verify OK") {
			if !strings.Contains(out, w) {
				t.Fatalf("%s: openssl ocsp said:\n%s\nwant %q", c.name, out, w)
			}
		}
		if strings.Contains(out, "WARNING") {
			t.Fatalf("%s: openssl ocsp warned:\n%s", c.name, out)
		}
	}
	p.wsca("revoke", "bob", "--reason", "keyCompromise") // no wsca crl: the responder reads the database
	start := time.Now()
	for {
		out := opensslOCSP(t, p, pub, "-cert", p.file("bob.crt"))
		if strings.Contains(out, "bob.crt: revoked") {
			if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "Reason: keyCompromise") ||
				!strings.Contains(out, "Revocation Time:") {
				t.Fatalf("revoked bob: openssl ocsp said:\n%s", out)
			}
			t.Logf("openssl ocsp said revoked %v after wsca revoke returned:\n%s", time.Since(start).Round(time.Millisecond), out)
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("bob not revoked 1s after wsca revoke returned; openssl ocsp said:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestOCSPWithoutReload is issue #10 "Real components": Apache (SSLVerifyClient require + SSLOCSPEnable
// leaf, nonce left at its default) and nginx (ssl_verify_client on + ssl_ocsp leaf), configured with the
// blocks wsca config prints for a CA with an OCSP URL, admit alice; after wsca revoke bob — with no wsca
// crl and no reload — bob's next handshake is refused. With nginx's ssl_ocsp_cache the cached "good"
// keeps bob in until the response's nextUpdate (--ocsp-validity), as docs/publish.md says. Without a cache,
// a stopped responder makes both servers refuse alice too (fail closed).
func TestOCSPWithoutReload(t *testing.T) {
	const cachedValidity = 6 * time.Second
	for _, tc := range []struct {
		name     string
		server   string
		start    func(t *testing.T, block string, port int) *server
		http     string        // prepended to the printed block (nginx http {} level)
		validity time.Duration // --ocsp-validity; also the lag expected with a cache
	}{
		{"apache", "apache", startApache, "", 0},
		{"nginx", "nginx", startNginx, "", 0},
		{"nginx-cache", "nginx", startNginx, "ssl_ocsp_cache shared:wsca_ocsp:1m;\n", cachedValidity},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var extra []string
			if tc.validity > 0 {
				extra = []string{"--ocsp-validity", tc.validity.String()}
			}
			p, pub := newOCSPPKI(t, "Interop "+tc.name, extra...)
			backend := newBackend(t)
			port := freePort(t)
			block := p.wsca("config", tc.server, "--cert", p.file("srv.crt"),
				"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--backend", backend.URL)
			for _, want := range []string{"SSLOCSPEnable leaf", "ssl_ocsp leaf;"} {
				if strings.Contains(want, map[string]string{"apache": "SSLOCSP", "nginx": "ssl_ocsp"}[tc.server]) && !strings.Contains(block, want) {
					t.Fatalf("wsca config %s for a CA with an OCSP URL lacks %q:\n%s", tc.server, want, block)
				}
			}
			srv := tc.start(t, tc.http+block, port)
			roots := p.roots()
			alice := client{addr: srv.addr, roots: roots, cert: p.cert("alice")}
			bob := client{addr: srv.addr, roots: roots, cert: p.cert("bob")}
			for _, c := range []struct {
				who string
				c   client
			}{{"alice", alice}, {"bob", bob}} {
				if err := c.c.accepted("/headers"); err != nil {
					t.Fatalf("%s (valid): %v", c.who, err)
				}
			}
			bobAdmitted := time.Now()
			p.wsca("revoke", "bob")
			revoked := time.Now()
			// The cached "good" from bob's last handshake is valid for at least validity-1s (thisUpdate is
			// truncated to the second); on a machine so loaded that revoking took longer, only the bound below
			// is checked.
			if tc.validity > 0 && revoked.Sub(bobAdmitted) < tc.validity/2 {
				if err := bob.accepted("/headers"); err != nil {
					t.Fatalf("bob right after the revocation with ssl_ocsp_cache: %v; the cached good answer was expected to admit him", err)
				}
				t.Logf("bob right after the revocation, nginx answering from ssl_ocsp_cache: admitted")
			}
			limit := time.Second + tc.validity
			for streak := 0; streak < stableRejections; {
				if time.Since(revoked) > limit {
					t.Fatalf("revoked bob still admitted %v after wsca revoke returned (no reload)", limit)
				}
				if bob.rejected("/headers") != nil {
					streak = 0
					time.Sleep(20 * time.Millisecond)
					continue
				}
				if streak == 0 {
					t.Logf("bob refused %v after wsca revoke returned, without a reload: %v", time.Since(revoked).Round(time.Millisecond), bob.get("/headers", nil))
				}
				streak++
			}
			if err := alice.accepted("/headers"); err != nil {
				t.Fatalf("alice after bob's revocation: %v", err)
			}
			if tc.validity == 0 {
				// Without a cache, no answer from the responder means no admission (docs/publish.md).
				pub.proc.stop(t)
				expectRejected(t, "alice with the OCSP responder stopped", alice, "/headers")
			}
		})
	}
}
