package interop_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/crlpubtest"
)

// TestCRLFetchSidecarReloadsNginx is issue #10 §5 for servers wsca does not run: nginx reads a crl.pem that
// `wsca crl fetch --watch --exec` keeps current from a publisher (the wsca publish contract, long-poll). A
// revocation published on the CA host reaches nginx — file replaced, nginx reloaded by the sidecar — with no
// admin action on the nginx host; an older CRL published afterwards is refused by the sidecar and nginx keeps
// refusing bob.
func TestCRLFetchSidecarReloadsNginx(t *testing.T) {
	p := newPKI(t, "Interop sidecar")
	read := func(name string) []byte {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	before := read(p.caFile("crl.pem"))
	pub := crlpubtest.New(before)
	defer pub.Close()

	host := t.TempDir() // the nginx host: its own ca.crt and crl.pem
	if err := os.WriteFile(filepath.Join(host, "ca.crt"), read(p.caFile("ca.crt")), 0o644); err != nil {
		t.Fatal(err)
	}
	crlFile := filepath.Join(host, "crl.pem")
	fetch := []string{"crl", "fetch", pub.CRLURL(), "--out", crlFile, "--ca", filepath.Join(host, "ca.crt")}
	p.wsca(fetch...) // the first copy, before nginx starts
	port := freePort(t)
	srv := startNginx(t, nginxSite(p, port, filepath.Join(host, "ca.crt"), crlFile, ""), port)
	// SIGHUP to the master is what nginx -s reload sends.
	hook := fmt.Sprintf("echo reload >> %s/reloads.log && kill -HUP %d", host, srv.proc.cmd.Process.Pid)
	sidecar := startProc(t, nil, wscaBin, append(fetch, "--watch", "--interval", "1h", "--exec", hook)...)
	waitFor(t, "the sidecar's first long-poll", func() bool { return pub.Gets() >= 2 })

	roots := p.roots()
	alice := client{addr: srv.addr, roots: roots, cert: p.cert("alice")}
	bob := client{addr: srv.addr, roots: roots, cert: p.cert("bob")}
	for who, c := range map[string]client{"alice": alice, "bob": bob} {
		if err := c.accepted(handPath); err != nil {
			t.Fatalf("%s before the revocation: %v", who, err)
		}
	}

	p.revoke("bob")
	start := time.Now()
	pub.Set(read(p.caFile("crl.pem"))) // what wsca publish does when crl.pem changes
	waitRevoked(t, bob, handPath)
	t.Logf("bob refused by nginx %v after the publication (sidecar long-poll, write, reload)", time.Since(start).Round(time.Millisecond))
	if err := alice.accepted(handPath); err != nil {
		t.Fatalf("alice after the revocation: %v", err)
	}
	if n := strings.Count(string(read(filepath.Join(host, "reloads.log"))), "reload"); n != 1 {
		t.Fatalf("nginx reloaded %d times, want 1 (only when the CRL changed)", n)
	}

	// A stale CRL published (a restored backup on the CA host): the sidecar refuses it, nginx keeps bob out.
	pub.Set(before)
	waitFor(t, "the sidecar to refuse the stale CRL", func() bool {
		return strings.Contains(sidecar.logText(), "CRL rollback refused")
	})
	if err := bob.rejected(handPath); err != nil {
		t.Fatalf("bob after a stale CRL was published: %v", err)
	}
	if string(read(crlFile)) != string(read(p.caFile("crl.pem"))) {
		t.Fatal("the sidecar replaced nginx's CRL with the stale one")
	}
}

// waitFor polls cond every 20 ms for up to readyTimeout.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(readyTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
