package doctor

import (
	"context"
	"crypto/tls"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
	"github.com/wsca/wsca/relay"
)

// nginxConfig is a typical nginx setup for this CA, as the docs and wsca config nginx describe it: the client
// certificate required at the handshake from ca.crt, crl.pem for the whole chain, WebSocket relaying. The first
// server speaks TLS 1.3 (1.22's default is TLS 1.2 only); the second keeps the default and sends only its own
// certificate (the "missing intermediate" fault).
const nginxConfig = `daemon off;
master_process off;
pid DIR/nginx.pid;
error_log DIR/error.log info;
events { worker_connections 64; }
http {
    access_log DIR/access.log;
    client_body_temp_path DIR/tmp/body;
    proxy_temp_path DIR/tmp/proxy;
    fastcgi_temp_path DIR/tmp/fastcgi;
    uwsgi_temp_path DIR/tmp/uwsgi;
    scgi_temp_path DIR/tmp/scgi;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:PORT1 ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_certificate CERT1;
        ssl_certificate_key DIR/server.key;
        ssl_client_certificate DIR/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl DIR/crl.pem;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        location /secure { proxy_pass http://ECHO; }
        location /alice-only {
            if ($ssl_client_s_dn != "CN=alice") { return 403; }
            proxy_pass http://ECHO;
        }
        location /down { proxy_pass http://DEAD; }
        location /static { return 200 "static page\n"; }
    }
    server {
        listen 127.0.0.1:PORT2 ssl;
        ssl_certificate DIR/leaf.crt;
        ssl_certificate_key DIR/server.key;
        ssl_client_certificate DIR/ca.crt;
        ssl_verify_client on;
        ssl_verify_depth 2;
        ssl_crl DIR/crl.pem;
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        location /secure { proxy_pass http://ECHO; }
    }
}
`

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	_, port, err := net.SplitHostPort(testpki.DeadAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startNginx runs the real nginx with its own configuration in a temporary directory, on free loopback ports, and
// stops it when the test ends. It returns the address of the normal server and of the leaf-only one.
func startNginx(t *testing.T) (addr, leafOnlyAddr string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Fatal("nginx not found: run scripts/install-deps")
	}
	p := testpki.Get(t)
	dir := t.TempDir()
	p.WriteServerFiles(t, dir)
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	echo := httptest.NewServer(relay.EchoBackend())
	t.Cleanup(echo.Close)
	port1, port2 := freePort(t), freePort(t)
	conf := strings.NewReplacer("DIR", dir, "PORT1", port1, "PORT2", port2, "CERT1", filepath.Join(dir, "server.crt"),
		"ECHO", echo.Listener.Addr().String(), "DEAD", testpki.DeadAddr(t)).Replace(nginxConfig)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	out := &testpki.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGQUIT) //nolint:errcheck // it may have exited already
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill() //nolint:errcheck
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
	addr, leafOnlyAddr = "127.0.0.1:"+port1, "127.0.0.1:"+port2
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range []string{addr, leafOnlyAddr} {
		for {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				c.Close()
				break
			}
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("nginx exited: %v\n%s", err, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("nginx does not listen on %s: %v", a, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return addr, leafOnlyAddr
}

// TestConnectNginx runs the same diagnoses against real nginx, which answers certificate problems with HTTP 400
// pages instead of TLS alerts (issue #6, must-show 2).
func TestConnectNginx(t *testing.T) {
	addr, leafOnlyAddr := startNginx(t)
	cases := append(commonCases(), connectCase{name: "not a WebSocket route", path: "/static",
		cert: func(p *testpki.PKI) *tls.Certificate { return &p.Alice }, cause: CauseNotWebSocket,
		parts: []string{"not a WebSocket route", `200 "static page"`}})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := addr
			if tc.leafOnly {
				a = leafOnlyAddr
			}
			r := runConnectCase(t, tc, a)
			if want := map[bool]string{false: "TLS 1.3", true: "TLS 1.2"}[tc.leafOnly]; r.TLSVersion != want {
				t.Errorf("TLS version %q, want %q", r.TLSVersion, want)
			}
			if !r.ClientCertRequested || len(r.AcceptableCAs) != 2 {
				t.Errorf("nginx names the CAs of ssl_client_certificate; report:\n%s", dumpReport(r))
			}
			// nginx never refuses a certificate with an alert: it answers 400 after the handshake.
			if r.Alert != "" {
				t.Errorf("unexpected alert %q from nginx", r.Alert)
			}
		})
	}
}

// TestConnectNginxStops checks that the test harness really stops nginx: a later connection is refused.
func TestConnectNginxStops(t *testing.T) {
	var addr string
	t.Run("run", func(t *testing.T) { addr, _ = startNginx(t) })
	r := Connect(context.Background(), addr, ConnectOptions{Timeout: 2 * time.Second})
	if r.Cause != CauseUnreachable {
		t.Fatalf("nginx still answers after the test: %s", dumpReport(r))
	}
}
