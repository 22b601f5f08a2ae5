package webconf

import (
	"errors"
	"strings"
	"testing"
)

func validParams() Params {
	return Params{
		CAFile:     "/etc/wsca/ca.crt",
		CRLFile:    "/etc/wsca/crl.pem",
		CertFile:   "/etc/wsca/relay.crt",
		KeyFile:    "/etc/wsca/relay.key",
		Backend:    "http://127.0.0.1:8080",
		ServerName: "relay.example.com",
		Listen:     8443,
	}
}

// TestRenderDirectives checks that each block holds the directives the interop tests proved necessary.
func TestRenderDirectives(t *testing.T) {
	for _, tc := range []struct {
		server Server
		want   []string
	}{
		{Apache, []string{
			"Listen 8443\n", "<VirtualHost *:8443>", "ServerName relay.example.com",
			"SSLProtocol -all +TLSv1.2 +TLSv1.3",
			"SSLCertificateFile /etc/wsca/relay.crt", "SSLCertificateKeyFile /etc/wsca/relay.key",
			"\n    SSLVerifyClient require\n", "SSLVerifyDepth 2", "SSLCACertificateFile /etc/wsca/ca.crt",
			"SSLCARevocationFile /etc/wsca/crl.pem", "SSLCARevocationCheck chain", "SSLSessionTickets off",
			`RequestHeader set X-Client-Cert-CN "%{SSL_CLIENT_S_DN_CN}s"`, "RequestHeader unset Client-Cert-Chain",
			"ProxyPass / http://127.0.0.1:8080/ upgrade=websocket", "a2enmod ssl socache_shmcb proxy proxy_http headers",
			"AH10158",
		}},
		{Nginx, []string{
			"listen 8443 ssl;", "server_name relay.example.com;", "ssl_protocols TLSv1.2 TLSv1.3;",
			"ssl_certificate /etc/wsca/relay.crt;", "ssl_certificate_key /etc/wsca/relay.key;",
			"ssl_verify_client on;", "ssl_verify_depth 2;", "ssl_client_certificate /etc/wsca/ca.crt;",
			"ssl_crl /etc/wsca/crl.pem;", "ssl_session_cache off;", "ssl_session_tickets off;", "proxy_pass http://127.0.0.1:8080;",
			"proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $wsca_connection;",
			"proxy_set_header X-Client-Cert-CN $wsca_client_cn;", `proxy_set_header Client-Cert "";`,
		}},
		{HAProxy, []string{
			"bind :8443 ssl crt /etc/wsca/relay.crt ca-file /etc/wsca/ca.crt crl-file /etc/wsca/crl.pem verify required ssl-min-ver TLSv1.2",
			"ssl-load-extra-del-ext", "mode http", "http-request del-header Client-Cert-Chain",
			`http-request set-header Client-Cert ":%[ssl_c_der,base64]:"`, "server app 127.0.0.1:8080\n",
			"timeout tunnel",
		}},
	} {
		t.Run(string(tc.server), func(t *testing.T) {
			out, err := Render(tc.server, validParams())
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("block lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "<no value>") {
				t.Errorf("block has an unrendered field:\n%s", out)
			}
		})
	}
}

