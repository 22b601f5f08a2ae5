package ca

import (
	"crypto/rand"
	"crypto/x509"
	"errors"
	"net/url"
	"testing"
	"time"
)

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"alice":              "alice",
		"Alice Smith":        "Alice Smith",
		"José":               "José",
		"alice ":             `"alice "`,
		"":                   `""`,
		"ali\u200bce":        `"ali\u200bce"`,
		"\x1b[31mred\x1b[0m": `"\x1b[31mred\x1b[0m"`,
		"\u202eecila":        `"\u202eecila"`,
		"a\u00a0b":           `"a\u00a0b"`,
		"\xff":               `"\xff"`,
	} {
		if got := SafeText(in); got != want {
			t.Errorf("SafeText(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestNameConstraints: the intermediate carries the constraints (critical), Issue refuses names outside
// them, and Go's verifier enforces them on a certificate minted outside Issue.
func TestNameConstraints(t *testing.T) {
	h, err := NewHierarchy(rand.Reader, testNow, HierarchyRequest{Name: "NC", Constraints: NameConstraints{
		EmailDomains: []string{"example.com"}, URIDomains: []string{"example.com"}, DNSDomains: []string{"example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	inter := h.Intermediate.Cert
	if !inter.PermittedDNSDomainsCritical || len(inter.PermittedEmailAddresses) != 1 || len(inter.PermittedURIDomains) != 1 {
		t.Fatalf("intermediate constraints: %+v", inter)
	}
	if len(h.Root.Cert.PermittedDNSDomains) != 0 {
		t.Error("the root is constrained")
	}
	key := mustKey(t, KeyECDSAP256)
	u := func(s string) []*url.URL { p, _ := url.Parse(s); return []*url.URL{p} }
	for _, tc := range []struct {
		req LeafRequest
		ok  bool
	}{
		{LeafRequest{Emails: []string{"alice@example.com"}, URIs: u("spiffe://example.com/alice")}, true},
		{LeafRequest{Emails: []string{"alice@sub.example.com"}}, false},
		{LeafRequest{Emails: []string{"mallory@evil.test"}}, false},
		{LeafRequest{URIs: u("spiffe://evil.test/x")}, false},
		{LeafRequest{Kind: KindServer, DNSNames: []string{"www.example.com"}}, true},
		{LeafRequest{Kind: KindServer, DNSNames: []string{"example.com.evil.test"}}, false},
	} {
		tc.req.Subject.CommonName, tc.req.PublicKey = "x", key.Public()
		_, err := Issue(rand.Reader, testNow, h.Intermediate, tc.req)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrOutsideNameConstraints)) {
			t.Errorf("%+v: %v, want ok=%v", tc.req, err, tc.ok)
		}
	}
	if _, err := NewHierarchy(rand.Reader, testNow, HierarchyRequest{Name: "B", Constraints: NameConstraints{DNSDomains: []string{"a b"}}}); err == nil {
		t.Error("a constraint with a space was accepted")
	}
	// Minted without Issue's check: the verifier refuses it.
	tmpl := &x509.Certificate{SerialNumber: inter.SerialNumber, EmailAddresses: []string{"m@evil.test"},
		NotBefore: testNow, NotAfter: testNow.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leaf, err := sign(rand.Reader, tmpl, inter, key.Public(), h.Intermediate.Key)
	if err != nil {
		t.Fatal(err)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(h.Root.Cert)
	inters.AddCert(inter)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, CurrentTime: testNow.Add(time.Minute),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var cie x509.CertificateInvalidError
	if !errors.As(err, &cie) || cie.Reason != x509.CANotAuthorizedForThisName {
		t.Errorf("verify of a leaf outside the constraints: %v", err)
	}
}

func TestEscapeControls(t *testing.T) {
	for in, want := range map[string]string{
		"CN=relay — ok":   "CN=relay — ok",
		"CN=\x1b[2Jrelay": `CN=\x1b[2Jrelay`,
		"CN=\u202eyaler":  `CN=\u202eyaler`,
		"a\xffb \ufffd":   `a\xffb ` + "\ufffd",
		"line\nbreak":     `line\nbreak`,
	} {
		if got := EscapeControls(in); got != want {
			t.Errorf("EscapeControls(%q) = %q, want %q", in, got, want)
		}
	}
}
