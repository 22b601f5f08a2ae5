package relay

import "strings"

// DefaultStripHeaders are the inbound header names removed from every request before it reaches a backend, besides
// the relay's own identity and forwarding headers: the identity headers other gateways set and that a backend
// migrated from them may still trust (Envoy/Istio, Apache mod_ssl and nginx conventions, auth proxies), and the
// URL-override headers some frameworks honour. A trailing "*" matches any suffix. The strip_headers setting adds to
// this list.
var DefaultStripHeaders = []string{
	"X-Forwarded-Client-Cert", "X-SSL-Client-*", "Ssl-Client-*", "X-Client-*", "Remote-User", "X-Remote-User",
	"X-Original-URL", "X-Rewrite-URL",
}

// ownHeaders are the headers the relay sets itself (identity and forwarding); a client's copies never pass.
var ownHeaders = []string{"X-Client-*", "Client-Cert", "Client-Cert-Chain", "X-Forwarded-For", "X-Forwarded-Proto",
	"X-Forwarded-Host", "X-Real-IP", "Forwarded"}

// headerStripper matches header names against exact names and prefixes, in the normalised form normHeader gives.
type headerStripper struct {
	exact    map[string]bool
	prefixes []string
}

// newHeaderStripper compiles the relay's own headers, DefaultStripHeaders and extra.
func newHeaderStripper(extra []string) headerStripper {
	hs := headerStripper{exact: make(map[string]bool)}
	for _, list := range [][]string{ownHeaders, DefaultStripHeaders, extra} {
		for _, n := range list {
			if p, ok := strings.CutSuffix(n, "*"); ok {
				hs.prefixes = append(hs.prefixes, normHeader(p))
			} else {
				hs.exact[normHeader(n)] = true
			}
		}
	}
	return hs
}

// normHeader folds case and reads '_' as '-': backends that map underscores to dashes (CGI, PHP, some Python
// servers) would otherwise accept X_Client_Cert_CN as the real X-Client-Cert-Cn.
func normHeader(name string) string { return strings.ToLower(strings.ReplaceAll(name, "_", "-")) }

// match reports whether the header name must be removed.
func (hs headerStripper) match(name string) bool {
	n := normHeader(name)
	if hs.exact[n] {
		return true
	}
	for _, p := range hs.prefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	return false
}

// validHeaderPattern accepts a header field name (RFC 9110 token characters) optionally followed by one "*".
func validHeaderPattern(s string) bool {
	s, _ = strings.CutSuffix(s, "*")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