// TestRenderOCSP: with an OCSP URL, Apache and nginx check the leaf by OCSP against that responder (the
// directives the OCSP interop tests use), and nginx's block warns about ssl_ocsp_cache; without one, no
// OCSP directive appears.
func TestRenderOCSP(t *testing.T) {
	want := map[Server][]string{
		Apache: {"SSLOCSPEnable leaf\n", "SSLOCSPDefaultResponder http://pki.example.com:8080/ocsp\n", "SSLOCSPOverrideResponder on\n"},
		Nginx:  {"ssl_ocsp leaf;\n", "ssl_ocsp_responder http://pki.example.com:8080/ocsp;\n", "ssl_ocsp_cache", "revocation then takes up to that long"},
	}
	for _, s := range []Server{Apache, Nginx, HAProxy} {
		p := validParams()
		plain, err := Render(s, p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(plain), "OCSP") || strings.Contains(string(plain), "ocsp") {
			t.Errorf("%s block without an OCSP URL mentions OCSP:\n%s", s, plain)
		}
		p.OCSPURL = "http://pki.example.com:8080/ocsp"
		out, err := Render(s, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want[s] {
			if !strings.Contains(string(out), w) {
				t.Errorf("%s block lacks %q:\n%s", s, w, out)
			}
		}
	}
}

// TestRenderNoPerLocationAuth guards the rule of shared/README: client auth only at vhost/server level.
func TestRenderNoPerLocationAuth(t *testing.T) {
	out, err := Render(Apache, validParams())
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "<Location") || strings.HasPrefix(l, "<Directory") {
			t.Errorf("Apache block opens a per-path section %q:\n%s", l, out)
		}
	}
	if strings.Count(string(out), "\n    SSLVerifyClient") != 1 {
		t.Errorf("want exactly one vhost-level SSLVerifyClient:\n%s", out)
	}
}

