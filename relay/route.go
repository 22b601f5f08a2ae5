package relay

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
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
	strip     headerStripper // inbound headers removed before the request reaches the backend
	dialer    *net.Dialer
	transport *http.Transport
	proxy     *httputil.ReverseProxy // set by Server.prepare
}

func compileRoute(m *material, r *Route) (*route, error) {
	u, err := parseBackend(r.Backend)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	var extraStrip []string
	if m.cfg != nil {
		extraStrip = m.cfg.StripHeaders
	}
	rt := &route{cfg: r, prefix: normalizePrefix(r.Path), backend: u, dialer: &net.Dialer{Timeout: backendDialTimeout},
		strip: newHeaderStripper(extraStrip)}
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
