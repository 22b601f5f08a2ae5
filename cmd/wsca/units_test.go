package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/relay"
)

// TestShippedUnitsAsWritten installs wsca on one host the way docs/operations.md and docs/serve.md say, runs the
// ExecStart= lines of docs/systemd/wsca-crl.service and wsca-serve.service and the crontab line of
// docs/operations.md exactly as written (paths mapped into a sandbox), as the users the units name when the
// test runs as root, and proves the promise of issue 10: `wsca revoke bob` changes the relay's copy of the CRL
// and cuts bob's open WebSocket within a second; a batch finished by the cron line does the same; a stale copy
// is repaired by the next timer run although no CRL is due.
//
// On the code before issue 10 it fails at the timer's first run: `wsca crl --if-due --copy-to` skipped the copy
// when nothing was due, so the relay's copy never appeared (and after a manual `wsca crl` never changed).
func TestShippedUnitsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the documented deployment with child processes; skipped with -short")
	}
	s := newSandbox(t)
	crlUnit, serveUnit := readUnit(t, "wsca-crl.service", ""), readUnit(t, "wsca-serve.service", "")
	caUser, relayUser := crlUnit.user, serveUnit.user
	caDir, relayDir := "/etc/wsca", "/etc/wsca-relay"
	admin := func(what string, args ...string) (string, string) {
		t.Helper()
		return s.run(what, s.command(caUser, caUser, []string{"WSCA_DIR=" + s.path(caDir)}, append([]string{s.bin}, args...)...))
	}
	pass := "--passphrase-file=" + s.path(caDir+"/passphrase")

	// operations.md "Installing on one host": users, the CA, its passphrase file.
	s.ensureUser(caUser)
	s.ensureUser(relayUser)
	s.mkdir(caDir, 0o700)
	if err := os.WriteFile(s.path(caDir+"/passphrase"), []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.run("wsca init", s.command("", "", []string{"WSCA_DIR=" + s.path(caDir)}, s.bin, "init", "--name", "Example Corp",
		"--passphrase-file", s.path(caDir+"/passphrase")))
	s.chown(caDir, caUser, caUser)
	s.chmod(caDir+"/passphrase", 0o400)
	// serve.md "Running under systemd": the relay's directory, its certificate, ca.crt, relay.yaml.
	s.mkdir(relayDir, 0o750)
	s.chown(relayDir, caUser, relayUser)
	admin("issue relay", "issue", "relay", "--server", "--ip", "127.0.0.1", "--out", s.path(relayDir), pass)
	s.chown(relayDir+"/relay.key", relayUser, relayUser)
	copyPublic(t, s, caDir+"/ca.crt", relayDir+"/ca.crt", caUser, relayUser)
	backend := httptest.NewServer(relay.EchoBackend())
	defer backend.Close()
	listen := freeAddr(t)
	yaml := fmt.Sprintf("listen: %s\ntls: {cert: relay.crt, key: relay.key}\nclient_ca: ca.crt\ncrl: crl.pem\n"+
		"routes:\n  - path: /secure\n    backend: ws://%s\n", listen, strings.TrimPrefix(backend.URL, "http://"))
	if err := os.WriteFile(s.path(relayDir+"/relay.yaml"), []byte(yaml), 0o640); err != nil {
		t.Fatal(err)
	}
	s.chown(relayDir+"/relay.yaml", caUser, relayUser)
	s.mkdir("/clients", 0o755)
	s.chown("/clients", caUser, caUser)
	for _, name := range []string{"alice", "bob", "carol"} {
		admin("issue "+name, "issue", name, "--out", s.path("/clients"), pass)
	}

	// systemctl start wsca-crl.service: the timer's first run writes the relay's copy.
	s.run("wsca-crl.service", s.unitCommand(crlUnit))
	relayCRL := s.path(relayDir + "/crl.pem")
	if !sameFile(t, s.path(caDir+"/crl.pem"), relayCRL) {
		t.Fatalf("after the first run of wsca-crl.service (%s) the relay's copy %s is not crl.pem", crlUnit.execStart[0], relayCRL)
	}
	firstCRL, _ := os.ReadFile(relayCRL)

	// systemctl enable --now wsca-serve: the relay, as its user.
	serve := s.unitCommand(serveUnit)
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	log := newLineLog(stderr)
	c := &wsClients{t: t, s: s, addr: listen}
	defer func() {
		c.closeAll() // else SIGTERM waits shutdown_grace for them
		serve.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			serve.Process.Kill()
		}
	}()
	log.wait(t, regexp.MustCompile(`msg="relay listening"`), 10*time.Second)
	t.Logf("wsca serve runs as %s, wsca crl as %s (as the units say: %v)", relayUser, caUser, s.asUsers)

	alice, bob, carol := c.open("alice"), c.open("bob"), c.open("carol")

	// Day to day: wsca revoke bob publishes at once; the relay cuts bob within a second, alice stays.
	start := time.Now()
	out, _ := admin("wsca revoke bob", "revoke", "bob", "--reason", "keyCompromise", pass)
	returned := time.Now()
	if !strings.Contains(out, "published CRL number") {
		t.Errorf("wsca revoke did not say it published:\n%s", out)
	}
	if bytes.Equal(firstCRL, readFile(t, relayCRL)) || !sameFile(t, s.path(caDir+"/crl.pem"), relayCRL) {
		t.Fatal("wsca revoke returned and the relay's copy did not change to the new crl.pem")
	}
	cut := bob.waitClosed(returned.Add(time.Second))
	t.Logf("bob cut %v after wsca revoke returned (%v after it started)", cut.Sub(returned).Round(time.Millisecond), cut.Sub(start).Round(time.Millisecond))
	alice.echo()

	// A batch: --no-publish says what is not enforced; the crontab line publishes it to the relay's copy.
	before := readFile(t, relayCRL)
	_, hint := admin("wsca revoke carol --no-publish", "revoke", "carol", "--no-publish")
	if !strings.Contains(hint, "wsca: hint: not yet enforced: carol") || !strings.Contains(hint, relayCRL) {
		t.Errorf("--no-publish hint does not name carol and the relay's copy:\n%s", hint)
	}
	if !bytes.Equal(before, readFile(t, relayCRL)) {
		t.Error("--no-publish changed the relay's copy")
	}
	cron := s.sub(cronLine(t))
	_, cronErr := s.run("crontab line", s.command(caUser, caUser, nil, "/bin/sh", "-c", cron))
	returned = time.Now()
	if cronErr != "" || !sameFile(t, s.path(caDir+"/crl.pem"), relayCRL) || bytes.Equal(before, readFile(t, relayCRL)) {
		t.Fatalf("the crontab line (%s) did not publish carol's revocation to the relay's copy; stderr:\n%s", cron, cronErr)
	}
	cut = carol.waitClosed(returned.Add(time.Second))
	t.Logf("carol cut %v after the crontab line returned", cut.Sub(returned).Round(time.Millisecond))
	alice.echo()

	// An old crl.pem copied back over the relay's copy (a sync job, a restored backup): wsca doctor reports it,
	// and the next timer run, with nothing due, repairs it.
	if err := os.WriteFile(relayCRL, firstCRL, 0o644); err != nil {
		t.Fatal(err)
	}
	doctor := s.command(caUser, caUser, []string{"WSCA_DIR=" + s.path(caDir)}, s.bin, "doctor", pass)
	if o, err := doctor.CombinedOutput(); err == nil || !strings.Contains(string(o), "crl.targets") {
		t.Errorf("wsca doctor did not report the stale copy (%v):\n%s", err, o)
	}
	_, timerErr := s.run("wsca-crl.service (nothing due)", s.unitCommand(crlUnit))
	if !sameFile(t, s.path(caDir+"/crl.pem"), relayCRL) || !strings.Contains(timerErr, "refreshed copy target") {
		t.Fatalf("the timer run did not repair the stale copy; stderr:\n%s", timerErr)
	}
	alice.echo()

	// A target the CA user may not write: one error line naming it and the fix, exit 1, and the relay's copy is
	// still refreshed. (Root ignores permissions, so this needs the units' users.)
	if s.asUsers {
		s.mkdir("/srv/www", 0o755)
		bad := s.path("/srv/www/crl.pem")
		c := s.command(caUser, caUser, []string{"WSCA_DIR=" + s.path(caDir)}, s.bin, "crl", "--copy-to", bad, pass)
		o, err := c.CombinedOutput()
		want := "wsca: error: copy target " + bad + " not refreshed: user " + caUser + " may not create files in " +
			filepath.Dir(bad) + "; fix: let " + caUser + " write " + filepath.Dir(bad)
		if err == nil || !strings.Contains(string(o), want) {
			t.Errorf("unwritable target: %v\n%s\nwant a line starting %q", err, o, want)
		}
		if !sameFile(t, s.path(caDir+"/crl.pem"), relayCRL) {
			t.Error("a failing target stopped the relay's copy from being refreshed")
		}
	}
}

