//go:build unix

package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// nodeBackendDir is the npm project of the Node.js ws backend; node_modules is installed by the test (npm ci, the
// version package-lock.json pins) and ignored by git.
const nodeBackendDir = "testdata/nodebackend"

// nodeClose is a close event the Node backend reports.
type nodeClose struct {
	Event  string `json:"event"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// startNodeBackend installs ws if needed, starts backend.js and returns its address and the channel of the close
// events it reports.
func startNodeBackend(t *testing.T) (string, <-chan nodeClose) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is required for this test (scripts/install-deps installs it)")
	}
	if _, err := os.Stat(filepath.Join(nodeBackendDir, "node_modules", "ws", "package.json")); err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = nodeBackendDir
		groupKill(cmd)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", nodeBackendDir, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, node, "backend.js")
	cmd.Dir = nodeBackendDir
	groupKill(cmd)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close() // backend.js exits when its stdin closes
		cmd.Wait()    //nolint:errcheck
		cancel()
	})
	sc := bufio.NewScanner(stdout)
	var hello struct{ Port int }
	if !sc.Scan() || json.Unmarshal(sc.Bytes(), &hello) != nil || hello.Port == 0 {
		t.Fatalf("node backend did not report its port: %q %v", sc.Text(), sc.Err())
	}
	closes := make(chan nodeClose, 8)
	go func() {
		defer close(closes)
		for sc.Scan() {
			var c nodeClose
			if json.Unmarshal(sc.Bytes(), &c) == nil && c.Event == "close" {
				closes <- c
			}
		}
	}()
	return "127.0.0.1:" + strconv.Itoa(hello.Port), closes
}

// groupKill runs cmd in its own process group and kills the whole group when its context ends.
func groupKill(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
}

func waitNodeClose(t *testing.T, closes <-chan nodeClose) nodeClose {
	t.Helper()
	select {
	case c, ok := <-closes:
		if !ok {
			t.Fatal("node backend exited before reporting a close")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("node backend saw no close within 5 s")
	}
	return nodeClose{}
}

// TestBackendHearsWhy (§7): when the relay cuts a session (revocation, shutdown), an independent backend
// implementation, Node's ws, receives a close frame with 1008 or 1001 and the reason, not an abnormal 1006.
func TestBackendHearsWhy(t *testing.T) {
	addr, closes := startNodeBackend(t)
	e := newEnv(t, func(s string) string {
		return strings.Replace(s, "routes:\n", "routes:\n  - path: /node\n    backend: ws://"+addr+"\n", 1)
	})
	alice := e.mustDial("/node", &e.pki.alice)
	bob := e.mustDial("/node", &e.pki.bob)
	echoOnce(t, alice, "alice through node")
	echoOnce(t, bob, "bob through node")

	aliceDone := readErr(alice)
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), e.pki.crlPEM(t, e.pki.alice.Leaf))
	if err := <-aliceDone; websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
		t.Errorf("client: session ended with %v, want 1008", err)
	}
	if c := waitNodeClose(t, closes); c.Code != 1008 || !strings.Contains(c.Reason, "revoked") {
		t.Errorf("backend: revocation cut reported as %+v, want 1008 naming the revocation", c)
	}

	echoOnce(t, bob, "bob still here")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	bobDone := readErr(bob)
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-bobDone; websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Errorf("client: shutdown ended the session with %v, want 1001", err)
	}
	if c := waitNodeClose(t, closes); c.Code != 1001 || !strings.Contains(c.Reason, "shutting down") {
		t.Errorf("backend: shutdown reported as %+v, want 1001", c)
	}
	e.waitMetric(`relay_sessions_cut_total{reason="shutdown"} 1`)
}