func TestRenderVariants(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server Server
		edit   func(*Params)
		want   []string
		absent []string
	}{
		{"apache 443 uses ports.conf", Apache, func(p *Params) { p.Listen = 443 },
			[]string{"# Listen 443 is already", "<VirtualHost *:443>"}, []string{"\nListen 443"}},
		{"apache address", Apache, func(p *Params) { p.Address = "127.0.0.1" },
			[]string{"Listen 127.0.0.1:8443\n", "<VirtualHost 127.0.0.1:8443>"}, nil},
		{"nginx IPv6 address", Nginx, func(p *Params) { p.Address = "::1" }, []string{"listen [::1]:8443 ssl;"}, nil},
		{"haproxy address", HAProxy, func(p *Params) { p.Address = "10.0.0.1" }, []string{"bind 10.0.0.1:8443 ssl"}, nil},
		{"haproxy key in cert", HAProxy, func(p *Params) { p.KeyFile = p.CertFile }, nil, []string{"ssl-load-extra-del-ext"}},
		{"ws backend default port", Nginx, func(p *Params) { p.Backend = "ws://backend.internal" },
			[]string{"proxy_pass http://backend.internal:80;"}, nil},
		{"IPv6 backend", HAProxy, func(p *Params) { p.Backend = "http://[::1]:9000/" }, []string{"server app [::1]:9000\n"}, nil},
		{"IP server name", Apache, func(p *Params) { p.ServerName = "192.0.2.7" }, []string{"ServerName 192.0.2.7"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validParams()
			tc.edit(&p)
			out, err := Render(tc.server, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("block lacks %q:\n%s", w, out)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(string(out), a) {
					t.Errorf("block has %q:\n%s", a, out)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server Server
		edit   func(*Params)
		want   error
	}{
		{"unknown server", "caddy", func(*Params) {}, ErrUnknownServer},
		{"missing CA", Apache, func(p *Params) { p.CAFile = "" }, ErrInvalid},
		{"relative CRL", Nginx, func(p *Params) { p.CRLFile = "crl.pem" }, ErrInvalid},
		{"space in path", Apache, func(p *Params) { p.CertFile = "/etc/my certs/relay.crt" }, ErrInvalid},
		{"directive injection in path", Nginx, func(p *Params) { p.KeyFile = "/k.key;\n    ssl_verify_client off" }, ErrInvalid},
		{"quote in path", HAProxy, func(p *Params) { p.CAFile = `/ca".crt` }, ErrInvalid},
		{"port 0", Apache, func(p *Params) { p.Listen = 0 }, ErrInvalid},
		{"port too big", Nginx, func(p *Params) { p.Listen = 65536 }, ErrInvalid},
		{"address not IP", Nginx, func(p *Params) { p.Address = "localhost" }, ErrInvalid},
		{"empty server name", Apache, func(p *Params) { p.ServerName = "" }, ErrInvalid},
		{"server name injection", Nginx, func(p *Params) { p.ServerName = "a; ssl_verify_client off" }, ErrInvalid},
		{"https backend", Apache, func(p *Params) { p.Backend = "https://app:443" }, ErrInvalid},
		{"ftp backend", Apache, func(p *Params) { p.Backend = "ftp://app" }, ErrInvalid},
		{"backend path", HAProxy, func(p *Params) { p.Backend = "http://app:80/api" }, ErrInvalid},
		{"backend query", Nginx, func(p *Params) { p.Backend = "http://app?x=1" }, ErrInvalid},
		{"backend userinfo", Nginx, func(p *Params) { p.Backend = "http://u:p@app" }, ErrInvalid},
		{"backend bad port", Nginx, func(p *Params) { p.Backend = "http://app:99999" }, ErrInvalid},
		{"backend no host", Nginx, func(p *Params) { p.Backend = "http:///" }, ErrInvalid},
		{"haproxy foreign key name", HAProxy, func(p *Params) { p.KeyFile = "/etc/ssl/private/other.key" }, ErrInvalid},
		{"OCSP https", Apache, func(p *Params) { p.OCSPURL = "https://pki.example.com/ocsp" }, ErrInvalid},
		{"OCSP injection", Nginx, func(p *Params) { p.OCSPURL = "http://pki/ocsp;\n    ssl_verify_client off" }, ErrInvalid},
		{"OCSP space", Apache, func(p *Params) { p.OCSPURL = "http://pki/a b" }, ErrInvalid},
		{"OCSP query", Nginx, func(p *Params) { p.OCSPURL = "http://pki/ocsp?x=1" }, ErrInvalid},
		{"haproxy pem without .crt", HAProxy, func(p *Params) { p.CertFile, p.KeyFile = "/etc/wsca/relay.pem", "/etc/wsca/relay.key" }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := validParams()
			tc.edit(&p)
			out, err := Render(tc.server, p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Render = %v, %q; want %v", err, out, tc.want)
			}
			if out != nil {
				t.Errorf("Render returned output with an error")
			}
		})
	}
}

// FuzzRender checks that no accepted input can add a line or a configuration metacharacter to a block:
// whatever the user passes either renders as one token or is refused.
func FuzzRender(f *testing.F) {
	f.Add("relay.example.com", "http://127.0.0.1:8080", "/etc/wsca/relay.crt", "")
	f.Add("a;b", "ws://[::1]:1/", "/x y", "::1")
	f.Add("*.example.com", "http://app\n", "/etc/wsca/relay.crt\nssl off", "127.0.0.1")
	f.Add("x", "http://%41pp", "/a{b}", "1.2.3.4")
	base := map[Server]int{}
	for _, s := range Servers() {
		out, err := Render(s, validParams())
		if err != nil {
			f.Fatal(err)
		}
		base[s] = strings.Count(string(out), "\n")
	}
	f.Fuzz(func(t *testing.T, name, backend, cert, addr string) {
		p := validParams()
		p.ServerName, p.Backend, p.CertFile, p.Address = name, backend, cert, addr
		if strings.HasSuffix(cert, ".crt") {
			p.KeyFile = strings.TrimSuffix(cert, ".crt") + ".key"
		}
		for _, s := range Servers() {
			out, err := Render(s, p)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("%s: error %v is not ErrInvalid", s, err)
				}
				continue
			}
			if n := strings.Count(string(out), "\n"); n != base[s] {
				t.Fatalf("%s: %d lines, want %d:\n%s", s, n, base[s], out)
			}
			for _, v := range []string{name, cert, addr} {
				if strings.ContainsAny(v, " \t\r\n;{}#\"'$%\\`") {
					t.Fatalf("%s: accepted %q", s, v)
				}
			}
		}
	})
}