// wsClients opens WebSocket sessions through the relay with the certificates in SANDBOX/clients.
type wsClients struct {
	t     *testing.T
	s     *sandbox
	addr  string
	conns []*websocket.Conn
}

func (c *wsClients) closeAll() {
	for _, conn := range c.conns {
		conn.Close(websocket.StatusNormalClosure, "") //nolint:errcheck
	}
}

type wsSession struct {
	t      *testing.T
	name   string
	conn   *websocket.Conn
	closed chan time.Time
	echoes chan string
}

func (c *wsClients) open(name string) *wsSession {
	c.t.Helper()
	cert, err := tls.LoadX509KeyPair(c.s.path("/clients/"+name+".crt"), c.s.path("/clients/"+name+".key"))
	if err != nil {
		c.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(readFile(c.t, c.s.path("/etc/wsca/ca.crt")))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, DisableKeepAlives: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "wss://"+c.addr+"/secure", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		c.t.Fatalf("%s: opening a WebSocket through the relay: %v", name, err)
	}
	c.t.Cleanup(func() { conn.CloseNow() })
	c.conns = append(c.conns, conn)
	ss := &wsSession{t: c.t, name: name, conn: conn, closed: make(chan time.Time, 1), echoes: make(chan string, 10)}
	go func() {
		for {
			_, msg, err := conn.Read(context.Background())
			if err != nil {
				ss.closed <- time.Now()
				return
			}
			ss.echoes <- string(msg)
		}
	}()
	ss.echo()
	return ss
}

