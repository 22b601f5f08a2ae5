// Package webconf renders ready-to-use TLS front-end configuration for Apache httpd 2.4, nginx and
// HAProxy that admits clients by a wsca client certificate and relays HTTP and WebSocket traffic to a
// plain-HTTP backend.
//
// Every rendered block follows the same rules, each one learned on real servers (see interop/FINDINGS.md):
//
//   - the client certificate is required for the whole virtual host or frontend, during the handshake.
//     A per-<Location> SSLVerifyClient makes Apache ask after the handshake (TLS 1.3 post-handshake
//     authentication), which Chromium and Node refuse;
//   - revocation is checked for every certificate of the chain: wsca's crl.pem holds the intermediate's
//     and the root's CRL, and Apache (SSLCARevocationCheck chain), nginx (ssl_crl) and HAProxy (crl-file)
//     all fail closed without a CRL for each CA;
//   - no TLS session outlives a reload: OpenSSL does not check the client certificate again when a session
//     is resumed, so a revoked client resuming a session kept across the reload (nginx's shared session
//     cache, fixed ticket keys) would get in; the nginx block turns both off, the Apache block turns
//     tickets off, the HAProxy block warns against tls-ticket-keys;
//   - TLS 1.2 or later;
//   - the backend learns who connected from X-Client-Verify, X-Client-Cert-CN, X-Client-Cert-Serial and,
//     where the server can produce it, the RFC 9440 Client-Cert header; copies sent by the client are
//     replaced or removed, so the backend can trust them.
//
// The functions are pure: they validate Params and return bytes. They never touch the disk.
package webconf

import (
	"bytes"
	"crypto/x509"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/wsca/wsca/ca"
)

// Server names a server software webconf can configure.
type Server string

// The servers webconf knows.
const (
	Apache  Server = "apache"  // Apache httpd 2.4.47 or later with mod_ssl, mod_proxy_http, mod_headers
	Nginx   Server = "nginx"   // nginx 1.19.5 or later (Debian's nginx package)
	HAProxy Server = "haproxy" // HAProxy 2.2 or later built with OpenSSL
)

// Servers lists the servers in the order the CLI shows them.
func Servers() []Server { return []Server{Apache, Nginx, HAProxy} }

// ErrInvalid reports a Params field that cannot be rendered safely; the error names the field.
var ErrInvalid = errors.New("invalid server configuration parameter")

// ErrUnknownServer reports a Server value that is not one of Servers().
var ErrUnknownServer = errors.New("unknown server")

// ErrNotServerCert reports a --cert that is not a TLS server certificate: it lacks the serverAuth extended
// key usage (a client certificate, say). Browsers, curl and OpenSSL clients reject such a server.
var ErrNotServerCert = errors.New("not a server certificate (no extended key usage serverAuth)")

// CheckServerCert fails with ErrNotServerCert unless leaf carries extKeyUsage serverAuth explicitly. A
// certificate with no EKU extension is refused too: wsca's server certificates always carry serverAuth,
// and one without it is most likely a client certificate from another CA.
func CheckServerCert(leaf *x509.Certificate) error {
	if ca.HasServerAuth(leaf) {
		return nil
	}
	what := "it has no extended key usage"
	if ca.HasClientAuth(leaf) {
		what = "it is a client certificate (extended key usage clientAuth)"
	}
	return fmt.Errorf("certificate %q: %s: %w", leaf.Subject.CommonName, what, ErrNotServerCert)
}

// Params is what a rendered block needs. Paths must be absolute: a server resolves relative paths against
// its own ServerRoot or prefix, not against the directory the admin ran wsca in.
type Params struct {
	// CAFile is wsca's ca.crt (intermediate + root): the CAs a client certificate must chain to.
	CAFile string
	// CRLFile is wsca's crl.pem: the intermediate's CRL followed by the root's CRL.
	CRLFile string
	// CertFile and KeyFile are the server's certificate (leaf + intermediate) and its private key.
	// HAProxy 2.6 cannot take a key path of its own: it loads the key from CertFile itself (KeyFile ==
	// CertFile) or, for NAME.crt, from NAME.key (what wsca issue --server writes), so Render refuses any
	// other KeyFile for HAProxy.
	CertFile, KeyFile string
	// Backend is the plain-HTTP upstream, "http://host:port" or "ws://host:port" (same thing: the
	// upgrade is relayed either way). TLS to the backend is not rendered: keep the backend on loopback
	// or a trusted network.
	Backend string
	// ServerName is the host name clients use (Apache ServerName, nginx server_name).
	ServerName string
	// Listen is the TCP port to accept TLS on, 1-65535.
	Listen int
	// Address is the IP address to listen on; empty means every address.
	Address string
	// OCSPURL, when set, is wsca publish's OCSP responder: Apache and nginx then ask it about each client
	// certificate during the handshake (SSLOCSPEnable leaf, ssl_ocsp leaf), so a revocation is refused on the
	// next handshake without a reload. HAProxy cannot check client certificates by OCSP; it ignores it.
	OCSPURL string
}

//go:embed templates/*.tmpl
var templateFS embed.FS

// safePath is what a rendered path may contain: no whitespace, quotes, comment or variable characters,
// which would let a path end a directive early or inject another in any of the three syntaxes.
var safePath = regexp.MustCompile(`^/[A-Za-z0-9._/+@=,:~-]*$`)

// safeURLPath is what the path of a rendered URL may contain (see safePath).
var safeURLPath = regexp.MustCompile(`^(/[A-Za-z0-9._/+@=,:~-]*)?$`)

