package interop_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const apacheModules = "/usr/lib/apache2/modules"

// startApache runs apache2 in the foreground with a minimal global configuration around site (which holds
// its own Listen): ServerRoot, PidFile, ErrorLog and runtime files in a temp dir, the modules wsca's block
// needs, small worker limits. Reload is a graceful restart (apache2 -k graceful), as admins do it.
func startApache(t *testing.T, site string, port int) *server {
	t.Helper()
	bin := requireTool(t, "apache2")
	if _, err := os.Stat(filepath.Join(apacheModules, "mod_ssl.so")); err != nil {
		t.Fatalf("Apache modules missing (%v): run scripts/install-deps", err)
	}
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %s\nPidFile %s/httpd.pid\nErrorLog %s/error.log\nLogLevel info\nDefaultRuntimeDir %s\nServerName localhost\n", dir, dir, dir, dir)
	if u, g := rootUser(t); u != "" {
		fmt.Fprintf(&b, "User %s\nGroup %s\n", u, g)
	}
	for _, m := range []string{"mpm_event", "authz_core", "ssl", "socache_shmcb", "proxy", "proxy_http", "headers"} {
		fmt.Fprintf(&b, "LoadModule %s_module %s/mod_%s.so\n", m, apacheModules, m)
	}
	// Timeout bounds how long a worker stuck in a WebSocket tunnel delays a SIGTERM stop (default 60 s;
	// Apache then escalates to SIGKILL only after about 10 s).
	b.WriteString("Timeout 5\nStartServers 1\nServerLimit 4\nThreadsPerChild 10\nMaxRequestWorkers 40\nMinSpareThreads 5\nMaxSpareThreads 20\n")
	b.WriteString("SSLSessionCache shmcb:" + dir + "/ssl_scache(512000)\n")
	fmt.Fprintf(&b, "Include %s/site.conf\n", dir)
	writeFile(t, filepath.Join(dir, "site.conf"), site)
	conf := filepath.Join(dir, "httpd.conf")
	writeFile(t, conf, b.String())
	p := startProc(t, []string{filepath.Join(dir, "error.log")}, bin, "-f", conf, "-d", dir, "-DFOREGROUND")
	addr := "127.0.0.1:" + itoa(port)
	p.waitListening(t, addr)
	return &server{proc: p, addr: addr, reload: func(t *testing.T) {
		t.Helper()
		runTool(t, bin, "-f", conf, "-d", dir, "-k", "graceful")
	}}
}

// startNginx runs nginx in the foreground (daemon off) with its prefix, pid, error log and temp paths in a
// temp dir and http holding the given block. Reload is nginx -s reload with the same -p/-c.
func startNginx(t *testing.T, httpBlock string, port int) *server {
	t.Helper()
	bin := requireTool(t, "nginx")
	dir := t.TempDir() + "/"
	errLog := dir + "error.log"
	var b strings.Builder
	fmt.Fprintf(&b, "error_log %s info;\npid %snginx.pid;\nworker_processes 1;\n", errLog, dir)
	if os.Geteuid() == 0 {
		// Workers would run as nobody, who cannot enter the 0700 temp dir.
		b.WriteString("user root;\n")
	}
	b.WriteString("events { worker_connections 64; }\nhttp {\n    access_log off;\n")
	for _, tp := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		fmt.Fprintf(&b, "    %s_temp_path %stmp_%s;\n", tp, dir, tp)
	}
	fmt.Fprintf(&b, "    include %ssite.conf;\n}\n", dir)
	writeFile(t, dir+"site.conf", httpBlock)
	conf := dir + "nginx.conf"
	writeFile(t, conf, b.String())
	args := []string{"-p", dir, "-c", conf, "-e", errLog}
	p := startProc(t, []string{errLog}, bin, append(args, "-g", "daemon off;")...)
	addr := "127.0.0.1:" + itoa(port)
	p.waitListening(t, addr)
	return &server{proc: p, addr: addr, reload: func(t *testing.T) {
		t.Helper()
		runTool(t, bin, append(args, "-s", "reload")...)
	}}
}

