package ca

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseKeyType(t *testing.T) {
	tests := []struct {
		in      string
		want    KeyType
		wantErr bool
	}{
		{"", KeyECDSAP256, false},
		{"ecdsa-p256", KeyECDSAP256, false},
		{" ECDSA-P384 ", KeyECDSAP384, false},
		{"rsa-2048", KeyRSA2048, false},
		{"rsa-3072", KeyRSA3072, false},
		{"rsa-4096", KeyRSA4096, false},
		{"ed25519", KeyEd25519, false},
		{"rsa-1024", "", true},
		{"p256", "", true},
	}
	for _, tt := range tests {
		got, err := ParseKeyType(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseKeyType(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096, ed25519") {
			t.Errorf("ParseKeyType(%q) error %q does not list the valid names", tt.in, err)
		}
	}
	if _, err := GenerateKey(rand.Reader, "dsa-1024"); err == nil {
		t.Error("GenerateKey(dsa-1024) succeeded")
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestNewSerial(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := NewSerial(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if s.Sign() <= 0 || s.BitLen() > 127 {
			t.Fatalf("serial %x: want positive and at most 127 bits", s)
		}
		if seen[s.String()] {
			t.Fatalf("duplicate serial %x", s)
		}
		seen[s.String()] = true
	}
	// An all-0xff source must still give a positive serial (top bit cleared).
	s, err := NewSerial(bytes.NewReader(bytes.Repeat([]byte{0xff}, 16)))
	if err != nil || s.Sign() <= 0 || s.BitLen() != 127 {
		t.Errorf("NewSerial(0xff...) = %x, %v; want 127-bit positive", s, err)
	}
	if _, err := NewSerial(zeroReader{}); err == nil {
		t.Error("NewSerial(zero source) succeeded; zero serials are not allowed")
	}
	if _, err := NewSerial(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
		t.Errorf("NewSerial(empty source) = %v, want EOF", err)
	}
}

func TestCheckPublicKey(t *testing.T) {
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pub  any
		ok   bool
	}{
		{"p256", mustKey(t, KeyECDSAP256).Public(), true},
		{"p384", mustKey(t, KeyECDSAP384).Public(), true},
		{"rsa2048", mustKey(t, KeyRSA2048).Public(), true},
		{"ed25519", mustKey(t, KeyEd25519).Public(), true},
		{"p224", p224.Public(), false},
		{"rsa1024", rsa1024.Public(), false},
		{"even exponent", &rsa.PublicKey{N: mustKey(t, KeyRSA2048).Public().(*rsa.PublicKey).N, E: 4}, false},
		{"nil", nil, false},
		{"string", "key", false},
	}
	for _, tt := range tests {
		err := CheckPublicKey(tt.pub)
		if tt.ok && err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrWeakKey) {
			t.Errorf("%s: got %v, want ErrWeakKey", tt.name, err)
		}
	}
}

// TestHierarchyAndIssue checks every extension of the profile for every
// key type, for the CA certificates and a client and a server leaf.
func TestHierarchyAndIssue(t *testing.T) {
	for _, kt := range KeyTypes() {
		t.Run(string(kt), func(t *testing.T) {
			if testing.Short() && kt == KeyRSA4096 {
				t.Skip("slow key generation in -short mode")
			}
			now := testNow
			h := newTestHierarchy(t, kt, now)
			root, inter := h.Root.Cert, h.Intermediate.Cert

			// Root.
			if root.Subject.CommonName != "Test Corp Root CA" || !slices.Equal(root.Subject.Organization, []string{"Test Org"}) ||
				!slices.Equal(root.Subject.Country, []string{"DE"}) {
				t.Errorf("root subject = %v", root.Subject)
			}
			checkCA(t, "root", root, h.Root.Key.Public())
			if root.MaxPathLen != 1 {
				t.Errorf("root MaxPathLen = %d, want 1", root.MaxPathLen)
			}
			if err := root.CheckSignatureFrom(root); err != nil {
				t.Errorf("root not self-signed: %v", err)
			}
			if !root.NotAfter.Equal(now.Add(DefaultRootValidity)) {
				t.Errorf("root NotAfter = %v", root.NotAfter)
			}

			// Intermediate.
			if inter.Subject.CommonName != "Test Corp Intermediate CA" {
				t.Errorf("intermediate CN = %q", inter.Subject.CommonName)
			}
			checkCA(t, "intermediate", inter, h.Intermediate.Key.Public())
			if inter.MaxPathLen != 0 || !inter.MaxPathLenZero {
				t.Errorf("intermediate MaxPathLen = %d (zero=%v), want 0", inter.MaxPathLen, inter.MaxPathLenZero)
			}
			if !bytes.Equal(inter.AuthorityKeyId, root.SubjectKeyId) {
				t.Errorf("intermediate AKI %x != root SKI %x", inter.AuthorityKeyId, root.SubjectKeyId)
			}
			if err := inter.CheckSignatureFrom(root); err != nil {
				t.Errorf("intermediate not signed by root: %v", err)
			}
			if !inter.NotAfter.Equal(now.Add(DefaultIntermediateValidity)) || inter.NotAfter.After(root.NotAfter) {
				t.Errorf("intermediate NotAfter = %v (root %v)", inter.NotAfter, root.NotAfter)
			}

			// Leaves.
			leafKey := mustKey(t, kt)
			_, isRSA := leafKey.Public().(*rsa.PublicKey)
			roots, inters := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root)
			inters.AddCert(inter)

			for _, tc := range []struct {
				kind    Kind
				eku     x509.ExtKeyUsage
				wrongEK x509.ExtKeyUsage
			}{
				{KindClient, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
				{KindServer, x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			} {
				crl := "http://ca.example.com/crl.pem"
				req := LeafRequest{
					Kind:      tc.kind,
					Subject:   pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"dev"}},
					Emails:    []string{"alice@example.com"},
					URIs:      []*url.URL{{Scheme: "spiffe", Host: "example.com", Path: "/alice"}},
					DNSNames:  []string{"alice.example.com"},
					IPs:       []net.IP{net.IPv4(127, 0, 0, 1)},
					Validity:  90 * 24 * time.Hour,
					CRLURLs:   []string{crl},
					PublicKey: leafKey.Public(),
				}
				leaf, err := Issue(rand.Reader, now, h.Intermediate, req)
				if err != nil {
					t.Fatalf("Issue(%s): %v", tc.kind, err)
				}
				wantKU := x509.KeyUsageDigitalSignature
				if isRSA && tc.kind == KindServer {
					// keyEncipherment only for RSA servers: RFC 5280 4.2.1.12.
					wantKU |= x509.KeyUsageKeyEncipherment
				}
				if leaf.KeyUsage != wantKU {
					t.Errorf("%s KeyUsage = %b, want %b", tc.kind, leaf.KeyUsage, wantKU)
				}
				if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{tc.eku}) || len(leaf.UnknownExtKeyUsage) != 0 {
					t.Errorf("%s ExtKeyUsage = %v (+%v), want exactly [%v]", tc.kind, leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage, tc.eku)
				}
				if !leaf.BasicConstraintsValid || leaf.IsCA {
					t.Errorf("%s basicConstraints valid=%v CA=%v, want CA:FALSE", tc.kind, leaf.BasicConstraintsValid, leaf.IsCA)
				}
				wantSKI, _ := subjectKeyID(leafKey.Public())
				if !bytes.Equal(leaf.SubjectKeyId, wantSKI) || len(leaf.SubjectKeyId) != 20 {
					t.Errorf("%s SKI = %x, want %x", tc.kind, leaf.SubjectKeyId, wantSKI)
				}
				if !bytes.Equal(leaf.AuthorityKeyId, inter.SubjectKeyId) {
					t.Errorf("%s AKI %x != intermediate SKI %x", tc.kind, leaf.AuthorityKeyId, inter.SubjectKeyId)
				}
				if leaf.SerialNumber.Sign() <= 0 || len(leaf.SerialNumber.Bytes()) > 16 {
					t.Errorf("%s serial %x: want positive, at most 16 bytes (20 octets DER)", tc.kind, leaf.SerialNumber)
				}
				if !leaf.NotBefore.Equal(now.Add(-5*time.Minute)) || !leaf.NotAfter.Equal(now.Add(req.Validity)) {
					t.Errorf("%s validity %v..%v", tc.kind, leaf.NotBefore, leaf.NotAfter)
				}
				if !slices.Equal(leaf.CRLDistributionPoints, []string{crl}) || !slices.Equal(leaf.EmailAddresses, req.Emails) ||
					!slices.Equal(leaf.DNSNames, req.DNSNames) || len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://example.com/alice" ||
					len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(req.IPs[0]) {
					t.Errorf("%s SANs/CRL DP wrong: %v %v %v %v %v", tc.kind, leaf.EmailAddresses, leaf.DNSNames, leaf.URIs, leaf.IPAddresses, leaf.CRLDistributionPoints)
				}
				opts := x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{tc.eku}}
				if _, err := leaf.Verify(opts); err != nil {
					t.Errorf("%s Verify(%v): %v", tc.kind, tc.eku, err)
				}
				opts.KeyUsages = []x509.ExtKeyUsage{tc.wrongEK}
				if _, err := leaf.Verify(opts); err == nil {
					t.Errorf("%s Verify(%v) succeeded; EKU must be exclusive", tc.kind, tc.wrongEK)
				}
			}
		})
	}
}

