package relay

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// Backend connection limits. A backend that accepts TCP but never answers must not hold a client forever.
const (
	backendDialTimeout     = 10 * time.Second
	backendResponseTimeout = 30 * time.Second
)

// route is a compiled Route.
type route struct {
	cfg       *Route
	prefix    string
	backend   *url.URL
	secure    bool // wss:// or https://
	dialAddr  string
	tlsConfig *tls.Config // for a secure backend
	cidrs     []netip.Prefix
	dialer    *net.Dialer
	transport *http.Transport
	proxy     *httputil.ReverseProxy // set by Server.prepare
}

func compileRoute(m *material, r *Route) (*route, error) {
	u, err := parseBackend(r.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	rt := &route{cfg: r, prefix: normalizePrefix(r.Path), backend: u, dialer: &net.Dialer{Timeout: backendDialTimeout}}
	rt.secure = u.Scheme == "wss" || u.Scheme == "https"
	port := u.Port()
	if port == "" {
		port = "80"
		if rt.secure {
			port = "443"
		}
	}
	rt.dialAddr = net.JoinHostPort(u.Hostname(), port)
	for _, s := range r.AllowCIDR {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("allow_cidr: %w", err)
		}
		rt.cidrs = append(rt.cidrs, p)
	}
	if rt.secure {
		rt.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
		if r.BackendCA != "" {
			data, err := os.ReadFile(r.BackendCA)
			if err != nil {
				return nil, fmt.Errorf("reading backend_ca: %w", err)
			}
			m.digests[r.BackendCA] = sha256.Sum256(data)
			certs, err := parseCertificates(data)
			if err != nil {
				return nil, fmt.Errorf("backend_ca %s: %w", r.BackendCA, err)
			}
			pool := x509.NewCertPool()
			for _, c := range certs {
				pool.AddCert(c)
			}
			rt.tlsConfig.RootCAs = pool
		}
	} else if r.BackendCA != "" {
		return nil, fmt.Errorf("backend_ca is only meaningful for a wss:// or https:// backend")
	}
	rt.transport = &http.Transport{
		DialContext:           rt.dialer.DialContext,
		TLSClientConfig:       rt.tlsConfig,
		TLSHandshakeTimeout:   backendDialTimeout,
		ResponseHeaderTimeout: backendResponseTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
		DisableCompression:    true,
	}
	return rt, nil
}

// match returns the route with the longest prefix matching path on a segment boundary, or nil.
func (m *material) match(path string) *route {
	for _, rt := range m.routes {
		if rt.prefix == "/" || path == rt.prefix ||
			(strings.HasPrefix(path, rt.prefix) && path[len(rt.prefix)] == '/') {
			return rt
		}
	}
	return nil
}

// outboundPath maps a request path to the backend, following nginx proxy_pass: a backend without a path gets the
// path unchanged; one with a path gets the matched prefix replaced by it.
func (rt *route) outboundPath(path string) string {
	if rt.backend.Path == "" {
		return path
	}
	rest := path
	if rt.prefix != "/" {
		rest = strings.TrimPrefix(path, rt.prefix)
	}
	base := strings.TrimSuffix(rt.backend.Path, "/")
	if rest == "" {
		return rt.backend.Path
	}
	if !strings.HasPrefix(rest, "/") {
		rest = "/" + rest
	}
	return base + rest
}

// authorize applies the route policy. It returns "" when the request may pass, else a Reason* constant and a detail
// for the log.
func (rt *route) authorize(p *peer, remote netip.Addr) (reason, detail string) {
	if len(rt.cidrs) > 0 && !slices.ContainsFunc(rt.cidrs, func(pr netip.Prefix) bool { return pr.Contains(remote) }) {
		return ReasonIPNotAllowed, fmt.Sprintf("address %s is not in allow_cidr %v", remote, rt.cfg.AllowCIDR)
	}
	if p == nil {
		if rt.cfg.RequiresClientCert() {
			return ReasonNoCertificate, "client certificate required"
		}
		return "", ""
	}
	leaf := p.leaf()
	if len(rt.cfg.AllowCN) > 0 && !slices.Contains(rt.cfg.AllowCN, leaf.Subject.CommonName) {
		return ReasonCNNotAllowed, fmt.Sprintf("CN %q is not in allow_cn", leaf.Subject.CommonName)
	}
	if len(rt.cfg.AllowOU) > 0 && !anyIn(leaf.Subject.OrganizationalUnit, rt.cfg.AllowOU) {
		return ReasonOUNotAllowed, fmt.Sprintf("OU %q is not in allow_ou", leaf.Subject.OrganizationalUnit)
	}
	if len(rt.cfg.AllowEmail) > 0 && !anyIn(leaf.EmailAddresses, rt.cfg.AllowEmail) {
		return ReasonEmailNotAllowed, fmt.Sprintf("e-mail %q is not in allow_email", leaf.EmailAddresses)
	}
	if len(rt.cfg.AllowURI) > 0 {
		uris := make([]string, len(leaf.URIs))
		for i, u := range leaf.URIs {
			uris[i] = u.String()
		}
		if !anyIn(uris, rt.cfg.AllowURI) {
			return ReasonURINotAllowed, fmt.Sprintf("URI %q is not in allow_uri", uris)
		}
	}
	return "", ""
}

