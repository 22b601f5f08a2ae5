package cadir

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// testDir is a fresh CA directory with unencrypted keys.
func testDir(t testing.TB) *Dir {
	t.Helper()
	d := &Dir{Path: t.TempDir() + "/pki", Rand: rand.Reader, Now: time.Now, User: "test", LockTimeout: time.Second}
	if _, err := d.Init(InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Test"}}); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCaseTwinWarning(t *testing.T) {
	d := testDir(t)
	out := t.TempDir()
	if _, err := d.Issue(IssueRequest{Name: "alice", OutDir: out}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Issue(IssueRequest{Name: "ALICE", OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `"alice"`) {
		t.Errorf("warnings = %q, want one naming alice", res.Warnings)
	}
	// A full-width twin folds to the same key too.
	res, err = d.Issue(IssueRequest{Name: "ａlice", OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 {
		t.Errorf("full-width twin: warnings = %q", res.Warnings)
	}
	// A revoked twin is not valid: no warning.
	if _, err := d.Revoke(RevokeRequest{Target: "alice", Reason: store.Reason(0)}); err != nil {
		t.Fatal(err)
	}
	res, err = d.Issue(IssueRequest{Name: "Alice", OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if w := strings.Join(res.Warnings, " "); strings.Contains(w, `"alice"`) {
		t.Errorf("warned about a revoked twin: %q", w)
	}
}

func TestRenewCarriesIdentity(t *testing.T) {
	d := testDir(t)
	out := t.TempDir()
	first, err := d.Issue(IssueRequest{Name: "alice", OU: "eng", Organization: "Example", Emails: []string{"alice@example.com"},
		URIs: []string{"spiffe://example.com/alice"}, KeyType: ca.KeyRSA2048, OutDir: out, P12: true})
	if err != nil {
		t.Fatal(err)
	}
	res, err := d.Issue(IssueRequest{Name: "alice", Renew: true, OutDir: out, Emails: []string{"a2@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(res.Record.DER)
	if err != nil {
		t.Fatal(err)
	}
	if got := ca.CertIdentity(cert); !slices.Equal(got, []string{"O=Example", "OU=eng", "CN=alice", "email:a2@example.com", "uri:spiffe://example.com/alice"}) {
		t.Errorf("renewed identity = %q", got)
	}
	if kt, _ := ca.KeyTypeOf(cert.PublicKey); kt != ca.KeyRSA2048 || cert.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("renewed key type %s, key usage %b", kt, cert.KeyUsage)
	}
	if res.Record.Renews == nil || res.Record.Renews.Cmp(first.Record.Serial) != 0 || len(res.Archived) != 3 {
		t.Errorf("renews %v archived %v", res.Record.Renews, res.Archived)
	}
	recs, err := d.Find("alice")
	if err != nil {
		t.Fatal(err)
	}
	rn := RenewalOf(res.Record, recs)
	if !slices.Contains(rn.Kept, "OU=eng") || !slices.Contains(rn.Kept, "key rsa-2048") ||
		!slices.Equal(rn.Added, []string{"email:a2@example.com"}) || !slices.Equal(rn.Dropped, []string{"email:alice@example.com"}) {
		t.Errorf("RenewalOf = %+v", rn)
	}
	if back := RenewalOf(first.Record, recs); len(back.RenewedBy) != 1 {
		t.Errorf("the first certificate is renewed by %v", back.RenewedBy)
	}
	// A server is renewed as a server, with its names.
	if _, err := d.Issue(IssueRequest{Name: "web", Kind: ca.KindServer, DNSNames: []string{"web.example.com"}, OutDir: out}); err != nil {
		t.Fatal(err)
	}
	res, err = d.Issue(IssueRequest{Name: "web", Renew: true, OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Kind != ca.KindServer {
		t.Errorf("renewed server kind %q", res.Record.Kind)
	}
}

func TestServerNamesOnlyForServers(t *testing.T) {
	d := testDir(t)
	_, err := d.Issue(IssueRequest{Name: "bob", DNSNames: []string{"bob.example.com"}, OutDir: t.TempDir()})
	if !errors.Is(err, ErrServerNames) {
		t.Errorf("client with a DNS name: %v, want ErrServerNames", err)
	}
}

func TestNameWarnings(t *testing.T) {
	recs := []store.Record{{Serial: big.NewInt(1), Name: "alice"}, {Serial: big.NewInt(2), Name: "ali\u200bce"}, {Serial: big.NewInt(3), Name: "bob "}}
	w := nameWarnings(recs)
	if len(w) != 2 || !strings.Contains(w[0], `"ali\u200bce"`) || !strings.Contains(w[1], `"bob "`) {
		t.Errorf("nameWarnings = %q", w)
	}
}

// FuzzValidateName: whatever ValidateName accepts prints as itself, is NFC, and is a usable file name.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"alice", "Alice Smith", "José", "jose\u0301", "ali\u200bce", " alice", "\x1b[31m", "a/b", "李"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) != nil {
			return
		}
		if ca.SafeText(name) != name || !norm.NFC.IsNormalString(name) || !utf8.ValidString(name) ||
			strings.ContainsAny(name, "/\\") || strings.TrimSpace(name) != name {
			t.Fatalf("ValidateName accepted %q", name)
		}
	})
}

// FuzzSignSubject signs CSRs whose subject and names are fuzzed, against a real CA directory: a refused
// CSR records nothing, and a signed one carries only its common name (ValidateName-clean), never the
// requested OU, O, e-mail or URI.
func FuzzSignSubject(f *testing.F) {
	d := testDir(f)
	key, err := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("carol", "ops", "Admins", "alice@example.com", "spiffe://example.com/alice")
	f.Add("ali\u200bce", "", "", "", "")
	f.Add("eve ", "eng\x1b[0m", "O", "x@y", "urn:x")
	f.Add("", "eng", "", "", "")
	n := 0
	f.Fuzz(func(t *testing.T, cn, ou, org, email, uri string) {
		tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}
		if ou != "" {
			tmpl.Subject.OrganizationalUnit = []string{ou}
		}
		if org != "" {
			tmpl.Subject.Organization = []string{org}
		}
		if email != "" {
			tmpl.EmailAddresses = []string{email}
		}
		if u, err := url.Parse(uri); err == nil && uri != "" {
			tmpl.URIs = []*url.URL{u}
		}
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			return
		}
		before := countRecords(t, d)
		res, err := d.Sign(SignRequest{CSR: der, Renew: true})
		after := countRecords(t, d)
		if err != nil {
			if after != before {
				t.Fatalf("refused CSR (%v) changed the records: %d -> %d", err, before, after)
			}
			return
		}
		n++
		cert, perr := x509.ParseCertificate(res.Record.DER)
		if perr != nil || after != before+1 {
			t.Fatalf("signed: %v, records %d -> %d", perr, before, after)
		}
		if got := ca.CertIdentity(cert); len(got) != 1 || got[0] != "CN="+cn || ValidateName(cn) != nil {
			t.Fatalf("CSR %q/%q/%q/%q/%q certified %q", cn, ou, org, email, uri, got)
		}
		for _, ign := range res.Plan.Ignored {
			if ca.SafeText(ign) != ign && !strings.Contains(ign, `"`) {
				t.Fatalf("ignored entry %q would reach the terminal raw", ign)
			}
		}
	})
}

func countRecords(t *testing.T, d *Dir) int {
	t.Helper()
	st, err := d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	if err := st.ForEach(func(store.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}
