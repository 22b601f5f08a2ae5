package relay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults applied by ParseConfig and NewSimpleConfig to keys left unset.
const (
	DefaultVerifyDepth       = 2
	DefaultHandshakeTimeout  = 10 * time.Second
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultShutdownGrace     = 10 * time.Second
	DefaultAnonymousIdle     = 5 * time.Second
	// DefaultMaxConnectionsPerAddress is max_connections_per_address when unset: enough for a NAT of browsers on
	// anonymous routes (a browser opens up to 6 connections per origin), far from enough to fill max_connections.
	DefaultMaxConnectionsPerAddress = 16
	// maxVerifyDepth bounds verify_depth: deeper chains are a configuration mistake, not a PKI.
	maxVerifyDepth = 8
)

// Duration is a time.Duration written in YAML as a Go duration string ("10m", "1h30m", "500ms"). A bare number is
// rejected: "600" could mean seconds or nanoseconds, and guessing wrong silently changes a timeout.
type Duration time.Duration

// UnmarshalYAML decodes a duration string, reporting the YAML line on error.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
		return fmt.Errorf("line %d: duration must be a string such as \"10m\" or \"30s\", got %q", n.Line, n.Value)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	if v < 0 {
		return fmt.Errorf("line %d: duration %q is negative", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML encodes the duration as a Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the relay configuration: the YAML file behind `wsca serve --config`, or the one route built from flags by
// NewSimpleConfig. File paths are absolute after ParseConfig or LoadConfig (relative ones are resolved against the
// configuration file's directory).
type Config struct {
	// Listen is the TLS listen address, host:port.
	Listen string `yaml:"listen"`
	// TLS names the server certificate file (leaf followed by its intermediates) and its private key.
	TLS TLSFiles `yaml:"tls"`
	// ClientCA is the PEM bundle of client CAs (wsca's ca.crt: intermediate + root). Self-signed certificates in it
	// are trust anchors; the others are intermediates available for chain building.
	ClientCA string `yaml:"client_ca"`
	// CRL is the PEM file holding one CRL per CA of ClientCA (wsca's crl.pem), or the http:// or https:// URL of
	// one (`wsca publish`, or any web server): the relay then long-polls it, verifies every download against
	// ClientCA and caches the last good one in StateDir. It is required: the relay fails closed and refuses to
	// start without it.
	CRL string `yaml:"crl"`
	// StateDir holds the relay's CRL state: the highest CRL number accepted per CA (crl state file), and with a
	// CRL URL the cached copy used when the publisher cannot be reached. Required with a CRL URL; with a file
	// the state is kept next to the file unless StateDir is set.
	StateDir string `yaml:"state_dir"`
	// CRLPollInterval is how often a CRL URL is asked again when its server does not hold requests (a static web
	// server; `wsca publish` answers as soon as a CRL is published) and after a failed fetch. Default 30s.
	CRLPollInterval Duration `yaml:"crl_poll_interval"`
	// CRLGrace lets an expired CRL (past its nextUpdate) be used for this long; every such use is logged. Zero
	// (default) fails closed as soon as the CRL expires.
	CRLGrace Duration `yaml:"crl_grace"`
	// VerifyDepth is the maximum number of CA certificates above the client certificate, like Apache's
	// SSLVerifyDepth: the verified chain may hold at most VerifyDepth+1 certificates. Zero means the default, 2.
	VerifyDepth int `yaml:"verify_depth"`
	// AllowLegacyEKU admits client certificates whose extended key usage does not name clientAuth explicitly (no
	// extension at all, or only anyExtendedKeyUsage), as certificates of some imported legacy CAs are. Off by
	// default: wsca requires clientAuth. Every admission it makes is logged at WARN.
	AllowLegacyEKU bool `yaml:"allow_legacy_eku"`
	// StripHeaders names inbound headers removed from every request before it reaches a backend, in addition to
	// the relay's own identity headers and DefaultStripHeaders. Case and '_' versus '-' do not matter; a trailing
	// "*" matches any suffix ("X-Auth-*").
	StripHeaders []string `yaml:"strip_headers"`
	// Routes maps URL path prefixes to backends; the longest matching prefix wins.
	Routes []Route `yaml:"routes"`
	// Log selects the log format and level (used by the command layer through LogConfig.NewLogger).
	Log LogConfig `yaml:"log"`
	// MetricsListen, when set, is the plain-HTTP address serving Prometheus metrics at /metrics.
	MetricsListen string `yaml:"metrics_listen"`
	// MaxConnections limits concurrently open client connections (0 = unlimited); further clients wait in the
	// kernel's accept queue.
	MaxConnections int `yaml:"max_connections"`
	// MaxConnectionsPerAddress limits the idle connections without a verified client certificate (in their TLS
	// handshake, or anonymous between requests) that one source address may hold: a new one closes the address's
	// oldest (default 16). Anonymous connections serving a request or a WebSocket do not count.
	MaxConnectionsPerAddress int `yaml:"max_connections_per_address"`
	// ReservedConnections is the share of max_connections that only clients with a verified certificate may use:
	// connections without one may hold at most max_connections − reserved_connections; the oldest idle one is
	// closed to make room, and an anonymous request beyond the share is answered 503 (default a quarter of
	// max_connections; needs max_connections).
	ReservedConnections int `yaml:"reserved_connections"`
	// Timeouts bound slow clients.
	Timeouts Timeouts `yaml:"timeouts"`
	// ShutdownGrace is how long Shutdown lets relayed sessions drain before closing them.
	ShutdownGrace Duration `yaml:"shutdown_grace"`

	// path is the file LoadConfig read, re-read by Server.Reload; empty for a configuration built in code.
	path string
}

// TLSFiles names the server certificate chain and key files.
type TLSFiles struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// CipherSuites lists the TLS 1.2 cipher suites offered, by IANA name (default DefaultCipherSuites: ECDHE with
	// AES-GCM or ChaCha20-Poly1305). Widen it only for clients that cannot do TLS 1.3 or an AEAD suite.
	CipherSuites []string `yaml:"cipher_suites"`
}

// Timeouts bound the time a client may take before it has sent a request.
type Timeouts struct {
	// Handshake bounds the TLS handshake (default 10s).
	Handshake Duration `yaml:"handshake"`
	// ReadHeader bounds reading the request headers after the handshake (default 10s).
	ReadHeader Duration `yaml:"read_header"`
	// AnonymousIdle bounds how long a connection without a verified client certificate may stay open without a
	// request in progress: after its handshake and between requests (default 5s). Connections with a certificate
	// keep the 2-minute keep-alive.
	AnonymousIdle Duration `yaml:"anonymous_idle"`
}

// LogConfig selects the log output.
type LogConfig struct {
	// Format is "text" (default) or "json".
	Format string `yaml:"format"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `yaml:"level"`
}

// Route is one `routes:` entry: a path prefix, its backend and its access policy.
type Route struct {
	// Path is the URL path prefix, matched on segment boundaries: "/secure" matches "/secure" and "/secure/x"
	// but not "/securex".
	Path string `yaml:"path"`
	// Backend is the ws://, wss://, http:// or https:// URL requests are relayed to. Like nginx's proxy_pass, a
	// backend without a path receives the request path unchanged; a backend with a path ("ws://h:8080/app") has
	// the matched route prefix replaced by that path.
	Backend string `yaml:"backend"`
	// BackendCA is a PEM bundle verifying a wss:// or https:// backend (default: the system roots).
	BackendCA string `yaml:"backend_ca"`
	// RequireClientCert (default true) answers 403 to a request without a verified client certificate.
	// A certificate that is presented is always verified, revocation included, whatever this says.
	RequireClientCert *bool `yaml:"require_client_cert"`
	// AllowCN, AllowOU, AllowEmail and AllowURI restrict the route to certificates whose subject CN, one of whose
	// subject OUs, SAN e-mail addresses or SAN URIs is listed (exact match). Lists left empty do not restrict;
	// non-empty lists must all match.
	AllowCN    []string `yaml:"allow_cn"`
	AllowOU    []string `yaml:"allow_ou"`
	AllowEmail []string `yaml:"allow_email"`
	AllowURI   []string `yaml:"allow_uri"`
	// AllowCIDR restricts the route to client addresses in these prefixes (a bare address means a single host).
	// It is combined with the certificate policy: both must pass.
	AllowCIDR []string `yaml:"allow_cidr"`
	// IdleTimeout closes a relayed WebSocket after this long without a byte in either direction (0 = never),
	// like Apache's ProxyTimeout.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// PreserveHost sends the client's Host header to the backend instead of the backend's host, like Apache's
	// ProxyPreserveHost.
	PreserveHost bool `yaml:"preserve_host"`
	// PingInterval, when set, makes the relay send a WebSocket ping to the client this often (between frames) and
	// close the session if the client sent nothing at all during a whole interval.
	PingInterval Duration `yaml:"ping_interval"`
	// AllowAmbiguousPaths lets request paths through that a backend could resolve differently from the relay: a
	// dot segment with ';' parameters ("/public/..;/secure", which Tomcat, Jetty and Spring read as
	// "/public/../secure") and a double-encoded character ("%252e", decoded once by the relay to "%2e"). Off by
	// default: such requests are answered 400.
	AllowAmbiguousPaths bool `yaml:"allow_ambiguous_paths"`
	// WebSocketOnly answers 426 Upgrade Required to plain HTTP requests. Default: true for ws:// and wss://
	// backends, false for http:// and https:// ones.
	WebSocketOnly *bool `yaml:"websocket_only"`
}

// RequiresClientCert reports the effective require_client_cert setting.
func (r *Route) RequiresClientCert() bool { return r.RequireClientCert == nil || *r.RequireClientCert }

// IsWebSocketOnly reports the effective websocket_only setting.
func (r *Route) IsWebSocketOnly() bool {
	if r.WebSocketOnly != nil {
		return *r.WebSocketOnly
	}
	return strings.HasPrefix(r.Backend, "ws://") || strings.HasPrefix(r.Backend, "wss://")
}

// LoadConfig reads, parses and validates the YAML configuration file at path. Relative file names in it are resolved
// against the file's directory. Server.Reload re-reads the same file.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading relay config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("reading relay config: %w", err)
	}
	cfg, err := ParseConfig(data, filepath.Dir(abs))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.path = abs
	return cfg, nil
}

// ParseConfig parses a YAML configuration, applies defaults, resolves relative file names against baseDir and
// validates the result. Unknown keys are errors that name their line.
func ParseConfig(data []byte, baseDir string) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%w: the configuration is empty", ErrInvalidConfig)
		}
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, yamlMessage(err))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: only one YAML document is allowed", ErrInvalidConfig)
	}
	var p problems
	if len(doc.Content) == 1 {
		checkKeys(doc.Content[0], reflect.TypeOf(Config{}), &p)
	}
	if len(p) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(p...))
	}
	// The strict decoder stays as the safety net for what checkKeys leaves to it (merge keys, wrong scalars).
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var cfg Config
	if err := strict.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, yamlMessage(err))
	}
	cfg.applyDefaults()
	cfg.resolvePaths(baseDir)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// NewSimpleConfig builds the configuration of the flag-driven case (`wsca serve --listen --backend --cert --key
// --ca --crl`): one route "/" to backend that requires a client certificate. The caller may adjust fields (for
// example Routes[0].WebSocketOnly to serve a demo page) before calling Validate or New.
func NewSimpleConfig(listen, backend, certFile, keyFile, clientCAFile, crlFile string) *Config {
	cfg := &Config{
		Listen:   listen,
		TLS:      TLSFiles{Cert: certFile, Key: keyFile},
		ClientCA: clientCAFile,
		CRL:      crlFile,
		Routes:   []Route{{Path: "/", Backend: backend}},
	}
	cfg.applyDefaults()
	return cfg
}

func (c *Config) applyDefaults() {
	if c.VerifyDepth == 0 {
		c.VerifyDepth = DefaultVerifyDepth
	}
	if c.Timeouts.Handshake == 0 {
		c.Timeouts.Handshake = Duration(DefaultHandshakeTimeout)
	}
	if c.Timeouts.ReadHeader == 0 {
		c.Timeouts.ReadHeader = Duration(DefaultReadHeaderTimeout)
	}
	if c.Timeouts.AnonymousIdle == 0 {
		c.Timeouts.AnonymousIdle = Duration(DefaultAnonymousIdle)
	}
	if c.MaxConnectionsPerAddress == 0 {
		c.MaxConnectionsPerAddress = DefaultMaxConnectionsPerAddress
	}
	if c.ReservedConnections == 0 {
		c.ReservedConnections = c.MaxConnections / 4
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = Duration(DefaultShutdownGrace)
	}
}

func (c *Config) resolvePaths(baseDir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
	abs(&c.TLS.Cert)
	abs(&c.TLS.Key)
	abs(&c.ClientCA)
	abs(&c.StateDir)
	if !strings.Contains(c.CRL, "://") { // a URL (Validate refuses other schemes than http and https)
		abs(&c.CRL)
	}
	for i := range c.Routes {
		abs(&c.Routes[i].BackendCA)
	}
}

// NewLogger returns a slog.Logger writing to w in the configured format and level.
func (l LogConfig) NewLogger(w io.Writer) (*slog.Logger, error) {
	lvl, err := parseLevel(l.Level)
	if err != nil {
		return nil, fmt.Errorf("%w: log.level: %w", ErrInvalidConfig, err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch l.Format {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("%w: log.format: %q is not text or json", ErrInvalidConfig, l.Format)
	}
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
}

// yamlMessage turns a yaml.v3 error into one line without the Go package and type names: "yaml: unmarshal
// errors:\n  line 5: cannot unmarshal !!str `lots` into int" becomes "line 5: cannot unmarshal !!str `lots` into int".
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.ReplaceAll(strings.Join(te.Errors, "; "), "relay.", "")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// normalizePrefix drops trailing slashes so that "/secure/" and "/secure" are the same route.
func normalizePrefix(p string) string {
	for len(p) > 1 && strings.HasSuffix(p, "/") {
		p = p[:len(p)-1]
	}
	return p
}
