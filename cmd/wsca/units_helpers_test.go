package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The shipped systemd units and the crontab line are tested as written: these helpers read them from docs/,
// map their absolute paths into a sandbox (/etc/wsca → SANDBOX/etc/wsca, /usr/local/bin/wsca and
// /usr/bin/wsca → a copy of this test binary in main mode), and run their commands — as the users the units
// name when the test runs as root (setpriv), else as the current user.

// unit is the [Service] part of a shipped unit file that the test honours.
type unit struct {
	name        string
	user, group string
	env         map[string]string // Environment=
	creds       map[string]string // LoadCredential= ID → source path
	envFiles    []string          // EnvironmentFile=
	umask       string            // UMask=
	stateDir    string            // StateDirectory= (under /var/lib)
	stateMode   os.FileMode       // StateDirectoryMode=
	execStart   []string
}

// readUnit parses docs/systemd/NAME; instance fills %i of a template.
func readUnit(t *testing.T, name, instance string) unit {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	u := unit{name: strings.Replace(name, "@.", "@"+instance+".", 1), env: map[string]string{}, creds: map[string]string{}}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section != "[Service]" {
			continue
		}
		v = strings.ReplaceAll(v, "%i", instance)
		switch k {
		case "User":
			u.user = v
		case "Group":
			u.group = v
		case "Environment":
			for _, kv := range splitExec(v) {
				ek, ev, _ := strings.Cut(kv, "=")
				u.env[ek] = ev
			}
		case "EnvironmentFile":
			u.envFiles = append(u.envFiles, strings.TrimPrefix(v, "-"))
		case "UMask":
			u.umask = v
		case "StateDirectory":
			u.stateDir = v
		case "StateDirectoryMode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil {
				t.Fatalf("%s: StateDirectoryMode=%s: %v", name, v, err)
			}
			u.stateMode = os.FileMode(m)
		case "LoadCredential":
			id, src, _ := strings.Cut(v, ":")
			u.creds[id] = src
		case "ExecStart":
			u.execStart = append(u.execStart, v)
		}
	}
	if len(u.execStart) != 1 {
		t.Fatalf("%s: want one ExecStart=, found %d", name, len(u.execStart))
	}
	return u
}

// cronLine returns the command of the crontab line in docs/operations.md (the five time fields removed).
func cronLine(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```cron\n(.*?)```").FindSubmatch(data)
	if m == nil {
		t.Fatal("docs/operations.md has no ```cron block")
	}
	var lines []string
	for _, l := range strings.Split(string(m[1]), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("the cron block of docs/operations.md has %d lines, want 1", len(lines))
	}
	f := strings.Fields(lines[0])
	if len(f) < 6 {
		t.Fatalf("crontab line %q has no command", lines[0])
	}
	return strings.Join(f[5:], " ")
}