// startHAProxy runs HAProxy in master-worker mode in the foreground with logs on stdout and the given
// sections appended. Reload is SIGUSR2 to the master, what systemctl reload haproxy sends.
func startHAProxy(t *testing.T, sections string, port int) *server {
	t.Helper()
	bin := requireTool(t, "haproxy")
	dir := t.TempDir()
	conf := filepath.Join(dir, "haproxy.cfg")
	writeFile(t, conf, "global\n    log stdout format raw local0 info\n\ndefaults\n    log global\n    option httplog\n\n"+sections)
	runTool(t, bin, "-c", "-f", conf)
	p := startProc(t, nil, bin, "-W", "-f", conf, "-p", filepath.Join(dir, "haproxy.pid"))
	addr := "127.0.0.1:" + itoa(port)
	p.waitListening(t, addr)
	return &server{proc: p, addr: addr, reload: func(t *testing.T) {
		t.Helper()
		if err := p.cmd.Process.Signal(syscall.SIGUSR2); err != nil {
			t.Fatalf("reloading haproxy: %v", err)
		}
	}}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runTool runs a server's control command (config test, reload) and fails the test with its output.
func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
}

// handPath answers 200 on the hand-written servers below.
const handPath = "/ok.txt"

// handApache starts Apache with the virtual host an admin writes by hand for wsca's files, plus extra
// directives inside it; it serves handPath from a document root.
func handApache(t *testing.T, p *pki, port int, extra string) *server {
	t.Helper()
	// Apache's workers (www-data when the test runs as root) cannot enter t.TempDir (0700).
	docs, err := os.MkdirTemp("", "wsca-htdocs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(docs) })
	if err := os.Chmod(docs, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(docs, "ok.txt"), "ok\n")
	return startApache(t, fmt.Sprintf(`Listen 127.0.0.1:%[1]d
<VirtualHost 127.0.0.1:%[1]d>
    ServerName localhost
    DocumentRoot %[2]s
    SSLEngine on
    SSLCertificateFile %[3]s
    SSLCertificateKeyFile %[4]s
    SSLVerifyClient require
    SSLVerifyDepth 2
    SSLCACertificateFile %[5]s
    SSLCARevocationFile %[6]s
    SSLCARevocationCheck chain
    %[7]s
</VirtualHost>
`, port, docs, p.file("srv.crt"), p.file("srv.key"), p.caFile("ca.crt"), p.caFile("crl.pem"), extra), port)
}

// handNginx starts nginx with the server block an admin writes by hand for wsca's files, plus extra.
func handNginx(t *testing.T, p *pki, port int, extra string) *server {
	t.Helper()
	return startNginx(t, nginxSite(p, port, p.caFile("ca.crt"), p.caFile("crl.pem"), extra), port)
}

// nginxSite is that server block with the given CA bundle and CRL files.
func nginxSite(p *pki, port int, caFile, crlFile, extra string) string {
	return fmt.Sprintf(`server {
    listen 127.0.0.1:%d ssl;
    server_name localhost;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_verify_client on;
    ssl_client_certificate %s;
    ssl_verify_depth 2;
    ssl_crl %s;
    %s
    location / { return 200 "ok\n"; }
}
`, port, p.file("srv.crt"), p.file("srv.key"), caFile, crlFile, extra)
}

// handHAProxy starts HAProxy with a frontend an admin writes by hand for wsca's files; extra is appended
// to the bind line. It answers every request itself.
func handHAProxy(t *testing.T, p *pki, port int, extra string) *server {
	t.Helper()
	return startHAProxy(t, fmt.Sprintf(`global
    ssl-load-extra-del-ext

frontend mtls
    mode http
    timeout client 10s
    bind 127.0.0.1:%d ssl crt %s ca-file %s crl-file %s verify required %s
    http-request return status 200 content-type text/plain string ok
`, port, p.file("srv.crt"), p.caFile("ca.crt"), p.caFile("crl.pem"), extra), port)
}
