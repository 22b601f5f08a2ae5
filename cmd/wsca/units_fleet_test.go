package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsca/wsca/relay"
)

// TestShippedFleetUnitsAsWritten runs the units of docs/relays.md and docs/live-revocation.md as written, on
// three sandboxed "hosts": the CA host runs wsca-publish.service, a relay host wsca-serve@edge1.service with
// the edge1.yaml of docs/relays.md, a web-server host wsca-crl-fetch@nginx.service (with a stand-in
// systemctl on its PATH that records the reload). Only the listen addresses are moved to free loopback ports,
// and the CA host's URL to the publisher's. Then `wsca revoke bob` on the CA host cuts bob's open WebSocket on
// the relay within 1 s, and the sidecar rewrites nginx's crl.pem and reloads nginx once.
func TestShippedFleetUnitsAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the documented deployment with child processes; skipped with -short")
	}
	caHost, edge, web := newSandbox(t), newSandbox(t), newSandbox(t)
	pubUnit := readUnit(t, "wsca-publish.service", "")
	serveUnit := readUnit(t, "wsca-serve@.service", "edge1")
	fetchUnit := readUnit(t, "wsca-crl-fetch@.service", "nginx")
	caUser, relayUser := pubUnit.user, serveUnit.user
	admin := func(what string, args ...string) (string, string) {
		t.Helper()
		return caHost.run(what, caHost.command(caUser, caUser, []string{"WSCA_DIR=" + caHost.path("/etc/wsca")}, append([]string{caHost.bin}, args...)...))
	}
	pass := "--passphrase-file=" + caHost.path("/etc/wsca/passphrase")

	// The CA host (operations.md): the CA, owned by its user, with alice, bob and the relay's certificate.
	caHost.ensureUser(caUser)
	caHost.mkdir("/etc/wsca", 0o700)
	if err := os.WriteFile(caHost.path("/etc/wsca/passphrase"), []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	caHost.run("wsca init", caHost.command("", "", []string{"WSCA_DIR=" + caHost.path("/etc/wsca")}, caHost.bin, "init",
		"--name", "Fleet Corp", "--passphrase-file", caHost.path("/etc/wsca/passphrase")))
	caHost.chown("/etc/wsca", caUser, caUser)
	caHost.mkdir("/clients", 0o755)
	caHost.chown("/clients", caUser, caUser)
	for _, name := range []string{"alice", "bob"} {
		admin("issue "+name, "issue", name, "--out", caHost.path("/clients"), pass)
	}
	admin("issue edge1", "issue", "edge1", "--server", "--ip", "127.0.0.1", "--out", caHost.path("/clients"), pass)

	// systemctl enable --now wsca-publish (its --listen :80 moved to a free loopback port).
	pubAddr := freeAddr(t)
	pubCmd := caHost.unitCommand(pubUnit)
	setArg(t, pubCmd, "--listen", pubAddr)
	pubLog := startUnit(t, pubUnit, pubCmd)
	pubLog.wait(t, regexp.MustCompile(`msg="crl.pem published"`), 10*time.Second)
	crlURL := "http://" + pubAddr + "/crl.pem"

	// The relay host (relays.md): ca.crt, its certificate and key, edge1.yaml as documented, in /etc/wsca-relay.
	edge.ensureUser(relayUser)
	edge.mkdir("/etc/wsca-relay", 0o750)
	edge.chown("/etc/wsca-relay", "root", relayUser)
	writeAs(t, edge, "/etc/wsca-relay/ca.crt", readFile(t, caHost.path("/etc/wsca/ca.crt")), 0o644, "", "")
	writeAs(t, edge, "/etc/wsca-relay/edge1.crt", readFile(t, caHost.path("/clients/edge1.crt")), 0o644, "", "")
	writeAs(t, edge, "/etc/wsca-relay/edge1.key", readFile(t, caHost.path("/clients/edge1.key")), 0o600, relayUser, relayUser)
	backend := httptest.NewServer(relay.EchoBackend())
	defer backend.Close()
	relayAddr := freeAddr(t)
	yaml := documentedRelayYAML(t, "edge1")
	for old, repl := range map[string]string{
		"listen: 0.0.0.0:443":                "listen: " + relayAddr,
		"http://ca.example.com:8080/crl.pem": crlURL,
		"ws://127.0.0.1:8080":                "ws://" + strings.TrimPrefix(backend.URL, "http://"),
	} {
		if !strings.Contains(yaml, old) {
			t.Fatalf("docs/relays.md's edge1.yaml no longer has %q", old)
		}
		yaml = strings.Replace(yaml, old, repl, 1)
	}
	writeAs(t, edge, "/etc/wsca-relay/edge1.yaml", []byte(edge.sub(yaml)), 0o644, "", "")
	serveLog := startUnit(t, serveUnit, edge.unitCommand(serveUnit))
	serveLog.wait(t, regexp.MustCompile(`msg="relay listening"`), 10*time.Second)

	// The web-server host (live-revocation.md): ca.crt, crl-fetch.env, and systemctl standing in for nginx.
	web.mkdir("/etc/wsca", 0o755)
	writeAs(t, web, "/etc/wsca/ca.crt", readFile(t, caHost.path("/etc/wsca/ca.crt")), 0o644, "", "")
	writeAs(t, web, "/etc/wsca/crl-fetch.env", []byte("WSCA_CRL_URL="+crlURL+"\n"), 0o644, "", "")
	web.mkdir("/stand-in", 0o755)
	reloads := web.path("/reloads.log")
	writeAs(t, web, "/stand-in/systemctl", []byte("#!/bin/sh\necho \"$@\" >> "+reloads+"\n"), 0o755, "", "")
	fetchCmd := web.unitCommand(fetchUnit)
	for i, e := range fetchCmd.Env {
		if strings.HasPrefix(e, "PATH=") {
			fetchCmd.Env[i] = "PATH=" + web.path("/stand-in") + ":" + strings.TrimPrefix(e, "PATH=")
		}
	}
	startUnit(t, fetchUnit, fetchCmd)
	nginxCRL := web.path("/etc/wsca/crl.pem")
	waitUntil(t, 10*time.Second, "the sidecar's first copy of crl.pem", func() bool { return sameFile(t, caHost.path("/etc/wsca/crl.pem"), nginxCRL) })
	waitUntil(t, 10*time.Second, "the first reload", func() bool { return countReloads(reloads) == 1 })

	c := &wsClients{t: t, s: caHost, addr: relayAddr}
	defer c.closeAll()
	alice, bob := c.open("alice"), c.open("bob")
	out, _ := admin("wsca revoke bob", "revoke", "bob", pass)
	returned := time.Now()
	if !strings.Contains(out, "published CRL number") {
		t.Errorf("wsca revoke did not say it published:\n%s", out)
	}
	cut := bob.waitClosed(returned.Add(time.Second))
	t.Logf("bob cut on the relay fed over HTTP %v after wsca revoke returned", cut.Sub(returned).Round(time.Millisecond))
	alice.echo()
	if _, err := os.Stat(caHost.path("/var/lib/wsca-publish/state.json")); err != nil {
		t.Errorf("wsca-publish.service keeps no CRL state in its StateDirectory: %v", err)
	}
	waitUntil(t, 10*time.Second, "nginx's crl.pem to follow the revocation", func() bool {
		return sameFile(t, caHost.path("/etc/wsca/crl.pem"), nginxCRL) && countReloads(reloads) == 2
	})
	if got := string(readFile(t, reloads)); got != "reload nginx\nreload nginx\n" {
		t.Fatalf("the sidecar ran %q, want `systemctl reload nginx` twice (first copy, revocation)", got)
	}
}

