//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pkiFiles are the files every peer is configured with: the same server certificate, client CA bundle and
// ~10,000-entry CRL, made by wsca.
type pkiFiles struct {
	dir        string // the wsca CA directory
	serverCert string // leaf + intermediate
	serverKey  string
	serverPEM  string // cert + key in one file, for HAProxy's crt
	caBundle   string // ca.crt: intermediate + root
	crl        string // crl.pem: intermediate CRL + root CRL
}

// server is one running peer: its main process (in its own process group, so its workers can be found and
// stopped with it), the address it listens on, and how an admin makes it re-read crl.pem.
type server struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	dir    string
	log    string
	reload func() error // nil: nothing to do (wsca watches its files) or no reload (direct)
	done   chan struct{}
}

// peerStarter starts a peer on addr relaying to the echo backend at backend, pinned to cpus.
type peerStarter func(b *relayBench, addr, backend string) (*server, error)

// startProcess starts args pinned with taskset in a new process group, output to log.
func startProcess(name, dir, cpus string, args ...string) (*server, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command("taskset", append([]string{"-c", cpus}, args...)...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	s := &server{name: name, cmd: cmd, dir: dir, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	return s, nil
}

// waitListening polls addr until it accepts a TCP connection, the process exits, or 20 s pass.
func (s *server) waitListening(addr string) error {
	s.addr = addr
	for range 400 {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited at start: %s", s.name, s.logTail())
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return fmt.Errorf("%s did not listen on %s within 20 s: %s", s.name, addr, s.logTail())
}

func (s *server) logTail() string {
	data, _ := os.ReadFile(s.log)
	return tail(string(data), 800)
}

// stop sends SIGTERM to the peer's process group (the main process and its workers, all started here),
// waits up to 10 s, then SIGKILLs the group.
func (s *server) stop() {
	pgid := s.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
}

// pids returns the main process and all its descendants, from /proc.
func (s *server) pids() []int { return processTree(s.cmd.Process.Pid) }

// processTree returns root and all its descendants, from /proc.
func processTree(root int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: the fields after the last ')' are fixed.
		i := strings.LastIndexByte(string(data), ')')
		f := strings.Fields(string(data[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], pid)
	}
	out := []int{root}
	for i := 0; i < len(out) && i < 100_000; i++ {
		out = append(out, children[out[i]]...)
	}
	return out
}

// memKiB sums the proportional set size (Pss, /proc/PID/smaps_rollup) of all the peer's processes: with
// several processes sharing pages (nginx, HAProxy and Apache workers), Pss counts each page once.
func (s *server) memKiB() (int64, error) {
	var sum int64
	for _, pid := range s.pids() {
		f, err := os.Open(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			continue // exited meanwhile
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Pss:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					sum += n
				}
				break
			}
		}
		f.Close()
	}
	if sum == 0 {
		return 0, errors.New("no memory figures in /proc")
	}
	return sum, nil
}

func writeConf(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// The peers, each configured the way a careful admin configures it for this job: client certificate
// required, verify depth 2, the CRL of every CA in the chain, WebSocket upgrades relayed to the same echo
// backend, the client's subject passed on as a header, no access log.

func startWsca(b *relayBench, addr, backend string) (*server, error) {
	dir, err := b.peerDir("wsca")
	if err != nil {
		return nil, err
	}
	s, err := startProcess("wsca", dir, b.peerCPUs, b.wsca, "--dir", b.pki.dir, "serve", "--listen", addr,
		"--backend", "ws://"+backend, "--cert", b.pki.serverCert, "--key", b.pki.serverKey,
		"--ca", b.pki.caBundle, "--crl", b.pki.crl)
	if err != nil {
		return nil, err
	}
	return s, s.waitListening(addr)
}

func startDirect(b *relayBench, addr, _ string) (*server, error) {
	dir, err := b.peerDir("direct")
	if err != nil {
		return nil, err
	}
	s, err := startProcess("direct", dir, b.peerCPUs, b.self, "echo", "-listen", addr, "-cert", b.pki.serverCert,
		"-key", b.pki.serverKey, "-ca", b.pki.caBundle, "-crl", b.pki.crl)
	if err != nil {
		return nil, err
	}
	return s, s.waitListening(addr)
}

func startNginx(b *relayBench, addr, backend string) (*server, error) {
	dir, err := b.peerDir("nginx")
	if err != nil {
		return nil, err
	}
	dir += "/"
	var c strings.Builder
	fmt.Fprintf(&c, "error_log %serror.log warn;\npid %snginx.pid;\nworker_processes 1;\nworker_rlimit_nofile 20000;\n", dir, dir)
	if os.Geteuid() == 0 {
		c.WriteString("user root;\n") // workers as nobody could not enter the 0700 work directory
	}
	c.WriteString("events { worker_connections 19500; }\nhttp {\n    access_log off;\n")
	for _, tp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&c, "    %s_temp_path %stmp_%s;\n", tp, dir, tp)
	}
	fmt.Fprintf(&c, `    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen %[1]s ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate %[2]s;
        ssl_certificate_key %[3]s;
        ssl_client_certificate %[4]s;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl %[5]s;
        location / {
            proxy_pass http://%[6]s;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Client-Subject $ssl_client_s_dn;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }
    }
}
`, addr, b.pki.serverCert, b.pki.serverKey, b.pki.caBundle, b.pki.crl, backend)
	conf := dir + "nginx.conf"
	if err := writeConf(conf, c.String()); err != nil {
		return nil, err
	}
	args := []string{"nginx", "-p", dir, "-c", conf, "-e", dir + "error.log"}
	s, err := startProcess("nginx", dir, b.peerCPUs, append(args, "-g", "daemon off;")...)
	if err != nil {
		return nil, err
	}
	s.reload = func() error { return exec.Command(args[0], append(args[1:], "-s", "reload")...).Run() }
	return s, s.waitListening(addr)
}

