package relay

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/editdist"
)

// ErrInvalidConfig is wrapped by every error that Validate, ParseConfig and LoadConfig return for a configuration
// that is well-formed YAML but not a usable relay configuration.
var ErrInvalidConfig = errors.New("invalid relay configuration")

// Validate checks the configuration without touching the files it names (New loads them). Every error wraps
// ErrInvalidConfig and names the offending key.
func (c *Config) Validate() error {
	var p problems
	c.checkListenersAndFiles(&p)
	c.checkLimitsAndLog(&p)
	c.checkRoutes(&p)
	if len(p) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(p...))
	}
	return nil
}

// problems collects what Validate finds, in the order of the file, so that one run names every mistake.
type problems []error

func (p *problems) bad(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

// checkListenersAndFiles checks the listen addresses and the files the relay loads: TLS, client CA, CRL.
func (c *Config) checkListenersAndFiles(p *problems) {
	bad := p.bad
	checkAddr := func(key, addr string) {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			bad("%s: %q is not host:port", key, addr)
		}
	}
	if c.Listen == "" {
		bad("listen: missing")
	} else {
		checkAddr("listen", c.Listen)
	}
	if c.MetricsListen != "" {
		checkAddr("metrics_listen", c.MetricsListen)
	}
	if c.TLS.Cert == "" || c.TLS.Key == "" {
		bad("tls: cert and key are required")
	}
	if _, err := cipherSuiteIDs(c.TLS.CipherSuites); err != nil {
		bad("%v", err)
	}
	if c.ClientCA == "" {
		bad("client_ca: missing (the client CA bundle, e.g. ca.crt)")
	}
	if c.CRL == "" {
		bad("crl: missing (the relay refuses to run without revocation checking)")
	} else if crlsync.IsURL(c.CRL) {
		if _, err := crlsync.ParseURL(c.CRL); err != nil {
			bad("crl: %v", err)
		}
		if c.StateDir == "" {
			bad("state_dir: required with a CRL URL (where the relay caches the last good CRL and its CRL numbers)")
		}
	} else if strings.Contains(c.CRL, "://") {
		bad("crl: %q: a URL must be http:// or https://", c.CRL)
	}
	if c.VerifyDepth < 1 || c.VerifyDepth > maxVerifyDepth {
		bad("verify_depth: %d is outside 1..%d", c.VerifyDepth, maxVerifyDepth)
	}
}

// checkLimitsAndLog checks the connection limits, the log settings and strip_headers.
func (c *Config) checkLimitsAndLog(p *problems) {
	bad := p.bad
	if c.MaxConnections < 0 {
		bad("max_connections: %d is negative", c.MaxConnections)
	}
	if c.MaxConnectionsPerAddress < 0 {
		bad("max_connections_per_address: %d is negative", c.MaxConnectionsPerAddress)
	}
	if c.MaxConnections == 0 && c.ReservedConnections > 0 {
		bad("reserved_connections: %d needs max_connections", c.ReservedConnections)
	} else if c.ReservedConnections < 0 || c.MaxConnections > 0 && c.ReservedConnections >= c.MaxConnections {
		bad("reserved_connections: %d must be at least 0 and below max_connections (%d)", c.ReservedConnections,
			c.MaxConnections)
	}
	switch c.Log.Format {
	case "", "text", "json":
	default:
		bad("log.format: %q is not text or json", c.Log.Format)
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		bad("log.level: %v", err)
	}
	for _, n := range c.StripHeaders {
		if !validHeaderPattern(n) {
			bad("strip_headers: %q is not a header name (letters, digits, '-', '_', optionally ending in '*')", n)
		}
	}
}