func checkCA(t *testing.T, what string, c *x509.Certificate, pub any) {
	t.Helper()
	if !c.BasicConstraintsValid || !c.IsCA {
		t.Errorf("%s: not a CA", what)
	}
	if want := x509.KeyUsageCertSign | x509.KeyUsageCRLSign; c.KeyUsage&want != want {
		t.Errorf("%s KeyUsage = %b lacks CertSign|CRLSign", what, c.KeyUsage)
	}
	if len(c.ExtKeyUsage) != 0 {
		t.Errorf("%s has EKU %v, want none", what, c.ExtKeyUsage)
	}
	ski, err := subjectKeyID(pub)
	if err != nil || len(c.SubjectKeyId) != 20 || !bytes.Equal(c.SubjectKeyId, ski) {
		t.Errorf("%s SKI = %x, want %x (%v)", what, c.SubjectKeyId, ski, err)
	}
	if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 127 {
		t.Errorf("%s serial %x", what, c.SerialNumber)
	}
	if !c.NotBefore.Equal(testNow.Add(-Backdate)) {
		t.Errorf("%s NotBefore = %v, want now-5m", what, c.NotBefore)
	}
	if !publicKeyEqual(pub, c.PublicKey) {
		t.Errorf("%s public key mismatch", what)
	}
}