func startHAProxy(b *relayBench, addr, backend string) (*server, error) {
	dir, err := b.peerDir("haproxy")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "haproxy.cfg")
	// HAProxy has no verify-depth setting: the chain here is two CAs deep, within OpenSSL's default limit.
	err = writeConf(conf, fmt.Sprintf(`global
    maxconn 9800
    nbthread 1

defaults
    mode http
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout http-request 10s

frontend fe
    bind %[1]s ssl crt %[2]s ca-file %[3]s crl-file %[4]s verify required
    http-request set-header X-Client-Subject %%[ssl_c_s_dn]
    default_backend be

backend be
    server echo %[5]s maxconn 9800
`, addr, b.pki.serverPEM, b.pki.caBundle, b.pki.crl, backend))
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("haproxy", "-c", "-f", conf).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("haproxy -c: %v: %s", err, out)
	}
	s, err := startProcess("haproxy", dir, b.peerCPUs, "haproxy", "-W", "-f", conf, "-p", filepath.Join(dir, "haproxy.pid"))
	if err != nil {
		return nil, err
	}
	// What `systemctl reload haproxy` does: SIGUSR2 to the master.
	s.reload = func() error { return s.cmd.Process.Signal(syscall.SIGUSR2) }
	return s, s.waitListening(addr)
}

const apacheModules = "/usr/lib/apache2/modules"

func startApache(b *relayBench, addr, backend string) (*server, error) {
	// Apache's children run as www-data: their runtime directory must be reachable, unlike the 0700 work dir.
	dir, err := os.MkdirTemp("", "wsca-bench-apache-")
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	b.cleanup = append(b.cleanup, dir)
	var c strings.Builder
	fmt.Fprintf(&c, "ServerRoot %[1]s\nPidFile %[1]s/httpd.pid\nErrorLog %[1]s/error.log\nLogLevel warn\nDefaultRuntimeDir %[1]s\nServerName localhost\n", dir)
	if os.Geteuid() == 0 {
		c.WriteString("User www-data\nGroup www-data\n")
	}
	for _, m := range []string{"mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "proxy_wstunnel", "headers"} {
		fmt.Fprintf(&c, "LoadModule %s_module %s/mod_%s.so\n", m, apacheModules, m)
	}
	// Event MPM sized for 9,000 relayed WebSockets (each holds a worker thread while it is open).
	c.WriteString(`Timeout 3600
ProxyTimeout 3600
StartServers 2
ServerLimit 48
ThreadLimit 250
ThreadsPerChild 250
MaxRequestWorkers 12000
MinSpareThreads 50
MaxSpareThreads 12000
MaxConnectionsPerChild 0
`)
	fmt.Fprintf(&c, "SSLSessionCache shmcb:%s/ssl_scache(512000)\n", dir)
	fmt.Fprintf(&c, `Listen %[1]s
<VirtualHost %[1]s>
    SSLEngine on
    SSLProtocol -all +TLSv1.2 +TLSv1.3
    SSLCertificateFile %[2]s
    SSLCertificateKeyFile %[3]s
    SSLVerifyClient require
    SSLVerifyDepth 2
    SSLCACertificateFile %[4]s
    SSLCARevocationFile %[5]s
    SSLCARevocationCheck chain
    RequestHeader set X-Client-Subject "%%{SSL_CLIENT_S_DN}s"
    ProxyPass / ws://%[6]s/
</VirtualHost>
`, addr, b.pki.serverCert, b.pki.serverKey, b.pki.caBundle, b.pki.crl, backend)
	conf := filepath.Join(dir, "httpd.conf")
	if err := writeConf(conf, c.String()); err != nil {
		return nil, err
	}
	if out, err := exec.Command("apache2", "-t", "-f", conf, "-d", dir).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("apache2 -t: %v: %s", err, out)
	}
	s, err := startProcess("apache", dir, b.peerCPUs, "apache2", "-f", conf, "-d", dir, "-DFOREGROUND")
	if err != nil {
		return nil, err
	}
	s.reload = func() error { return exec.Command("apache2", "-f", conf, "-d", dir, "-k", "graceful").Run() }
	return s, s.waitListening(addr)
}