// checkRoutes checks each route: path, backend and policy.
func (c *Config) checkRoutes(probs *problems) {
	bad := probs.bad
	if len(c.Routes) == 0 {
		bad("routes: at least one route is required")
	}
	seen := make(map[string]bool)
	for i := range c.Routes {
		r := &c.Routes[i]
		where := fmt.Sprintf("routes[%d]", i)
		if !strings.HasPrefix(r.Path, "/") {
			bad("%s.path: %q must start with /", where, r.Path)
		} else {
			p := normalizePrefix(r.Path)
			if seen[p] {
				bad("%s.path: %q is a duplicate", where, r.Path)
			}
			seen[p] = true
		}
		if _, err := parseBackend(r.Backend); err != nil {
			bad("%s.backend: %v", where, err)
		}
		if !r.RequiresClientCert() && len(r.AllowCN)+len(r.AllowOU)+len(r.AllowEmail)+len(r.AllowURI) > 0 {
			bad("%s: allow_cn/allow_ou/allow_email/allow_uri need require_client_cert: true", where)
		}
		for _, s := range r.AllowCIDR {
			if _, err := parsePrefix(s); err != nil {
				bad("%s.allow_cidr: %v", where, err)
			}
		}
	}
}

func parseBackend(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", s, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("%q: scheme must be ws, wss, http or https", s)
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%q: missing host", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q: user info, query and fragment are not allowed", s)
	}
	return u, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR prefix", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an address or CIDR prefix", s)
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// checkKeys walks the YAML tree of a configuration against the type it decodes into and reports, in the user's
// words, the mistakes yaml.v3 would report in Go's ("field alow_ou not found in type Route", "cannot unmarshal
// !!str `alice` into []string"): an unknown key with the nearest known one, and a single value where a list is
// expected with the list to write. Everything else is left to the strict decoder that runs after it.
func checkKeys(n *yaml.Node, t reflect.Type, p *problems) {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		keys := yamlKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" { // a merge key: the strict decoder checks the merged keys
				continue
			}
			f, ok := keys[k.Value]
			if !ok {
				p.bad("unknown key %s at line %d%s", k.Value, k.Line, suggestKey(k.Value, keys, t))
				continue
			}
			checkValue(k.Value, v, f, p)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for _, e := range n.Content {
			checkKeys(e, t.Elem(), p)
		}
	}
}

// checkValue checks the value v of key against the field type t: a single value or a section given for a list,
// and a single value given for a section, get their correction.
func checkValue(key string, v *yaml.Node, t reflect.Type, p *problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	scalar := v.Kind == yaml.ScalarNode && v.Tag != "!!null"
	switch {
	case t.Kind() == reflect.Slice && scalar:
		items := strings.Split(v.Value, ",")
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
		}
		p.bad("line %d: %s is a list: [%s]", v.Line, key, strings.Join(items, ", "))
	case t.Kind() == reflect.Slice && v.Kind == yaml.MappingNode:
		p.bad("line %d: %s is a list: start each entry with \"- \" (\"- path: /x\")", v.Line, key)
	case t.Kind() == reflect.Struct && scalar:
		names := slices.Sorted(maps.Keys(yamlKeys(t)))
		p.bad("line %d: %s takes keys (%s), not the value %q", v.Line, key, strings.Join(names, ", "), v.Value)
	default:
		checkKeys(v, t, p)
	}
}

// yamlKeys maps the YAML keys of struct type t to their field types.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	if t.Kind() != reflect.Struct {
		return nil
	}
	keys := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && name != "" && name != "-" {
			keys[name] = f.Type
		}
	}
	return keys
}

// suggestKey returns "; did you mean KEY?" for the known key nearest to an unknown one (a typo is usually one or
// two letters off), else where the key belongs when it is one of a nested section (backend: at the top level),
// else the keys allowed there.
func suggestKey(unknown string, keys map[string]reflect.Type, t reflect.Type) string {
	names := slices.Sorted(maps.Keys(keys))
	best, bestDist := "", 3
	for _, k := range names {
		if d := editdist.Distance(strings.ToLower(unknown), k); d < bestDist {
			best, bestDist = k, d
		}
	}
	if best != "" {
		return "; did you mean " + best + "?"
	}
	for _, k := range names {
		sub := keys[k]
		for sub.Kind() == reflect.Slice || sub.Kind() == reflect.Pointer {
			sub = sub.Elem()
		}
		if _, ok := yamlKeys(sub)[unknown]; ok && sub.Kind() == reflect.Struct && sub != t {
			return "; " + unknown + " belongs under " + k + ":"
		}
	}
	return " (known keys here: " + strings.Join(names, ", ") + ")"
}
