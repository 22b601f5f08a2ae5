package docs

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// sandbox is where one page's commands run: a temporary directory standing in for /, loopback addresses and
// free ports standing in for the page's hosts and ports. The state a reader's shell keeps between commands
// (working directory, exported variables, umask) is kept in files and restored before every command.
type sandbox struct {
	root, repo string
	env        []string
	ports      map[string]string // port on the page → free loopback port
	bg         []*bgProc
	// startTimeout bounds the wait for a background command's first lines.
	startTimeout time.Duration
}

// literal is the substitution table for paths: text on the page → text run in the sandbox. Output is mapped
// back, so that a page showing /etc/wsca matches a run in $SANDBOX/etc/wsca.
func (s *sandbox) literal() [][2]string {
	return [][2]string{
		{"go install ./cmd/wsca", `(cd "$REPO" && go install ./cmd/wsca)`},
		{"go build -o /usr/bin/wsca ./cmd/wsca", `(cd "$REPO" && go build -o /usr/bin/wsca ./cmd/wsca)`},
		{"/usr/bin/wsca", s.root + "/bin/wsca"},
		{"/etc/wsca", s.root + "/etc/wsca"}, // also /etc/wsca-relay
		{"/root/", s.root + "/root/"},
		{"/var/www/", s.root + "/var/www/"},
	}
}

var (
	// hostURLRe finds the page's example hosts in URLs: they are served on loopback in the sandbox.
	hostURLRe = regexp.MustCompile(`\b(https?|wss?)://(?:[a-z0-9-]+\.example\.com|localhost|127\.0\.0\.1)(?::(\d{2,5}))?`)
	// addrRe finds listen and connect addresses; every port becomes a free one, every address loopback.
	addrRe = regexp.MustCompile(`(\b(?:0\.0\.0\.0|127\.0\.0\.1|localhost)|[ =])(:\d{2,5})\b`)
)

func newSandbox(root, repo string, goEnv map[string]string) (*sandbox, error) {
	s := &sandbox{root: root, repo: repo, ports: map[string]string{}, startTimeout: 20 * time.Second}
	for _, d := range []string{"bin", "home", "root", "etc", "var/www", "state", "work"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return nil, err
		}
	}
	s.env = []string{
		"PATH=" + root + "/bin:" + os.Getenv("PATH"),
		"HOME=" + root + "/home",
		"SANDBOX=" + root, "REPO=" + repo,
		"GOBIN=" + root + "/bin", "LANG=C.UTF-8", "TERM=dumb",
	}
	for k, v := range goEnv {
		s.env = append(s.env, k+"="+v)
	}
	if err := os.WriteFile(s.state("cwd"), []byte(root+"/work\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.state("umask"), []byte("0022\n"), 0o644); err != nil {
		return nil, err
	}
	return s, os.WriteFile(s.state("env"), nil, 0o644)
}

func (s *sandbox) state(name string) string { return filepath.Join(s.root, "state", name) }

// port returns the free loopback port that stands for a port of the page, the same one every time.
func (s *sandbox) port(page string) (string, error) {
	if p, ok := s.ports[page]; ok {
		return p, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	p := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	s.ports[page] = p
	return p, nil
}

func (s *sandbox) isFree(port string) bool {
	for _, p := range s.ports {
		if p == port {
			return true
		}
	}
	return false
}

// command rewrites a command of the page to run in the sandbox.
func (s *sandbox) command(cmd string) (string, error) {
	var err error
	cmd = hostURLRe.ReplaceAllStringFunc(cmd, func(m string) string {
		sm := hostURLRe.FindStringSubmatch(m)
		port := sm[2]
		if port == "" {
			port = map[string]string{"http": "80", "ws": "80"}[sm[1]]
			if port == "" {
				port = "443"
			}
		}
		p, e := s.port(port)
		if e != nil {
			err = e
		}
		return sm[1] + "://127.0.0.1:" + p
	})
	cmd = addrRe.ReplaceAllStringFunc(cmd, func(m string) string {
		sm := addrRe.FindStringSubmatch(m)
		if s.isFree(strings.TrimPrefix(sm[2], ":")) {
			return m // a URL's port, already replaced above
		}
		p, e := s.port(strings.TrimPrefix(sm[2], ":"))
		if e != nil {
			err = e
		}
		host := "127.0.0.1"
		if sm[1] == " " || sm[1] == "=" {
			host = sm[1] + host
		}
		return host + ":" + p
	})
	for _, r := range s.literal() {
		cmd = strings.ReplaceAll(cmd, r[0], r[1])
	}
	return cmd, err
}

// output maps the sandbox's paths in a command's output back to the page's.
func (s *sandbox) output(out string) []string {
	out = strings.ReplaceAll(out, s.root+"/home", "/home/admin")
	out = strings.ReplaceAll(out, s.root+"/bin/wsca", "/usr/bin/wsca")
	out = strings.ReplaceAll(out, s.root, "")
	return strings.Split(strings.TrimRight(out, "\n"), "\n")
}

// script wraps a command: restore the shell state, run, and — for a foreground command only — save the state.
// A background command that ends later must not write back the state it started with over a newer one.
// strict is set -e for sh blocks, where every line must succeed.
func (s *sandbox) script(cmd string, strict, foreground bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -o pipefail\ncd \"$(cat %q)\" && umask \"$(cat %q)\" && . %q || exit 99\n",
		s.state("cwd"), s.state("umask"), s.state("env"))
	if strict {
		b.WriteString("set -e\n")
	}
	b.WriteString(cmd + "\n")
	if foreground {
		fmt.Fprintf(&b, "__rc=$?\nset +e\npwd >%q; umask >%q; export -p >%q\nexit $__rc\n",
			s.state("cwd"), s.state("umask"), s.state("env"))
	}
	return b.String()
}

func (s *sandbox) bash(script string) *exec.Cmd {
	c := exec.Command("bash", "--noprofile", "--norc", "-c", script)
	c.Env = s.env
	c.Dir = s.root
	// A command that leaves a child holding its output open (cmd &) must not keep Wait from returning.
	c.WaitDelay = 5 * time.Second
	return c
}
