package interop_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"
)

// relayServer is a `wsca serve --demo-backend` process on a free loopback port: one route "/" that requires a
// client certificate, relayed to the built-in echo backend (a page at "/" whose script opens wss://…/secure).
// It reads ca.crt and crl.pem from the CA directory and reloads crl.pem by itself when `wsca crl` rewrites it.
type relayServer struct {
	proc *proc
	addr string // 127.0.0.1:PORT
}

// startRelay starts the relay with p's server certificate (srv: IP SAN 127.0.0.1) and extra flags, and waits
// until it listens; the process is stopped at cleanup.
func startRelay(t *testing.T, p *pki, extra ...string) *relayServer {
	t.Helper()
	addr := "127.0.0.1:" + itoa(freePort(t))
	args := []string{"serve", "--dir", p.caDir, "--listen", addr, "--demo-backend",
		"--cert", p.file("srv.crt"), "--key", p.file("srv.key")}
	pr := startProc(t, nil, wscaBin, append(args, extra...)...)
	pr.waitListening(t, addr)
	return &relayServer{proc: pr, addr: addr}
}

// client is a Go TLS client for the relay with name's certificate ("" for none).
func (r *relayServer) client(p *pki, name string) client {
	c := client{addr: r.addr, roots: p.roots()}
	if name != "" {
		c.cert = p.cert(name)
	}
	return c
}

// waitLog polls the relay's log until a line holds every one of want, bounded by readyTimeout: a rejection is
// logged by the relay's goroutine, which may run a moment after the client has seen the alert.
func (r *relayServer) waitLog(t *testing.T, want ...string) { t.Helper(); r.waitLogN(t, 1, want...) }

// waitLogN is waitLog for at least n such lines.
func (r *relayServer) waitLogN(t *testing.T, n int, want ...string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for r.countLog(want...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("relay log has fewer than %d lines with all of %q after %v:\n%s", n, want, readyTimeout, r.proc.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countLog counts the relay's log lines that hold every one of want.
func (r *relayServer) countLog(want ...string) int {
	n := 0
	for _, line := range strings.Split(r.proc.logText(), "\n") {
		if containsAll(line, want) {
			n++
		}
	}
	return n
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// issueP12 issues a client certificate for name with a PKCS#12 bundle (wsca's default: 3DES + SHA-1 MAC, which
// OpenSSL 3, Node and NSS import) protected by a password from a 0600 file; it returns the bundle and the file.
func (p *pki) issueP12(name string) (bundle, passFile string) {
	p.t.Helper()
	passFile = p.file(name + ".p12pass")
	if err := os.WriteFile(passFile, []byte("bundle password of "+name+"\n"), 0o600); err != nil {
		p.t.Fatal(err)
	}
	p.wsca("issue", name, "--out", p.dir, "--p12", "--p12-password-file", passFile)
	return p.file(name + ".p12"), passFile
}

// leaf parses the first certificate of name's .crt file.
func (p *pki) leaf(name string) *x509.Certificate {
	p.t.Helper()
	data, err := os.ReadFile(p.file(name + ".crt"))
	if err != nil {
		p.t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		p.t.Fatalf("%s.crt: no PEM certificate", name)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		p.t.Fatalf("%s.crt: %v", name, err)
	}
	return c
}

// serial is name's serial as the relay logs it: lower-case hex without leading zeros.
func (p *pki) serial(name string) string { return p.leaf(name).SerialNumber.Text(16) }
