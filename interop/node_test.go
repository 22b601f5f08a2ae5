package interop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nodeDir is the npm project of the Node.js client: package.json and package-lock.json pin the ws package,
// client.js is the client; node_modules is installed by the test (npm ci) and ignored by git.
const nodeDir = "testdata/node"

const (
	npmTimeout  = 3 * time.Minute  // npm ci from the registry, once per checkout
	nodeTimeout = 15 * time.Second // one client.js run; the script itself gives up after 10 s
)

// nodeResult is the JSON line client.js prints.
type nodeResult struct {
	OK       bool   `json:"ok"`
	Echo     string `json:"echo"`
	Protocol string `json:"protocol"`
	Status   int    `json:"status"` // HTTP status of a refused upgrade
	Body     string `json:"body"`
	Error    string `json:"error"` // Node's error code, e.g. ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE
	Message  string `json:"message"`
}

// TestNodeWSClient is issue #4 "Must show 4" for Node.js: the ws package from the npm registry connects through
// wsca serve with a wsca-issued certificate, as PEM files and as a .p12 bundle (pfx + passphrase), and gets
// the echo; a client without a certificate gets 403; a user's certificate that worked is refused once it is
// revoked and crl.pem is published (the relay reloads it by itself), while another user keeps working.
func TestNodeWSClient(t *testing.T) {
	node := requireTool(t, "node")
	requireNodeModules(t, requireTool(t, "npm"))
	p := newPKI(t, "Node Interop")
	carolP12, carolPass := p.issueP12("carol")
	r := startRelay(t, p)

	pemFiles := func(name string) []string {
		return []string{"--cert", p.file(name + ".crt"), "--key", p.file(name + ".key")}
	}
	type want struct {
		echo   bool
		status int    // refused in HTTP with this status
		body   string // ... and this text in the answer
		alert  bool   // refused by a TLS alert
	}
	run := func(t *testing.T, who string, certArgs []string, w want) {
		t.Helper()
		msg := "hello from node, " + who
		args := append([]string{"--url", "wss://" + r.addr + "/secure", "--ca", p.caFile("root.crt"), "--message", msg}, certArgs...)
		res := runNodeClient(t, node, args...)
		t.Logf("%s: %+v", who, res)
		switch {
		case w.echo:
			if !res.OK || res.Echo != msg {
				t.Fatalf("%s: want the echo %q, got %+v", who, msg, res)
			}
		case res.OK || res.Echo != "":
			t.Fatalf("%s: want a refusal, got the echo: %+v", who, res)
		case w.status != 0 && (res.Status != w.status || !strings.Contains(res.Body, w.body)):
			t.Fatalf("%s: want HTTP %d with %q, got %+v", who, w.status, w.body, res)
		case w.alert && !strings.Contains(res.Error, "_ALERT_"):
			t.Fatalf("%s: want a TLS alert, got %+v", who, res)
		}
	}

	for _, tc := range []struct {
		who  string
		args []string
		want want
	}{
		{"alice, PEM certificate and key", pemFiles("alice"), want{echo: true}},
		{"carol, .p12 as pfx + passphrase", []string{"--pfx", carolP12, "--passphrase-file", carolPass}, want{echo: true}},
		{"bob, PEM, before the revocation", pemFiles("bob"), want{echo: true}},
		{"no client certificate", nil, want{status: 403, body: "client certificate required"}},
	} {
		run(t, tc.who, tc.args, tc.want)
	}

	p.revoke("bob")
	// The relay watches crl.pem; poll (bounded) with a Go client until it has reloaded.
	waitRevoked(t, r.client(p, "bob"), "/")

	for _, tc := range []struct {
		who  string
		args []string
		want want
	}{
		{"bob, PEM, revoked", pemFiles("bob"), want{alert: true}},
		{"alice after bob's revocation", pemFiles("alice"), want{echo: true}},
		{"carol .p12 after bob's revocation", []string{"--pfx", carolP12, "--passphrase-file", carolPass}, want{echo: true}},
	} {
		run(t, tc.who, tc.args, tc.want)
	}
	r.waitLog(t, `msg="client rejected"`, "reason=revoked", "serial="+p.serial("bob"))
}

// requireNodeModules installs the pinned ws package with npm ci unless node_modules already holds the version
// package-lock.json names. It fails (CI has the registry) when npm cannot install it within npmTimeout.
func requireNodeModules(t *testing.T, npm string) {
	t.Helper()
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	data, err := os.ReadFile(filepath.Join(nodeDir, "package-lock.json"))
	if err == nil {
		err = json.Unmarshal(data, &lock)
	}
	if err != nil {
		t.Fatalf("reading %s/package-lock.json: %v", nodeDir, err)
	}
	want := lock.Packages["node_modules/ws"].Version
	if want == "" {
		t.Fatalf("%s/package-lock.json pins no ws version", nodeDir)
	}
	var installed struct {
		Version string `json:"version"`
	}
	if data, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "ws", "package.json")); err == nil &&
		json.Unmarshal(data, &installed) == nil && installed.Version == want {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = nodeDir
	killGroupOnCancel(cmd)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s (ws %s from the npm registry): %v\n%s", nodeDir, want, err, out)
	}
	t.Logf("npm ci installed ws %s in %v", want, time.Since(start).Round(time.Millisecond))
}

// runNodeClient runs client.js with args and returns its JSON line; a usage error (exit 2), a crash or a
// timeout fails the test.
func runNodeClient(t *testing.T, node string, args ...string) nodeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"client.js"}, args...)...)
	cmd.Dir = nodeDir
	killGroupOnCancel(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
		t.Fatalf("node client.js %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	var res nodeResult
	if jerr := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); jerr != nil {
		t.Fatalf("node client.js printed %q (stderr %q): %v", stdout.Bytes(), stderr.Bytes(), jerr)
	}
	if (err == nil) != res.OK {
		t.Fatalf("node client.js exit status %v disagrees with its result %+v", err, res)
	}
	return res
}

// killGroupOnCancel runs cmd in its own process group and makes the context's cancellation kill the whole
// group (npm starts children), waiting at most 5 s more for its output pipes.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}
