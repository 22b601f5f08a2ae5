package relay

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/testpki"
)

const exampleConfig = `listen: 127.0.0.1:8443
tls: {cert: server.crt, key: server.key}
client_ca: pki/ca.crt
crl: pki/crl.pem
routes:
  - path: /secure
    backend: ws://127.0.0.1:8080     # ws:// or wss:// (with backend_ca for a private backend CA)
    require_client_cert: true        # default true
    allow_cn: [alice, bob]           # optional; also allow_ou, allow_email, allow_uri
    allow_cidr: [192.168.1.0/24]     # optional; combined with the certificate (both must pass)
    idle_timeout: 10m                # like ProxyTimeout
    preserve_host: true              # like ProxyPreserveHost
  - path: /public
    backend: ws://127.0.0.1:8081
    require_client_cert: false
`

func TestParseConfigExample(t *testing.T) {
	cfg, err := ParseConfig([]byte(exampleConfig), "/etc/wsca")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientCA != "/etc/wsca/pki/ca.crt" || cfg.TLS.Cert != "/etc/wsca/server.crt" || cfg.CRL != "/etc/wsca/pki/crl.pem" {
		t.Errorf("paths not resolved against the config directory: %+v", cfg)
	}
	if cfg.VerifyDepth != 2 || cfg.Timeouts.Handshake.D() != DefaultHandshakeTimeout || cfg.ShutdownGrace.D() != DefaultShutdownGrace {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	sec, pub := cfg.Routes[0], cfg.Routes[1]
	if !sec.RequiresClientCert() || pub.RequiresClientCert() {
		t.Error("require_client_cert wrong")
	}
	if !sec.IsWebSocketOnly() || sec.IdleTimeout.D() != 10*time.Minute || !sec.PreserveHost {
		t.Errorf("route settings wrong: %+v", sec)
	}
	if len(sec.AllowCN) != 2 || sec.AllowCIDR[0] != "192.168.1.0/24" {
		t.Errorf("allow lists wrong: %+v", sec)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := "listen: 127.0.0.1:8443\ntls: {cert: a, key: b}\nclient_ca: c\ncrl: d\n"
	route := "routes:\n  - path: /x\n    backend: ws://127.0.0.1:1\n"
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", base + "bogus: 1\n" + route, []string{"line 5", "bogus"}},
		{"unknown route key", base + route + "    alow_cn: [a]\n", []string{"line 8", "alow_cn"}},
		{"unknown nested key", "listen: 127.0.0.1:1\ntls: {cert: a, key: b, pass: c}\n", []string{"line 2", "pass"}},
		{"empty", "", []string{"empty"}},
		{"two documents", base + route + "---\nlisten: x\n", []string{"one YAML document"}},
		{"no routes", base, []string{"at least one route"}},
		{"missing crl", "listen: 127.0.0.1:1\ntls: {cert: a, key: b}\nclient_ca: c\n" + route, []string{"crl: missing"}},
		{"bad listen", "listen: 8443\ntls: {cert: a, key: b}\nclient_ca: c\ncrl: d\n" + route, []string{"listen", "host:port"}},
		{"relative path", base + "routes:\n  - path: x\n    backend: ws://h:1\n", []string{"must start with /"}},
		{"duplicate path", base + route + "  - path: /x/\n    backend: ws://h:2\n", []string{"duplicate"}},
		{"bad scheme", base + "routes:\n  - path: /x\n    backend: ftp://h\n", []string{"scheme"}},
		{"no host", base + "routes:\n  - path: /x\n    backend: ws://\n", []string{"missing host"}},
		{"bad cidr", base + route + "    allow_cidr: [10.0.0.0/33]\n", []string{"allow_cidr", "10.0.0.0/33"}},
		{"duration without unit", base + route + "    idle_timeout: 600\n", []string{"line 8", "duration"}},
		{"negative duration", base + "crl_grace: -1h\n" + route, []string{"negative"}},
		{"depth too large", base + "verify_depth: 20\n" + route, []string{"verify_depth"}},
		{"policy without cert", base + route + "    require_client_cert: false\n    allow_cn: [a]\n", []string{"need require_client_cert"}},
		{"bad log format", base + "log: {format: xml}\n" + route, []string{"log.format"}},
		{"wrong type", base + "max_connections: lots\n" + route, []string{"line 5"}},
		// Issue 14 §3: the user's words, not Go's ("field alow_ou not found in type Route", "into []string").
		{"typo with suggestion", base + route + "    alow_ou: [a]\n", []string{"unknown key alow_ou at line 8; did you mean allow_ou?"}},
		{"typo at top level", base + "verfy_depth: 2\n" + route, []string{"unknown key verfy_depth at line 5; did you mean verify_depth?"}},
		{"typo in flow map", "listen: 127.0.0.1:1\ntls: {cert: a, kye: b}\n", []string{"unknown key kye at line 2; did you mean key?"}},
		{"unknown key far from any", base + "timeouts: {zzzzzzzz: 1s}\n" + route, []string{"unknown key zzzzzzzz at line 5 (known keys here: anonymous_idle, handshake, read_header)"}},
		{"route key at top level", base + "backend: ws://h:1\n" + route, []string{"unknown key backend at line 5; backend belongs under routes:"}},
		{"typo in capitals", base + route + "    Allow_CN: [a]\n", []string{"unknown key Allow_CN at line 8; did you mean allow_cn?"}},
		{"map for a list", base + "routes:\n  path: /x\n  backend: ws://h:1\n", []string{`line 6: routes is a list: start each entry with "- "`}},
		{"value for a section", "listen: 127.0.0.1:1\ntls: relay.crt\n", []string{`line 2: tls takes keys (cert, cipher_suites, key), not the value "relay.crt"`}},
		{"scalar for a list", base + route + "    allow_cn: alice\n", []string{"line 8: allow_cn is a list: [alice]"}},
		{"comma scalar for a list", base + "strip_headers: X-A,X-B\n" + route, []string{"line 5: strip_headers is a list: [X-A, X-B]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tt.yaml), "/base")
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("error does not wrap ErrInvalidConfig: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestLoadConfigAndSimpleConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(path, []byte(exampleConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CRL != filepath.Join(dir, "pki/crl.pem") {
		t.Errorf("CRL = %q", cfg.CRL)
	}
	if _, err := LoadConfig(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	s := NewSimpleConfig("127.0.0.1:8443", "ws://127.0.0.1:8080", "s.crt", "s.key", "ca.crt", "crl.pem")
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.VerifyDepth != 2 || len(s.Routes) != 1 || s.Routes[0].Path != "/" || !s.Routes[0].RequiresClientCert() {
		t.Errorf("simple config = %+v", s)
	}
	if _, err := (LogConfig{Format: "json", Level: "debug"}).NewLogger(os.Stderr); err != nil {
		t.Error(err)
	}
	if _, err := (LogConfig{Level: "loud"}).NewLogger(os.Stderr); err == nil {
		t.Error("bad level accepted")
	}
}

func TestRouteMatchAndPath(t *testing.T) {
	m := &material{}
	for _, r := range []Route{{Path: "/", Backend: "ws://h:1"}, {Path: "/secure", Backend: "ws://h:2/app"},
		{Path: "/secure/admin/", Backend: "ws://h:3"}} {
		rt, err := compileRoute(m, &r)
		if err != nil {
			t.Fatal(err)
		}
		m.routes = append(m.routes, rt)
	}
	// longest first, as loadMaterial sorts them
	m.routes[0], m.routes[2] = m.routes[2], m.routes[0]
	tests := []struct{ path, route, out string }{
		{"/secure", "/secure", "/app"},
		{"/secure/x", "/secure", "/app/x"},
		{"/securex", "/", "/securex"},
		{"/secure/admin", "/secure/admin/", "/secure/admin"},
		{"/secure/administrator", "/secure", "/app/administrator"},
		{"/", "/", "/"},
	}
	for _, tt := range tests {
		rt := m.match(tt.path)
		if rt == nil || rt.cfg.Path != tt.route {
			t.Errorf("match(%q) = %v, want %q", tt.path, rt, tt.route)
			continue
		}
		if got := rt.outboundPath(tt.path); got != tt.out {
			t.Errorf("outboundPath(%q) = %q, want %q", tt.path, got, tt.out)
		}
	}
}

func TestFrameTracker(t *testing.T) {
	frame := func(n int, masked bool) []byte {
		var h []byte
		switch {
		case n < 126:
			h = []byte{0x82, byte(n)}
		case n < 1<<16:
			h = []byte{0x82, 126, byte(n >> 8), byte(n)}
		default:
			h = []byte{0x82, 127, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
		}
		if masked {
			h[1] |= 0x80
			h = append(h, 1, 2, 3, 4)
		}
		return append(h, make([]byte, n)...)
	}
	var stream []byte
	for _, n := range []int{0, 5, 125, 126, 300, 70000} {
		stream = append(stream, frame(n, n == 300)...)
	}
	for _, chunk := range []int{1, 2, 3, 7, 1000, len(stream)} {
		var f frameTracker
		for i := 0; i < len(stream); i += chunk {
			f.feed(stream[i:min(i+chunk, len(stream))])
		}
		if !f.atBoundary() {
			t.Errorf("chunk %d: not at a boundary after whole frames", chunk)
		}
		f.feed(frame(10, false)[:5])
		if f.atBoundary() {
			t.Errorf("chunk %d: at a boundary inside a frame", chunk)
		}
	}
	var f frameTracker
	f.feed([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0})
	if f.atBoundary() || !f.broken {
		t.Error("a 64-bit length with the top bit set must stop tracking")
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(exampleConfig))
	f.Add([]byte("listen: 127.0.0.1:1\ntls: {cert: a, key: b}\nclient_ca: c\ncrl: d\nroutes: [{path: /, backend: 'wss://h'}]\n"))
	f.Add([]byte("routes:\n  - path: /x\n    allow_cidr: [::1, 10.0.0.0/8]\n    idle_timeout: 1h\n"))
	f.Add([]byte("listen: [1, 2]\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data, "/base")
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("ParseConfig returned a config that fails Validate: %v", err)
		}
		if len(cfg.Routes) == 0 || cfg.VerifyDepth < 1 {
			t.Fatalf("accepted config without routes or depth: %+v", cfg)
		}
		for _, r := range cfg.Routes {
			if _, err := compileRoute(&material{digests: map[string][32]byte{}}, &r); err != nil && r.BackendCA == "" {
				t.Fatalf("valid route does not compile: %v", err)
			}
		}
	})
}

// TestVerifyCache: a cached verification is still subject to the validity period and to the CRLs, and a cache
// entry never outlives its generation.
func TestVerifyCache(t *testing.T) {
	p := getPKI(t)
	dir := t.TempDir()
	for name, data := range map[string][]byte{"s.crt": p.serverChainPEM, "s.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": p.crlPEM(t)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := NewSimpleConfig("127.0.0.1:0", "ws://127.0.0.1:1", filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"),
		filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem"))
	m, err := loadMaterial(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	leafOnly := []*x509.Certificate{p.alice.Leaf}
	if _, rej := m.verifyClient(leafOnly, now); rej != nil {
		t.Fatal(rej)
	}
	if m.vcacheLen.Load() != 1 {
		t.Fatalf("cache holds %d entries, want 1", m.vcacheLen.Load())
	}
	chains, rej := m.verifyClient(leafOnly, now)
	if rej != nil || len(chains) != 1 || len(chains[0]) != 3 || chains[0][0] != p.alice.Leaf {
		t.Fatalf("cached verify = %v, %v", chains, rej)
	}
	if _, rej := m.verifyClient(leafOnly, p.alice.Leaf.NotAfter.Add(time.Second)); rej == nil || rej.Reason != ReasonExpired {
		t.Fatalf("cached verify after NotAfter = %v, want expired", rej)
	}
	// A new generation (as after a reload revoking alice) starts with an empty cache and the new CRL.
	if err := os.WriteFile(filepath.Join(dir, "crl.pem"), p.crlPEM(t, p.alice.Leaf), 0o600); err != nil {
		t.Fatal(err)
	}
	m2, err := loadMaterial(cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, rej := m2.verifyClient(leafOnly, now); rej == nil || rej.Reason != ReasonRevoked {
		t.Fatalf("verify after revocation = %v, want revoked", rej)
	}
	// Revocation is checked on cache hits too.
	m2.cacheChains(sha256.Sum256(p.alice.Leaf.Raw), chains)
	if _, rej := m2.verifyClient(leafOnly, now); rej == nil || rej.Reason != ReasonRevoked {
		t.Fatalf("cached verify after revocation = %v, want revoked", rej)
	}
}

// TestNewFailsClosed: New refuses to start on any missing or inconsistent file.
func TestNewFailsClosed(t *testing.T) {
	p := getPKI(t)
	good := map[string][]byte{"s.crt": p.serverChainPEM, "s.key": p.serverKeyPEM, "ca.crt": p.caPEM, "crl.pem": p.crlPEM(t)}
	otherKey, err := x509.MarshalPKCS8PrivateKey(p.alice.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	interCRLOnly := p.crlPEM(t)
	interCRLOnly = interCRLOnly[:strings.Index(string(interCRLOnly), "-----END X509 CRL-----")+len("-----END X509 CRL-----\n")]
	tests := []struct {
		name string
		file string
		data []byte // nil: remove the file
		want string
	}{
		{"missing CRL", "crl.pem", nil, "reading CRL file"},
		{"garbage CRL", "crl.pem", []byte("not a CRL"), "CRL file"},
		{"CRL missing for a CA", "crl.pem", interCRLOnly, "no CRL from CA"},
		{"missing CA bundle", "ca.crt", nil, "client CA bundle"},
		{"CA bundle without root", "ca.crt", testpki.PEMCerts(p.inter.Cert), "no self-signed root"},
		{"leaf in CA bundle", "ca.crt", testpki.PEMCerts(p.alice.Leaf, p.root.Cert), "not a CA certificate"},
		{"key does not match", "s.key", pemBlock("PRIVATE KEY", otherKey), "server certificate"},
		{"missing key", "s.key", nil, "server key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, data := range good {
				if name == tt.file {
					data = tt.data
				}
				if data != nil {
					if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg := NewSimpleConfig("127.0.0.1:0", "ws://127.0.0.1:1", filepath.Join(dir, "s.crt"),
				filepath.Join(dir, "s.key"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem"))
			_, err := New(cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestAuthorize(t *testing.T) {
	p := getPKI(t)
	withURI, err := p.inter.Issue(testpki.Leaf{CN: "svc"}, p.inter)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://example.org/svc")
	withURI.Leaf.URIs = []*url.URL{u} // policy reads the parsed certificate only
	peerOf := func(c *x509.Certificate) *peer {
		return &peer{presented: []*x509.Certificate{c}, chains: [][]*x509.Certificate{{c, p.inter.Cert, p.root.Cert}}}
	}
	no := false
	lan := netip.MustParseAddr("192.168.1.7")
	tests := []struct {
		name   string
		route  Route
		peer   *peer
		remote netip.Addr
		want   string
	}{
		{"no policy", Route{}, peerOf(p.bob.Leaf), lan, ""},
		{"cert required", Route{}, nil, lan, ReasonNoCertificate},
		{"cert optional", Route{RequireClientCert: &no}, nil, lan, ""},
		{"cn", Route{AllowCN: []string{"alice"}}, peerOf(p.alice.Leaf), lan, ""},
		{"cn refused", Route{AllowCN: []string{"alice"}}, peerOf(p.bob.Leaf), lan, ReasonCNNotAllowed},
		{"ou", Route{AllowOU: []string{"ops", "eng"}}, peerOf(p.alice.Leaf), lan, ""},
		{"ou refused", Route{AllowOU: []string{"ops"}}, peerOf(p.alice.Leaf), lan, ReasonOUNotAllowed},
		{"email", Route{AllowEmail: []string{"alice@example.com"}}, peerOf(p.alice.Leaf), lan, ""},
		{"email refused", Route{AllowEmail: []string{"alice@example.com"}}, peerOf(p.bob.Leaf), lan, ReasonEmailNotAllowed},
		{"uri", Route{AllowURI: []string{"spiffe://example.org/svc"}}, peerOf(withURI.Leaf), lan, ""},
		{"uri refused", Route{AllowURI: []string{"spiffe://example.org/other"}}, peerOf(withURI.Leaf), lan, ReasonURINotAllowed},
		{"lists are and-ed", Route{AllowCN: []string{"alice"}, AllowOU: []string{"ops"}}, peerOf(p.alice.Leaf), lan, ReasonOUNotAllowed},
		{"cidr", Route{AllowCIDR: []string{"192.168.1.0/24"}}, peerOf(p.alice.Leaf), lan, ""},
		{"cidr refused", Route{AllowCIDR: []string{"10.0.0.0/8"}}, peerOf(p.alice.Leaf), lan, ReasonIPNotAllowed},
		{"cidr before cert", Route{AllowCIDR: []string{"10.0.0.0/8"}}, nil, lan, ReasonIPNotAllowed},
		{"single address", Route{AllowCIDR: []string{"::1"}}, peerOf(p.alice.Leaf), netip.MustParseAddr("::1"), ""},
		{"ipv6 refused", Route{AllowCIDR: []string{"192.168.1.0/24"}}, peerOf(p.alice.Leaf), netip.MustParseAddr("::1"), ReasonIPNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.route.Path, tt.route.Backend = "/x", "ws://127.0.0.1:1"
			rt, err := compileRoute(&material{digests: map[string][32]byte{}}, &tt.route)
			if err != nil {
				t.Fatal(err)
			}
			if got, detail := rt.authorize(tt.peer, tt.remote); got != tt.want {
				t.Errorf("authorize = %q (%s), want %q", got, detail, tt.want)
			}
		})
	}
}

func TestIdentityHeaders(t *testing.T) {
	h := http.Header{"X-Client-Cert-Cn": {"forged"}, "X_client_cert_serial": {"1"}, "Ssl_Client_S_Dn": {"x"},
		"Forwarded": {"for=1.2.3.4"}, "X-Real-Ip": {"1.2.3.4"}, "Keep": {"me"}}
	setIdentity(h, nil, netip.MustParseAddr("127.0.0.1"), "relay:8443", newHeaderStripper(nil))
	want := http.Header{"Keep": {"me"}, "X-Client-Verify": {"NONE"}, "X-Forwarded-For": {"127.0.0.1"},
		"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"relay:8443"}}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("headers = %v, want %v", h, want)
	}
	if got := encodeCN("Zoë\n%, x "); got != "Zo%C3%AB%0A%25%2C x%20" {
		t.Errorf("encodeCN = %q", got)
	}
}

// FuzzFrameTracker checks the streaming frame tracker against a whole-buffer parse, whatever the chunking.
func FuzzFrameTracker(f *testing.F) {
	f.Add([]byte{0x81, 0x02, 'h', 'i', 0x88, 0x00}, uint8(1))
	f.Add([]byte{0x82, 126, 0x00, 0x03, 1, 2, 3, 0x89, 0x80, 1, 2, 3, 4}, uint8(3))
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1}, uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		// Reference: walk whole frames; boundary means the data ends exactly after a frame.
		boundary, broken := true, false
		for i := 0; i < len(data); {
			if len(data)-i < 2 {
				boundary = false
				break
			}
			hl, l := 2, uint64(data[i+1]&0x7f)
			switch l {
			case 126:
				hl += 2
			case 127:
				hl += 8
			}
			if data[i+1]&0x80 != 0 {
				hl += 4
			}
			if len(data)-i < hl {
				boundary = false
				break
			}
			switch l {
			case 126:
				l = uint64(data[i+2])<<8 | uint64(data[i+3])
			case 127:
				l = 0
				for _, b := range data[i+2 : i+10] {
					l = l<<8 | uint64(b)
				}
				if l>>63 != 0 {
					broken = true
				}
			}
			if broken {
				break
			}
			if uint64(len(data)-i-hl) < l {
				boundary = false
				break
			}
			i += hl + int(l)
		}
		var ft frameTracker
		step := int(chunk)%16 + 1
		for i := 0; i < len(data); i += step {
			ft.feed(data[i:min(i+step, len(data))])
		}
		if want := boundary && !broken; ft.atBoundary() != want {
			t.Fatalf("atBoundary = %v, want %v (broken %v)", ft.atBoundary(), want, broken)
		}
	})
}
