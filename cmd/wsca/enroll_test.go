package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// startChild runs wsca with args until the test ends and returns the first submatch of re in its stderr.
func startChild(t *testing.T, dir string, re *regexp.Regexp, args ...string) string {
	t.Helper()
	cmd := exec.Command(wscaExe(t), args...)
	cmd.Env = childEnv(dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 2)
	go func() {
		sc := bufio.NewScanner(stderr)
		var log []string
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
			log = append(log, sc.Text())
		}
		found <- "exited: " + strings.Join(log, "\n")
	}()
	select {
	case a := <-found:
		if strings.HasPrefix(a, "exited: ") {
			t.Fatalf("wsca %s %s", args[0], a)
		}
		return a
	case <-time.After(15 * time.Second):
		t.Fatalf("wsca %s did not log %s within 15s", args[0], re)
	}
	return ""
}

func startEnroll(t *testing.T, dir, pass, work string) string {
	t.Helper()
	return startChild(t, dir, regexp.MustCompile(`msg="enroll listening" addr=(\S+)`), "enroll", "--listen", "127.0.0.1:0",
		"--cert", filepath.Join(work, "est.crt"), "--key", filepath.Join(work, "est.key"), "--passphrase-file", pass)
}

// sh runs a shell pipeline in work (openssl, curl, base64: the real clients) and returns its stdout.
func sh(t *testing.T, work, script string) (string, error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-ec", script)
	cmd.Dir = work
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), fmt.Errorf("%v: %s", err, ee.Stderr)
	}
	return string(out), err
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true and %s is missing (scripts/install-deps installs it)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
}

// TestEnrollWithRealClients is issue 13's real-client story: curl posts an openssl CSR to simplereenroll with
// the client certificate, openssl pkcs7 -print_certs reads the answer, and the new certificate gets through
// wsca serve; a device enrolls with openssl req + curl + a one-time token, which cannot be used twice; and
// wsca issue, revoke and crl keep working while wsca enroll runs.
func TestEnrollWithRealClients(t *testing.T) {
	t.Parallel() // a long test of child processes in its own temp dirs: overlaps TestRenewDaemonTwoMinutes's waiting
	needTools(t, "openssl", "curl")
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "est", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "relay", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "alice", "--valid", "1h", "--email", "alice@example.com", "--out", work, "--passphrase-file", pass},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	addr := startEnroll(t, dir, pass, work)
	curl := fmt.Sprintf("curl -sS --fail-with-body --cacert %s/ca.crt -H 'Content-Type: application/pkcs10' ", dir)
	url := "https://" + addr + "/.well-known/est/"

	out, err := sh(t, work, "openssl req -new -key alice.key -subj /CN=alice -outform DER | openssl base64 > alice.csr.b64\n"+
		curl+"--cert alice.crt --key alice.key --data-binary @alice.csr.b64 "+url+"simplereenroll > answer.b64\n"+
		"openssl base64 -d -in answer.b64 | openssl pkcs7 -inform DER -print_certs | openssl x509 > alice2.crt\n"+
		"openssl x509 -in alice2.crt -noout -subject -ext subjectAltName")
	if err != nil {
		t.Fatalf("renewal with curl: %v\n%s", err, out)
	}
	if !strings.Contains(out, "CN = alice") || !strings.Contains(out, "email:alice@example.com") {
		t.Errorf("renewed certificate lacks the CA's identity:\n%s", out)
	}

	// The database is not held: the admin's commands work while wsca enroll runs.
	for _, args := range [][]string{
		{"issue", "bob", "--out", work, "--passphrase-file", pass, "--lock-timeout", "1s"},
		{"revoke", "bob", "--passphrase-file", pass, "--lock-timeout", "1s"},
		{"crl", "--passphrase-file", pass, "--lock-timeout", "1s"},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("while wsca enroll runs, %v: %v\n%s", args, err, out)
		}
	}

	relayAddr := startServe(t, dir, "serve", "--listen", "127.0.0.1:0", "--demo-backend",
		"--cert", filepath.Join(work, "relay.crt"), "--key", filepath.Join(work, "relay.key"))
	out2, err := wscaRun(dir, "client", "wss://"+relayAddr+"/", "--cert", filepath.Join(work, "alice2.crt"),
		"--key", filepath.Join(work, "alice.key"), "--ca", filepath.Join(dir, "ca.crt"), "--send", "ping")
	if err != nil || !strings.Contains(string(out2), "< ping") {
		t.Fatalf("the renewed certificate through wsca serve: %v\n%s", err, out2)
	}

	// A device: wsca issue --token, openssl req makes its key and CSR, curl posts it with the token.
	tokOut, err := wscaRun(dir, "issue", "dev1", "--token", "--uri", "spiffe://example.com/dev1", "--passphrase-file", pass)
	if err != nil {
		t.Fatalf("wsca issue --token: %v\n%s", err, tokOut)
	}
	token := regexp.MustCompile(`(?m)^([0-9a-f]{32})$`).FindStringSubmatch(string(tokOut))
	if token == nil {
		t.Fatalf("no token printed:\n%s", tokOut)
	}
	device := "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout dev1.key -subj /CN=dev1 -outform DER 2>/dev/null | openssl base64 > dev1.csr.b64\n" +
		curl + "-H 'Authorization: Bearer " + token[1] + "' --data-binary @dev1.csr.b64 " + url + "simpleenroll"
	out, err = sh(t, work, device+" | openssl base64 -d | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -subject -ext subjectAltName")
	if err != nil || !strings.Contains(out, "CN = dev1") || !strings.Contains(out, "URI:spiffe://example.com/dev1") {
		t.Fatalf("device enrollment: %v\n%s", err, out)
	}
	out, err = sh(t, work, device)
	if err == nil || !strings.Contains(out, "bad_token") {
		t.Errorf("second use of the token: %v\n%s", err, out)
	}
	audit, _ := wscaRun(dir, "audit")
	for _, want := range []string{"token-use", "enroll-refused"} {
		if !strings.Contains(string(audit), want) {
			t.Errorf("audit lacks %s:\n%s", want, audit)
		}
	}
}

// wsSessionOf opens a WebSocket through the relay with a certificate and key file and keeps reading it:
// the returned channel gets the time the relay closes the session.
func wsSessionOf(t *testing.T, addr, caFile, certFile, keyFile string) (*websocket.Conn, <-chan time.Time) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}, DisableKeepAlives: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "wss://"+addr+"/", &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatalf("opening a WebSocket with %s: %v", certFile, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	closed := make(chan time.Time, 1)
	go func() {
		for {
			if _, _, err := conn.Read(context.Background()); err != nil {
				closed <- time.Now()
				return
			}
		}
	}()
	if err := conn.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		t.Fatalf("writing to the WebSocket of %s: %v", certFile, err)
	}
	return conn, closed
}