func anyIn(have, allowed []string) bool {
	for _, h := range have {
		if slices.Contains(allowed, h) {
			return true
		}
	}
	return false
}

// Identity headers sent to the backend. Every inbound header whose name normalizes (case folded, '_' read as '-')
// to one of these, or starts with X-Client-Cert, is removed first, so a client cannot forge them. Backends that map
// underscores to dashes (CGI, PHP, some Python servers) would otherwise accept X_Client_Cert_CN as the real thing.
const (
	HeaderSubject     = "X-Client-Cert-Subject"     // RFC 2253 subject of the client certificate
	HeaderCN          = "X-Client-Cert-Cn"          // subject common name
	HeaderSerial      = "X-Client-Cert-Serial"      // serial number, lower-case hex
	HeaderFingerprint = "X-Client-Cert-Fingerprint" // SHA-256 of the DER certificate, lower-case hex
	HeaderNotAfter    = "X-Client-Cert-Not-After"   // RFC 3339, UTC
	HeaderVerify      = "X-Client-Verify"           // SUCCESS or NONE, like nginx $ssl_client_verify
	HeaderClientCert  = "Client-Cert"               // RFC 9440 §2.2: :base64(DER):
	HeaderCertChain   = "Client-Cert-Chain"         // RFC 9440 §2.3: the CA certificates of the verified chain
)

// isReservedHeader reports whether the relay owns a header name: identity and forwarding headers.
func isReservedHeader(name string) bool {
	n := strings.ToLower(strings.ReplaceAll(name, "_", "-"))
	switch n {
	case "x-client-verify", "client-cert", "client-cert-chain", "x-forwarded-for", "x-forwarded-proto",
		"x-forwarded-host", "x-real-ip", "forwarded":
		return true
	}
	return strings.HasPrefix(n, "x-client-cert") || strings.HasPrefix(n, "ssl-client")
}

// setIdentity removes every reserved header from h and sets the relay's own: identity from p (X-Client-Verify NONE
// without a certificate) and X-Forwarded-For/-Proto/-Host. The relay is the edge: client-sent forwarding headers
// are not trusted, so they are replaced rather than appended to.
func setIdentity(h http.Header, p *peer, remote netip.Addr, host string) {
	for k := range h {
		if isReservedHeader(k) {
			delete(h, k)
		}
	}
	h.Set("X-Forwarded-For", remote.String())
	h.Set("X-Forwarded-Proto", "https")
	if host != "" {
		h.Set("X-Forwarded-Host", host)
	}
	if p == nil {
		h.Set(HeaderVerify, "NONE")
		return
	}
	leaf := p.leaf()
	sum := sha256.Sum256(leaf.Raw)
	h.Set(HeaderVerify, "SUCCESS")
	h.Set(HeaderSubject, headerSafe(leaf.Subject.String()))
	h.Set(HeaderCN, headerSafe(leaf.Subject.CommonName))
	h.Set(HeaderSerial, leaf.SerialNumber.Text(16))
	h.Set(HeaderFingerprint, hex.EncodeToString(sum[:]))
	h.Set(HeaderNotAfter, leaf.NotAfter.UTC().Format(time.RFC3339))
	h.Set(HeaderClientCert, ":"+base64.StdEncoding.EncodeToString(leaf.Raw)+":")
	// RFC 9440 §2.3: the chain used to validate the leaf, leaf excluded; the trust anchor is omitted since the
	// backend trusts the relay, not the root.
	if ch := p.chains[0]; len(ch) > 2 {
		parts := make([]string, 0, len(ch)-2)
		for _, c := range ch[1 : len(ch)-1] {
			parts = append(parts, ":"+base64.StdEncoding.EncodeToString(c.Raw)+":")
		}
		h.Set(HeaderCertChain, strings.Join(parts, ", "))
	}
}

// headerSafe percent-encodes bytes outside printable ASCII and '%' itself: certificate names may hold UTF-8 or
// control characters, which are unsafe or ambiguous in a header value (RFC 9110 §5.5).
func headerSafe(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}