// echo sends a message and expects it back within 5 s: the session is alive.
func (ss *wsSession) echo() {
	ss.t.Helper()
	msg := fmt.Sprintf("%s %d", ss.name, time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ss.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		ss.t.Fatalf("%s's session: write: %v", ss.name, err)
	}
	select {
	case got := <-ss.echoes:
		if got != msg {
			ss.t.Fatalf("%s's session echoed %q, want %q", ss.name, got, msg)
		}
	case <-ss.closed:
		ss.t.Fatalf("%s's session was closed; it should be alive", ss.name)
	case <-ctx.Done():
		ss.t.Fatalf("%s's session: no echo within 5s", ss.name)
	}
}

// waitClosed waits until the session is closed by the relay, which must happen before deadline.
func (ss *wsSession) waitClosed(deadline time.Time) time.Time {
	ss.t.Helper()
	select {
	case at := <-ss.closed:
		if at.After(deadline) {
			ss.t.Fatalf("%s's session was cut %v too late", ss.name, at.Sub(deadline))
		}
		return at
	case <-time.After(time.Until(deadline)):
		ss.t.Fatalf("%s's session is still open 1s after the revocation was published", ss.name)
	}
	return time.Time{}
}

func copyPublic(t *testing.T, s *sandbox, from, to, usr, group string) {
	t.Helper()
	if err := os.WriteFile(s.path(to), readFile(t, s.path(from)), 0o644); err != nil {
		t.Fatal(err)
	}
	s.chown(to, usr, group)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	db, err := os.ReadFile(b)
	return err == nil && bytes.Equal(readFile(t, a), db)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestShippedUnitsAccounted: every unit in docs/systemd is run as written by TestShippedUnitsAsWritten or
// TestShippedFleetUnitsAsWritten, so a new unit cannot ship untested unnoticed.
func TestShippedUnitsAccounted(t *testing.T) {
	tested := map[string]bool{"wsca-crl.service": true, "wsca-serve.service": true, // TestShippedUnitsAsWritten
		"wsca-publish.service": true, "wsca-serve@.service": true, "wsca-crl-fetch@.service": true} // TestShippedFleetUnitsAsWritten
	units, err := filepath.Glob(filepath.Join("..", "..", "docs", "systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("no units in docs/systemd (%v)", err)
	}
	for _, path := range units {
		name := filepath.Base(path)
		u := readUnit(t, name, "test")
		// /usr/bin/wsca is where the Debian package (scripts/debpkg) installs the binary.
		if !strings.HasPrefix(u.execStart[0], "/usr/bin/wsca ") {
			t.Errorf("%s: ExecStart=%s does not run /usr/bin/wsca, where the package installs wsca", name, u.execStart[0])
		}
		switch {
		case tested[name]:
		default:
			t.Errorf("%s is not run by TestShippedUnitsAsWritten or TestShippedFleetUnitsAsWritten: add it there", name)
		}
	}
}