func TestNewHierarchyErrors(t *testing.T) {
	tests := []struct {
		name string
		req  HierarchyRequest
		is   error
	}{
		{"empty name", HierarchyRequest{Name: " "}, nil},
		{"control char", HierarchyRequest{Name: "Evil\nCorp"}, nil},
		{"bad key type", HierarchyRequest{Name: "X", KeyType: "dsa"}, nil},
		{"negative", HierarchyRequest{Name: "X", RootValidity: -time.Hour}, nil},
		{"intermediate outlives root", HierarchyRequest{Name: "X", RootValidity: 24 * time.Hour, IntermediateValidity: 48 * time.Hour}, ErrOutlivesIssuer},
	}
	for _, tt := range tests {
		_, err := NewHierarchy(rand.Reader, testNow, tt.req)
		if err == nil {
			t.Errorf("%s: NewHierarchy succeeded", tt.name)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.is)
		}
	}
	// Custom validities are honoured.
	h, err := NewHierarchy(rand.Reader, testNow, HierarchyRequest{Name: "X", RootValidity: 48 * time.Hour, IntermediateValidity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Root.Cert.NotAfter.Equal(testNow.Add(48*time.Hour)) || !h.Intermediate.Cert.NotAfter.Equal(testNow.Add(24*time.Hour)) {
		t.Errorf("validities %v / %v", h.Root.Cert.NotAfter, h.Intermediate.Cert.NotAfter)
	}
	if len(h.Root.Cert.Subject.Organization) != 0 || len(h.Root.Cert.Subject.Country) != 0 {
		t.Errorf("empty O/C should be omitted: %v", h.Root.Cert.Subject)
	}
}

func TestIssueErrors(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	leafKey := mustKey(t, KeyECDSAP256)
	okReq := LeafRequest{Subject: pkix.Name{CommonName: "bob"}, Validity: 24 * time.Hour, PublicKey: leafKey.Public()}
	leaf, err := Issue(rand.Reader, testNow, h.Intermediate, okReq)
	if err != nil {
		t.Fatal(err)
	}
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(*LeafRequest)) LeafRequest { r := okReq; f(&r); return r }

	tests := []struct {
		name   string
		issuer Authority
		req    LeafRequest
		is     error
		msg    string
	}{
		{"outlives issuer", h.Intermediate, with(func(r *LeafRequest) { r.Validity = 6 * 365 * 24 * time.Hour }), ErrOutlivesIssuer, "365 days after issuer \"Test Corp Intermediate CA\" (expires 2031-03-13T15:09:26Z): certificate would outlive its issuer"},
		{"no signing key", Authority{Cert: h.Intermediate.Cert}, okReq, ErrNoSigningKey, "Test Corp Intermediate CA"},
		{"issuer not CA", Authority{Cert: leaf, Key: leafKey}, okReq, ErrNotCA, ""},
		{"wrong issuer key", Authority{Cert: h.Intermediate.Cert, Key: h.Root.Key}, okReq, ErrKeyMismatch, ""},
		{"no issuer cert", Authority{Key: h.Root.Key}, okReq, nil, "issuer certificate is missing"},
		{"empty CN", h.Intermediate, with(func(r *LeafRequest) { r.Subject.CommonName = "" }), nil, "common name is empty"},
		{"control char CN", h.Intermediate, with(func(r *LeafRequest) { r.Subject.CommonName = "bob\x1b[31m" }), nil, "control character"},
		{"control char OU", h.Intermediate, with(func(r *LeafRequest) { r.Subject.OrganizationalUnit = []string{"a\tb"} }), nil, "control character"},
		{"server without SAN", h.Intermediate, with(func(r *LeafRequest) { r.Kind = KindServer }), nil, "DNS name or IP"},
		{"unknown kind", h.Intermediate, with(func(r *LeafRequest) { r.Kind = KindRoot }), nil, "unknown certificate kind"},
		{"weak key", h.Intermediate, with(func(r *LeafRequest) { r.PublicKey = rsa1024.Public() }), ErrWeakKey, ""},
		{"no key", h.Intermediate, with(func(r *LeafRequest) { r.PublicKey = nil }), nil, "public key is missing"},
		{"negative validity", h.Intermediate, with(func(r *LeafRequest) { r.Validity = -time.Hour }), nil, "negative"},
		{"bad CRL URL", h.Intermediate, with(func(r *LeafRequest) { r.CRLURLs = []string{"file:///etc/passwd"} }), nil, "CRL URL"},
		{"bad email", h.Intermediate, with(func(r *LeafRequest) { r.Emails = []string{"not-an-email"} }), nil, "email"},
		{"bad DNS", h.Intermediate, with(func(r *LeafRequest) { r.DNSNames = []string{"a b"} }), nil, "DNS"},
		{"nil URI", h.Intermediate, with(func(r *LeafRequest) { r.URIs = []*url.URL{nil} }), nil, "URI"},
	}
	for _, tt := range tests {
		_, err := Issue(rand.Reader, testNow, tt.issuer, tt.req)
		if err == nil {
			t.Errorf("%s: Issue succeeded", tt.name)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.is)
		}
		if !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: error %q does not mention %q", tt.name, err, tt.msg)
		}
	}

	// Exactly up to the issuer's NotAfter is allowed; the zero validity
	// means DefaultLeafValidity.
	exact := with(func(r *LeafRequest) { r.Validity = h.Intermediate.Cert.NotAfter.Sub(testNow) })
	if _, err := Issue(rand.Reader, testNow, h.Intermediate, exact); err != nil {
		t.Errorf("validity up to issuer NotAfter: %v", err)
	}
	def, err := Issue(rand.Reader, testNow, h.Intermediate, with(func(r *LeafRequest) { r.Validity = 0 }))
	if err != nil || !def.NotAfter.Equal(testNow.Add(DefaultLeafValidity)) {
		t.Errorf("default validity: %v, %v", err, def)
	}
	// A leaf never starts before its issuer, even with a clock running
	// behind the one that created the CA.
	early, err := Issue(rand.Reader, testNow.Add(-time.Minute), h.Intermediate, okReq)
	if err != nil || !early.NotBefore.Equal(h.Intermediate.Cert.NotBefore) {
		t.Errorf("leaf issued before issuer NotBefore+backdate: %v, NotBefore %v", err, early.NotBefore)
	}
	// The root can sign leaves too (a two-level deployment), and a server
	// certificate with only an IP SAN is fine.
	srv := with(func(r *LeafRequest) { r.Kind = KindServer; r.IPs = []net.IP{net.IPv6loopback} })
	if _, err := Issue(rand.Reader, testNow, h.Root, srv); err != nil {
		t.Errorf("server cert with IP SAN from root: %v", err)
	}
}

// TestIssueOutlivesIssuerMaxDays: the error says how long a validity still fits, in data rather than in a flag
// name (cmd/wsca turns it into "use --days 1825 or less").
func TestIssueOutlivesIssuerMaxDays(t *testing.T) {
	h := newTestHierarchy(t, KeyECDSAP256, testNow)
	req := LeafRequest{Subject: pkix.Name{CommonName: "bob"}, Validity: 6 * 365 * 24 * time.Hour, PublicKey: mustKey(t, KeyECDSAP256).Public()}
	_, err := Issue(rand.Reader, testNow, h.Intermediate, req)
	var oe *OutlivesIssuerError
	if !errors.As(err, &oe) || oe.MaxDays != 1825 || !errors.Is(err, ErrOutlivesIssuer) || strings.Contains(err.Error(), "--") {
		t.Fatalf("error %v, want an *OutlivesIssuerError with MaxDays 1825 and no flag name", err)
	}
	if !strings.Contains((&OutlivesIssuerError{}).Error(), "renew the issuing CA first") {
		t.Error("no validity fits: the error must say to renew the issuer")
	}
}
