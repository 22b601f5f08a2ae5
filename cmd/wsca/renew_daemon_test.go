package main

import (
	"bufio"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
)

// TestRenewDaemonTwoMinutes is issue 13's daemon story with a 2-minute certificate: wsca renew --daemon
// renews it before it expires and runs the hook; a WebSocket opened with the new certificate is admitted
// by wsca serve while the session opened with the old one is cut at the old one's expiry; after wsca revoke
// the daemon stops renewing and says why. It takes about two and a half minutes, mostly waiting.
func TestRenewDaemonTwoMinutes(t *testing.T) {
	// Parallel: it runs for minutes of mostly waiting on child processes; the package's other long tests overlap it.
	t.Parallel()
	needTools(t)
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "est", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "relay", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "alice", "--valid", "2m", "--out", work, "--passphrase-file", pass},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	certFile, keyFile, caFile := filepath.Join(work, "alice.crt"), filepath.Join(work, "alice.key"), filepath.Join(dir, "ca.crt")
	old := readCert(t, certFile)
	enrollAddr := startEnroll(t, dir, pass, work)
	relayAddr := startServe(t, dir, "serve", "--listen", "127.0.0.1:0", "--demo-backend",
		"--cert", filepath.Join(work, "relay.crt"), "--key", filepath.Join(work, "relay.key"))
	_, oldClosed := wsSessionOf(t, relayAddr, caFile, certFile, keyFile)

	hookLog := filepath.Join(work, "hook.log")
	daemon := exec.Command(wscaExe(t), "renew", "--daemon", "--rekey", "--cert", certFile, "--key", keyFile,
		"--url", "https://"+enrollAddr, "--ca", caFile, "--exec", `echo "$WSCA_SERIAL" >> `+hookLog)
	daemon.Env = childEnv(dir)
	stdout, _ := daemon.StdoutPipe()
	stderr, _ := daemon.StderrPipe()
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill() })
	renewed := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			renewed <- sc.Text()
		}
	}()
	var errLog strings.Builder
	errDone := make(chan struct{})
	go func() {
		defer close(errDone)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			errLog.WriteString(sc.Text() + "\n")
		}
	}()

	var line string
	select {
	case line = <-renewed:
	case <-time.After(time.Until(old.NotAfter)):
		t.Fatalf("not renewed before the certificate expired (%s)", old.NotAfter)
	}
	m := regexp.MustCompile(`^renewed alice: serial (\S+),`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("daemon printed %q", line)
	}
	serial := m[1]
	cur := readCert(t, certFile)
	if got := ca.SerialText(cur.SerialNumber); got != serial {
		t.Fatalf("alice.crt has serial %s, the daemon reported %s", got, serial)
	}
	waitUntil(t, 10*time.Second, "the hook to run", func() bool {
		data, _ := os.ReadFile(hookLog)
		return strings.Contains(string(data), serial)
	})
	_, newClosed := wsSessionOf(t, relayAddr, caFile, certFile, keyFile)

	select {
	case at := <-oldClosed:
		if at.Before(old.NotAfter.Add(-time.Second)) || at.After(old.NotAfter.Add(5*time.Second)) {
			t.Errorf("the old session was cut at %s, its certificate expired at %s", at, old.NotAfter)
		}
	case <-time.After(time.Until(old.NotAfter.Add(5 * time.Second))):
		t.Fatal("the old session is still open 5s after its certificate expired")
	}
	select {
	case <-newClosed:
		t.Fatal("the session with the renewed certificate was cut with the old one")
	default:
	}

	if out, err := wscaRun(dir, "revoke", serial, "--passphrase-file", pass); err != nil {
		t.Fatalf("wsca revoke: %v\n%s", err, out)
	}
	exited := make(chan error, 1)
	go func() { <-errDone; exited <- daemon.Wait() }()
	select {
	case err := <-exited:
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Errorf("daemon exit %v, want status 1", err)
		}
	case <-time.After(time.Until(cur.NotAfter)):
		t.Fatal("the daemon kept running after the revocation until the certificate expired")
	}
	if s := errLog.String(); !strings.Contains(s, "has been revoked, so renewing stops") {
		t.Errorf("the daemon did not say why it stopped:\n%s", s)
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// waitUntil polls ok every 100 ms for up to d, then fails the test naming what it waited for.
func waitUntil(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
