// Package interop_test starts real Apache httpd, nginx and HAProxy processes on loopback, each with its own
// configuration in a temp dir, and shows with a Go TLS client what they do with wsca's ca.crt, crl.pem and
// client certificates, and with the blocks wsca config prints. FINDINGS.md records what was observed.
package interop_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wscaBin is the wsca binary built once by TestMain; read-only afterwards.
var wscaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wsca-interop-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	wscaBin = filepath.Join(dir, "wsca")
	build := exec.Command("go", "build", "-o", wscaBin, "github.com/wsca/wsca/cmd/wsca")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "interop: building wsca: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// readyTimeout bounds every wait for a server: start, reload, stop.
const readyTimeout = 10 * time.Second

// requireTool fails (not skips: CI installs the servers) when a server binary is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// /usr/sbin is not on every user's PATH.
		if _, serr := os.Stat("/usr/sbin/" + name); serr == nil {
			return "/usr/sbin/" + name
		}
		t.Fatalf("%s not found (%v): run scripts/install-deps", name, err)
	}
	return p
}

// pki is a wsca CA in a temp dir with alice, bob (clients) and srv (server for 127.0.0.1/localhost).
type pki struct {
	t     *testing.T
	dir   string // certificates and keys of the leaves
	caDir string
	pass  string
}

func newPKI(t *testing.T, name string, initArgs ...string) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{t: t, dir: dir, caDir: filepath.Join(dir, "pki"), pass: filepath.Join(dir, "pass")}
	if err := os.WriteFile(p.pass, []byte("interop test passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.wsca(append([]string{"init", "--name", name}, initArgs...)...)
	p.wsca("issue", "alice", "--out", dir)
	p.wsca("issue", "bob", "--out", dir)
	p.wsca("issue", "srv", "--server", "--ip", "127.0.0.1", "--dns", "localhost", "--out", dir)
	return p
}

// wsca runs the binary on this CA and returns its stdout; any failure is fatal.
func (p *pki) wsca(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(wscaBin, args...)
	cmd.Env = append(os.Environ(), "WSCA_DIR="+p.caDir, "WSCA_PASSPHRASE_FILE="+p.pass)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		p.t.Fatalf("wsca %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

func (p *pki) file(name string) string   { return filepath.Join(p.dir, name) }
func (p *pki) caFile(name string) string { return filepath.Join(p.caDir, name) }

func (p *pki) cert(name string) *tls.Certificate {
	p.t.Helper()
	c, err := tls.LoadX509KeyPair(p.file(name+".crt"), p.file(name+".key"))
	if err != nil {
		p.t.Fatal(err)
	}
	return &c
}

func (p *pki) roots() *x509.CertPool {
	p.t.Helper()
	data, err := os.ReadFile(p.caFile("ca.crt"))
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		p.t.Fatal("no certificates in ca.crt")
	}
	return pool
}

// revoke revokes name and publishes crl.pem, as an admin would.
func (p *pki) revoke(name string) {
	p.t.Helper()
	p.wsca("revoke", name)
	p.wsca("crl")
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rootUser returns the user and group that Apache workers run as when the test runs as root (Apache refuses
// to serve as root), or "" when it does not.
func rootUser(t *testing.T) (string, string) {
	if os.Geteuid() != 0 {
		return "", ""
	}
	for _, u := range []string{"www-data", "nobody"} {
		if usr, err := user.Lookup(u); err == nil {
			g, err := user.LookupGroupId(usr.Gid)
			if err == nil {
				return u, g.Name
			}
		}
	}
	t.Fatal("running as root but neither www-data nor nobody exists for Apache's workers")
	return "", ""
}

// proc is a server process started by the test, in its own process group, stopped at cleanup.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid after done is closed
	logs []string
}

func startProc(t *testing.T, logs []string, bin string, args ...string) *proc {
	t.Helper()
	out, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(bin)+".out"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: filepath.Base(bin), cmd: exec.Command(bin, args...), done: make(chan struct{}), logs: append(logs, out.Name())}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); out.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		// WSCA_INTEROP_LOGS=1 shows the server logs of passing tests too (the messages FINDINGS.md quotes).
		if t.Failed() || os.Getenv("WSCA_INTEROP_LOGS") != "" {
			t.Logf("%s logs:\n%s", p.name, p.logText())
		}
	})
	return p
}

// stop asks the server to exit (SIGTERM: Apache, nginx and the HAProxy master stop their children), then
// kills its process group if it has not exited within readyTimeout.
func (p *proc) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(readyTimeout):
		t.Errorf("%s did not stop within %v; killing process group %d", p.name, readyTimeout, p.cmd.Process.Pid)
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) logText() string {
	var b strings.Builder
	for _, f := range p.logs {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "== %s\n%s", f, data)
	}
	return b.String()
}

// waitListening polls addr until it accepts a connection, the process exits, or readyTimeout passes.
func (p *proc) waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s: %v\n%s", p.name, addr, p.err, p.logText())
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not listening on %s after %v\n%s", p.name, addr, readyTimeout, p.logText())
}

// server is a running TLS front end the scenarios drive.
type server struct {
	proc   *proc
	addr   string
	reload func(t *testing.T)
}

func itoa(n int) string { return strconv.Itoa(n) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