// documentedRelayYAML returns the /etc/wsca-relay/NAME.yaml block of docs/relays.md.
func documentedRelayYAML(t *testing.T, name string) string {
	t.Helper()
	data := readFile(t, filepath.Join("..", "..", "docs", "relays.md"))
	file := "/etc/wsca-relay/" + name + ".yaml"
	m := regexp.MustCompile("(?s)`" + regexp.QuoteMeta(file) + "`[^\n]*:\n\n```yaml\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatalf("docs/relays.md has no %s block", file)
	}
	return string(m[1])
}

// TestTwoRelaysOnCAHostAsWritten runs two instances of wsca-serve@.service on the CA host as docs/relays.md
// ("Two relays on one host") sets them up: the CA in /etc/wsca (0700, the wsca user's), each instance's
// NAME.yaml, certificate and key in /etc/wsca-relay beside the shared ca.crt and the crl.pem copy target of
// wsca-crl.service. Both run as wsca-relay and serve alice; `wsca revoke bob` cuts bob on both within 1 s.
// (The template used to read /etc/wsca/relay-NAME.yaml, which wsca-relay cannot read on the CA host.)
func TestTwoRelaysOnCAHostAsWritten(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the documented deployment with child processes; skipped with -short")
	}
	s := newSandbox(t)
	crlUnit := readUnit(t, "wsca-crl.service", "")
	caUser, relayUser := crlUnit.user, readUnit(t, "wsca-serve@.service", "x").user
	admin := func(what string, args ...string) (string, string) {
		t.Helper()
		return s.run(what, s.command(caUser, caUser, []string{"WSCA_DIR=" + s.path("/etc/wsca")}, append([]string{s.bin}, args...)...))
	}
	pass := "--passphrase-file=" + s.path("/etc/wsca/passphrase")

	// The CA host as the package and operations.md leave it, with serve.md's ca.crt and crl.pem copies.
	s.ensureUser(caUser)
	s.ensureUser(relayUser)
	s.mkdir("/etc/wsca", 0o700)
	writeAs(t, s, "/etc/wsca/passphrase", []byte("correct horse battery staple\n"), 0o600, "", "")
	s.run("wsca init", s.command("", "", []string{"WSCA_DIR=" + s.path("/etc/wsca")}, s.bin, "init", "--name", "Two Relays Corp", pass))
	s.chown("/etc/wsca", caUser, caUser)
	s.mkdir("/etc/wsca-relay", 0o750)
	s.chown("/etc/wsca-relay", caUser, relayUser)
	copyPublic(t, s, "/etc/wsca/ca.crt", "/etc/wsca-relay/ca.crt", caUser, relayUser)
	s.run("wsca-crl.service", s.unitCommand(crlUnit))
	s.mkdir("/clients", 0o755)
	s.chown("/clients", caUser, caUser)
	for _, name := range []string{"alice", "bob"} {
		admin("issue "+name, "issue", name, "--out", s.path("/clients"), pass)
	}
	backend := httptest.NewServer(relay.EchoBackend())
	defer backend.Close()

	clients := map[string]*wsClients{}
	for _, n := range []string{"edge1", "edge2"} {
		// relays.md: wsca issue NAME --server --out /etc/wsca-relay; chown wsca-relay: NAME.key; NAME.yaml.
		admin("issue "+n, "issue", n, "--server", "--ip", "127.0.0.1", "--out", s.path("/etc/wsca-relay"), pass)
		s.chown("/etc/wsca-relay/"+n+".key", relayUser, relayUser)
		addr := freeAddr(t)
		yaml := strings.ReplaceAll(documentedRelayYAML(t, "edge2"), "edge2", n)
		for old, repl := range map[string]string{
			"listen: 0.0.0.0:8444": "listen: " + addr,
			"ws://127.0.0.1:8082":  "ws://" + strings.TrimPrefix(backend.URL, "http://"),
		} {
			if !strings.Contains(yaml, old) {
				t.Fatalf("docs/relays.md's edge2.yaml no longer has %q", old)
			}
			yaml = strings.Replace(yaml, old, repl, 1)
		}
		writeAs(t, s, "/etc/wsca-relay/"+n+".yaml", []byte(s.sub(yaml)), 0o640, caUser, relayUser)
		u := readUnit(t, "wsca-serve@.service", n)
		startUnit(t, u, s.unitCommand(u)).wait(t, regexp.MustCompile(`msg="relay listening"`), 10*time.Second)
		clients[n] = &wsClients{t: t, s: s, addr: addr}
		defer clients[n].closeAll()
	}

	bobs := map[string]*wsSession{}
	for n, c := range clients {
		c.open("alice")
		bobs[n] = c.open("bob")
	}
	admin("wsca revoke bob", "revoke", "bob", pass)
	returned := time.Now()
	for n, bob := range bobs {
		cut := bob.waitClosed(returned.Add(time.Second))
		t.Logf("bob cut on %s %v after wsca revoke returned", n, cut.Sub(returned).Round(time.Millisecond))
	}
}

// setArg replaces the value after flag in c's arguments (a listen address moved to loopback).
func setArg(t *testing.T, c *exec.Cmd, flag, value string) {
	t.Helper()
	for i := range c.Args[:len(c.Args)-1] {
		if c.Args[i] == flag {
			c.Args[i+1] = value
			return
		}
	}
	t.Fatalf("%s not in %q", flag, c.Args)
}

// startUnit starts a long-running unit's command and stops it (SIGTERM, then SIGKILL) at cleanup.
func startUnit(t *testing.T, u unit, c *exec.Cmd) *lineLog {
	t.Helper()
	stderr, err := c.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatalf("%s: %v", u.name, err)
	}
	log := newLineLog(stderr)
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			c.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s:\n%s", u.name, log)
		}
	})
	return log
}

// writeAs writes a file into the sandbox with mode, owned by usr:group when running as the units' users.
func writeAs(t *testing.T, s *sandbox, p string, data []byte, mode os.FileMode, usr, group string) {
	t.Helper()
	if err := os.WriteFile(s.path(p), data, mode); err != nil {
		t.Fatal(err)
	}
	s.chmod(p, mode)
	if usr != "" {
		s.chown(p, usr, group)
	}
}

func countReloads(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("reload nginx\n"))
}