// hostName matches a DNS name, optionally a leading wildcard label.
var hostName = regexp.MustCompile(`^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// view is what the templates see: validated, normalised values only.
type view struct {
	Params
	BackendHostPort string // host:port, IPv6 in brackets
	KeyInCert       bool   // KeyFile is CertFile: one PEM holds both
	ListenHostPort  string // "8443" or "127.0.0.1:8443" / "[::1]:8443": Apache Listen, nginx listen
	VHostAddr       string // "*:8443" or "127.0.0.1:8443": Apache <VirtualHost>
	BindAddr        string // ":8443" or "127.0.0.1:8443": HAProxy bind
}

// Render returns the configuration block for server s. It fails with ErrUnknownServer for an unknown s and
// with ErrInvalid (naming the field) when a parameter is missing or could break out of its directive.
func Render(s Server, p Params) ([]byte, error) {
	name := ""
	switch s {
	case Apache, Nginx, HAProxy:
		name = string(s) + ".tmpl"
	default:
		return nil, fmt.Errorf("%w %q (want apache, nginx or haproxy)", ErrUnknownServer, string(s))
	}
	v, err := check(p)
	if err != nil {
		return nil, err
	}
	if s == HAProxy && !v.KeyInCert && p.KeyFile != haproxyKey(p.CertFile) {
		return nil, fmt.Errorf("%w: key %s: HAProxy 2.6 has no key path of its own; it reads the key from the "+
			"certificate file or, for NAME.crt, from NAME.key (ssl-load-extra-del-ext)", ErrInvalid, p.KeyFile)
	}
	tmpl, err := template.New(name).Option("missingkey=error").ParseFS(templateFS, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parsing %s template: %w", s, err) // a bug in webconf, not in p
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, v); err != nil {
		return nil, fmt.Errorf("rendering %s configuration: %w", s, err)
	}
	return buf.Bytes(), nil
}

func check(p Params) (view, error) {
	for _, f := range []struct{ name, val string }{
		{"CA file", p.CAFile}, {"CRL file", p.CRLFile}, {"certificate", p.CertFile}, {"key", p.KeyFile},
	} {
		if f.val == "" {
			return view{}, fmt.Errorf("%w: %s: missing", ErrInvalid, f.name)
		}
		if !safePath.MatchString(f.val) {
			return view{}, fmt.Errorf("%w: %s %q: want an absolute path of letters, digits and ._/+@=,:~-", ErrInvalid, f.name, f.val)
		}
	}
	if p.Listen < 1 || p.Listen > 65535 {
		return view{}, fmt.Errorf("%w: listen port %d: want 1-65535", ErrInvalid, p.Listen)
	}
	if p.Address != "" && net.ParseIP(p.Address) == nil {
		return view{}, fmt.Errorf("%w: listen address %q: want an IP address", ErrInvalid, p.Address)
	}
	if !validHost(p.ServerName) {
		return view{}, fmt.Errorf("%w: server name %q: want a DNS name or an IP address", ErrInvalid, p.ServerName)
	}
	hp, err := backendHostPort(p.Backend)
	if err != nil {
		return view{}, err
	}
	if p.OCSPURL != "" {
		if u, err := url.Parse(p.OCSPURL); err != nil || u.Scheme != "http" || !validHost(u.Hostname()) || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || !safeURLPath.MatchString(u.EscapedPath()) {
			return view{}, fmt.Errorf("%w: OCSP URL %q: want http://host[:port][/path]", ErrInvalid, p.OCSPURL)
		}
	}
	v := view{Params: p, BackendHostPort: hp, KeyInCert: p.KeyFile == p.CertFile}
	port := strconv.Itoa(p.Listen)
	v.ListenHostPort, v.VHostAddr, v.BindAddr = port, "*:"+port, ":"+port
	if p.Address != "" {
		hp := net.JoinHostPort(p.Address, port)
		v.ListenHostPort, v.VHostAddr, v.BindAddr = hp, hp, hp
	}
	return v, nil
}

func validHost(h string) bool {
	return net.ParseIP(h) != nil || (len(h) <= 253 && hostName.MatchString(h))
}

// backendHostPort checks the backend URL and returns its host:port, with the scheme's default port.
func backendHostPort(raw string) (string, error) {
	bad := func(why string) error { return fmt.Errorf("%w: backend %q: %s", ErrInvalid, raw, why) }
	u, err := url.Parse(raw)
	if err != nil {
		return "", bad("not a URL")
	}
	port := ""
	switch u.Scheme {
	case "http", "ws":
		port = "80"
	case "https", "wss":
		return "", bad("TLS to the backend is not rendered; use a plain http:// backend on loopback or a trusted network")
	default:
		return "", bad("want http://host:port or ws://host:port")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", bad("want only scheme, host and port")
	}
	if u.Path != "" && u.Path != "/" {
		return "", bad("a path is not supported (HAProxy cannot rewrite it); proxy to the backend's root")
	}
	host := u.Hostname()
	if !validHost(host) || strings.HasPrefix(host, "*") {
		return "", bad("want a host name or an IP address")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", bad("port out of range")
		}
		port = p
	}
	return net.JoinHostPort(host, port), nil
}

// haproxyKey is the key file HAProxy 2.6 loads for a certificate under ssl-load-extra-del-ext: the ".crt"
// extension replaced by ".key", as wsca issue names them. Without a ".crt" extension there is none.
func haproxyKey(cert string) string {
	if base, ok := strings.CutSuffix(cert, ".crt"); ok && !strings.HasSuffix(base, "/") {
		return base + ".key"
	}
	return ""
}