// sandbox stands for / while the documented commands run.
type sandbox struct {
	t       *testing.T
	root    string
	bin     string
	asUsers bool // root with setpriv: run as the units' users
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	// Not t.TempDir: its parents are 0700, which the units' users could not traverse.
	root, err := os.MkdirTemp("", "wsca-units-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	s := &sandbox{t: t, root: root, bin: filepath.Join(root, "usr", "bin", "wsca")}
	for _, d := range []string{"/etc", "/run", "/usr/bin"} {
		s.mkdir(d, 0o755)
	}
	s.chmod("", 0o755)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	_, setprivErr := exec.LookPath("setpriv")
	s.asUsers = os.Geteuid() == 0 && setprivErr == nil
	if !s.asUsers {
		t.Logf("not root or no setpriv: the units' commands run as the current user, not as User=")
	}
	return s
}

// path maps an absolute path of the docs into the sandbox ("" is the sandbox itself).
func (s *sandbox) path(p string) string { return filepath.Join(s.root, p) }

// sub rewrites a documented command line: the binary, /etc/wsca* and /var/lib/wsca* paths, nothing else.
func (s *sandbox) sub(line string) string {
	for _, b := range []string{"/usr/local/bin/wsca", "/usr/bin/wsca"} {
		line = strings.ReplaceAll(line, b, s.bin)
	}
	line = strings.ReplaceAll(line, "/var/lib/wsca", s.path("/var/lib/wsca"))
	return strings.ReplaceAll(line, "/etc/wsca", s.path("/etc/wsca"))
}

func (s *sandbox) mkdir(p string, mode os.FileMode) {
	s.t.Helper()
	if err := os.MkdirAll(s.path(p), mode); err != nil {
		s.t.Fatal(err)
	}
	s.chmod(p, mode)
}

func (s *sandbox) chmod(p string, mode os.FileMode) {
	s.t.Helper()
	if err := os.Chmod(s.path(p), mode); err != nil {
		s.t.Fatal(err)
	}
}

// chown is chown -R USER:GROUP (when running as the units' users; otherwise nothing to do).
func (s *sandbox) chown(p, usr, group string) {
	s.t.Helper()
	if !s.asUsers {
		return
	}
	uid, gid := s.ids(usr, group)
	err := filepath.Walk(s.path(p), func(q string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(q, uid, gid)
	})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *sandbox) ids(usr, group string) (int, int) {
	s.t.Helper()
	u, err := user.Lookup(usr)
	if err != nil {
		s.t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			s.t.Fatal(err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	return uid, gid
}

// ensureUser creates a system user (and its group) as the docs do, if it does not exist yet.
func (s *sandbox) ensureUser(name string) {
	s.t.Helper()
	if !s.asUsers {
		return
	}
	if _, err := user.Lookup(name); err == nil {
		return
	}
	out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
	if _, lerr := user.Lookup(name); lerr != nil {
		s.t.Fatalf("useradd %s: %v\n%s", name, err, out)
	}
}

// command runs argv as usr:group (setpriv) with a cron-like minimal environment plus env.
func (s *sandbox) command(usr, group string, env []string, argv ...string) *exec.Cmd {
	if s.asUsers && usr != "" {
		if group == "" {
			group = usr
		}
		argv = append([]string{"setpriv", "--reuid=" + usr, "--regid=" + group, "--init-groups", "--"}, argv...)
	}
	c := exec.Command(argv[0], argv[1:]...)
	c.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", asMainEnv + "=1", "HOME=/"}, env...)
	c.Dir = s.root
	return c
}

// unitCommand is the unit's ExecStart= as systemd would run it: its Environment=, its credentials copied to a
// directory only its user can read (LoadCredential=, $CREDENTIALS_DIRECTORY), ${VAR} expanded.
func (s *sandbox) unitCommand(u unit) *exec.Cmd {
	s.t.Helper()
	env := map[string]string{}
	for _, f := range u.envFiles {
		data, err := os.ReadFile(s.sub(f))
		if err != nil {
			s.t.Fatalf("%s: EnvironmentFile=%s: %v", u.name, f, err)
		}
		for _, l := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
				env[k] = s.sub(strings.Trim(v, `"'`))
			}
		}
	}
	for k, v := range u.env {
		env[k] = s.sub(v)
	}
	if u.stateDir != "" {
		// StateDirectory=: systemd creates /var/lib/DIR (parents 0755) owned by the unit's user.
		dir := "/var/lib/" + u.stateDir
		s.mkdir(filepath.Dir(dir), 0o755)
		mode := u.stateMode
		if mode == 0 {
			mode = 0o755
		}
		s.mkdir(dir, mode)
		s.chown(dir, u.user, u.group)
		env["STATE_DIRECTORY"] = s.path(dir)
	}
	if len(u.creds) > 0 {
		dir := filepath.Join("/run/credentials", u.name)
		s.mkdir(dir, 0o700)
		for id, src := range u.creds {
			data, err := os.ReadFile(s.sub(src))
			if err != nil {
				s.t.Fatalf("%s: LoadCredential=%s: %v", u.name, id, err)
			}
			if err := os.WriteFile(s.path(filepath.Join(dir, id)), data, 0o400); err != nil {
				s.t.Fatal(err)
			}
		}
		s.chown(dir, u.user, u.group)
		env["CREDENTIALS_DIRECTORY"] = s.path(dir)
	}
	line := os.Expand(s.sub(u.execStart[0]), func(k string) string { return env[k] })
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	argv := splitExec(line)
	if u.umask != "" {
		// What systemd does before exec: files the command creates get the unit's umask.
		argv = append([]string{"/bin/sh", "-c", "umask " + u.umask + ` && exec "$0" "$@"`}, argv...)
	}
	return s.command(u.user, u.group, list, argv...)
}

// splitExec splits a command line the way systemd splits ExecStart=: on spaces, with "…" and '…' quoting
// one argument.
func splitExec(line string) []string {
	var out []string
	var cur strings.Builder
	quote, in := rune(0), false
	for _, r := range line {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// run runs c to completion and returns its stdout and stderr; a failure is fatal.
func (s *sandbox) run(what string, c *exec.Cmd) (string, string) {
	s.t.Helper()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		s.t.Fatalf("%s (%s): %v\nstdout:\n%s\nstderr:\n%s", what, strings.Join(c.Args, " "), err, out.String(), errb.String())
	}
	return out.String(), errb.String()
}

// lineLog collects a child's stderr lines and lets the test wait for one.
type lineLog struct {
	mu    sync.Mutex
	lines []string
	ch    chan string
}

func newLineLog(r io.Reader) *lineLog {
	l := &lineLog{ch: make(chan string, 1000)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			l.mu.Lock()
			l.lines = append(l.lines, sc.Text())
			l.mu.Unlock()
			select {
			case l.ch <- sc.Text():
			default:
			}
		}
		close(l.ch)
	}()
	return l
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// wait returns the first submatch of re in a line logged within d.
func (l *lineLog) wait(t *testing.T, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case line, ok := <-l.ch:
			if !ok {
				t.Fatalf("the process exited before logging %s:\n%s", re, l)
			}
			if m := re.FindStringSubmatch(line); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("nothing matching %s logged within %s:\n%s", re, d, l)
		}
	}
}

// TestSplitExec: quoting as in the shipped units (wsca-crl-fetch@.service's --exec "systemctl reload %i").
func TestSplitExec(t *testing.T) {
	got := splitExec(`/usr/bin/wsca crl fetch ${U} --exec "systemctl reload nginx" --watch  'a b'`)
	want := []string{"/usr/bin/wsca", "crl", "fetch", "${U}", "--exec", "systemctl reload nginx", "--watch", "a b"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("splitExec = %q, want %q", got, want)
	}
}
