package ca

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
)

// NameConstraints are the permitted subtrees (RFC 5280 4.2.1.10) put on the intermediate CA at init, so
// that a stolen intermediate key cannot mint identities outside the organisation: relying parties that
// check name constraints (OpenSSL, Go, NSS) reject such certificates. An empty list leaves that name type
// unconstrained.
type NameConstraints struct {
	// EmailDomains: "example.com" permits mailboxes at exactly that host, ".example.com" at its
	// subdomains, "alice@example.com" that one mailbox.
	EmailDomains []string
	// URIDomains: "example.com" permits URIs whose host is exactly that, ".example.com" its subdomains.
	URIDomains []string
	// DNSDomains: "example.com" permits that name and every name under it.
	DNSDomains []string
}

// empty reports whether c constrains nothing.
func (c NameConstraints) empty() bool {
	return len(c.EmailDomains) == 0 && len(c.URIDomains) == 0 && len(c.DNSDomains) == 0
}

// check validates the constraint values themselves.
func (c NameConstraints) check() error {
	all := [][]string{c.EmailDomains, c.URIDomains, c.DNSDomains}
	for i, list := range all {
		for _, v := range list {
			host := strings.TrimPrefix(v, ".")
			if i == 0 {
				if at := strings.LastIndexByte(v, '@'); at >= 0 {
					host = v[at+1:]
				}
			}
			if host == "" || checkPrintable(v) != nil || strings.ContainsAny(host, " /:@*") || net.ParseIP(host) != nil {
				return fmt.Errorf("name constraint %q is not a domain name like example.com or .example.com", v)
			}
		}
	}
	return nil
}

// apply puts c on a CA template. The extension is critical, as RFC 5280 4.2.1.10 requires.
func (c NameConstraints) apply(tmpl *x509.Certificate) {
	if c.empty() {
		return
	}
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedEmailAddresses = c.EmailDomains
	tmpl.PermittedURIDomains = c.URIDomains
	tmpl.PermittedDNSDomains = c.DNSDomains
}

// checkNameConstraints refuses, before signing, a leaf name that the issuer's permitted subtrees do not
// cover: relying parties would reject the certificate, and the operator should hear it now.
func checkNameConstraints(issuer *x509.Certificate, req LeafRequest) error {
	if len(issuer.PermittedEmailAddresses) > 0 {
		for _, e := range req.Emails {
			if !permitsEmail(issuer.PermittedEmailAddresses, e) {
				return fmt.Errorf("email %q: permitted are %s: %w", e, strings.Join(issuer.PermittedEmailAddresses, ", "), ErrOutsideNameConstraints)
			}
		}
	}
	if len(issuer.PermittedURIDomains) > 0 {
		for _, u := range req.URIs {
			if !permitsHost(issuer.PermittedURIDomains, u.Hostname(), false) {
				return fmt.Errorf("URI %q: permitted hosts are %s: %w", u.String(), strings.Join(issuer.PermittedURIDomains, ", "), ErrOutsideNameConstraints)
			}
		}
	}
	if len(issuer.PermittedDNSDomains) > 0 {
		for _, d := range req.DNSNames {
			if !permitsHost(issuer.PermittedDNSDomains, d, true) {
				return fmt.Errorf("DNS name %q: permitted are %s: %w", d, strings.Join(issuer.PermittedDNSDomains, ", "), ErrOutsideNameConstraints)
			}
		}
	}
	return nil
}

func permitsEmail(permitted []string, email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	for _, p := range permitted {
		if strings.Contains(p, "@") {
			if strings.EqualFold(p, email) {
				return true
			}
			continue
		}
		if permitsHost([]string{p}, email[at+1:], false) {
			return true
		}
	}
	return false
}

// permitsHost matches host against domain constraints: ".example.com" matches subdomains only; "example.com"
// matches itself and, for DNS names (RFC 5280 4.2.1.10), also its subdomains.
func permitsHost(permitted []string, host string, dns bool) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, p := range permitted {
		p = strings.ToLower(p)
		switch {
		case strings.HasPrefix(p, "."):
			if strings.HasSuffix(host, p) {
				return true
			}
		case host == p, dns && strings.HasSuffix(host, "."+p):
			return true
		}
	}
	return false
}
