package crl

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

func TestBuildRoundtrip(t *testing.T) {
	now := baseTime()
	big20, _ := new(big.Int).SetString("ff"+strings.Repeat("01", 19), 16) // 20 octets, high bit set
	entries := []Entry{
		{Serial: big.NewInt(1), RevokedAt: now.Add(-time.Hour), Reason: ReasonUnspecified},
		{Serial: big.NewInt(0x80), RevokedAt: now.Add(-2 * time.Hour), Reason: ReasonKeyCompromise},
		{Serial: big20, RevokedAt: now.Add(-3 * time.Hour), Reason: ReasonAACompromise},
		{Serial: big.NewInt(42), RevokedAt: time.Date(2051, 1, 2, 3, 4, 5, 0, time.UTC), Reason: ReasonSuperseded},
		{Serial: big.NewInt(7), RevokedAt: time.Date(1949, 12, 31, 23, 59, 59, 0, time.UTC), Reason: ReasonCertificateHold},
	}
	cases := []struct {
		name, key string
		entries   []Entry
		next      time.Time
		wantAlg   x509.SignatureAlgorithm
	}{
		{"p256-empty", "p256", nil, now.Add(time.Hour), x509.ECDSAWithSHA256},
		{"p256", "p256", entries, now.Add(time.Hour), x509.ECDSAWithSHA256},
		{"p384", "p384", entries, now.Add(time.Hour), x509.ECDSAWithSHA384},
		{"rsa", "rsa", entries, now.Add(time.Hour), x509.SHA256WithRSA},
		{"ed25519", "ed25519", entries, now.Add(time.Hour), x509.PureEd25519},
		{"generalized-next", "p256", entries[:1], time.Date(2060, 5, 6, 7, 8, 9, 0, time.UTC), x509.ECDSAWithSHA256},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ca := newRoot(t, tc.key, "Root "+tc.name)
			number, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
			this := now.Add(-time.Minute).Add(500 * time.Millisecond) // sub-second part must be dropped
			der, err := Build(Template{Number: number, ThisUpdate: this, NextUpdate: tc.next, Issuer: ca.cert, Signer: ca.key}, seqOf(tc.entries))
			if err != nil {
				t.Fatal(err)
			}

			// The standard library's view.
			rl, err := x509.ParseRevocationList(der)
			if err != nil {
				t.Fatalf("x509.ParseRevocationList: %v", err)
			}
			if err := rl.CheckSignatureFrom(ca.cert); err != nil {
				t.Fatalf("CheckSignatureFrom: %v", err)
			}
			if rl.SignatureAlgorithm != tc.wantAlg {
				t.Errorf("algorithm %v, want %v", rl.SignatureAlgorithm, tc.wantAlg)
			}
			if !bytes.Equal(rl.RawIssuer, ca.cert.RawSubject) {
				t.Error("issuer is not byte-identical to the CA subject")
			}
			if rl.Number.Cmp(number) != 0 {
				t.Errorf("number %v, want %v", rl.Number, number)
			}
			if !bytes.Equal(rl.AuthorityKeyId, ca.cert.SubjectKeyId) {
				t.Errorf("AKI %x, want %x", rl.AuthorityKeyId, ca.cert.SubjectKeyId)
			}
			if !rl.ThisUpdate.Equal(this.Truncate(time.Second)) || !rl.NextUpdate.Equal(tc.next) {
				t.Errorf("times %v %v, want %v %v", rl.ThisUpdate, rl.NextUpdate, this.Truncate(time.Second), tc.next)
			}
			if len(rl.RevokedCertificateEntries) != len(tc.entries) {
				t.Fatalf("%d entries, want %d", len(rl.RevokedCertificateEntries), len(tc.entries))
			}
			for i, e := range rl.RevokedCertificateEntries {
				w := tc.entries[i]
				if e.SerialNumber.Cmp(w.Serial) != 0 || !e.RevocationTime.Equal(w.RevokedAt) || e.ReasonCode != w.Reason {
					t.Errorf("entry %d = %v %v %d, want %v %v %d", i, e.SerialNumber, e.RevocationTime, e.ReasonCode, w.Serial, w.RevokedAt, w.Reason)
				}
				if w.Reason == 0 && len(e.Extensions) != 0 {
					t.Errorf("entry %d: unspecified reason must be omitted (RFC 5280 §5.3.1)", i)
				}
			}
			for _, ext := range rl.Extensions {
				if ext.Critical {
					t.Errorf("extension %v is critical", ext.Id)
				}
			}

			// Our parser's view.
			crls, err := Parse(der, []*x509.Certificate{ca.cert})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			c := crls[0]
			if c.Issuer != ca.cert || c.Number.Cmp(number) != 0 || !c.ThisUpdate.Equal(rl.ThisUpdate) ||
				!c.NextUpdate.Equal(rl.NextUpdate) || !bytes.Equal(c.Raw, der) || c.Revoked.Len() != len(tc.entries) {
				t.Errorf("Parse = %+v", c)
			}
			for _, w := range tc.entries {
				r, ok := c.Revoked.Lookup(w.Serial.Bytes())
				if !ok || !r.RevokedAt.Equal(w.RevokedAt) || r.Reason != w.Reason {
					t.Errorf("Lookup(%v) = %v %v, want %v %d", w.Serial, r, ok, w.RevokedAt, w.Reason)
				}
			}
			if _, ok := c.Revoked.Lookup([]byte{0x99}); ok {
				t.Error("Lookup found an unrevoked serial")
			}
			if len(tc.entries) == 0 && hasRevokedField(t, rl.RawTBSRevocationList) {
				// RFC 5280 §5.1.2.6: absent, not an empty SEQUENCE.
				t.Error("empty CRL has a revokedCertificates field")
			}
		})
	}
}

func TestBuildRejects(t *testing.T) {
	ca := newRoot(t, "p256", "Root")
	other := newRoot(t, "p256", "Other")
	now := baseTime()
	noCRLSign := &testCA{cert: mustCertCopy(t, ca, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCertSign }), key: ca.key}
	leaf := ca.newLeaf(t, "leaf", big.NewInt(9))
	good := func() Template {
		return Template{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(time.Hour), Issuer: ca.cert, Signer: ca.key}
	}
	cases := []struct {
		name    string
		mod     func(*Template)
		entries []Entry
	}{
		{"nil number", func(t *Template) { t.Number = nil }, nil},
		{"negative number", func(t *Template) { t.Number = big.NewInt(-1) }, nil},
		{"21-octet number", func(t *Template) { t.Number = new(big.Int).Lsh(big.NewInt(1), 160) }, nil},
		{"next before this", func(t *Template) { t.NextUpdate = t.ThisUpdate.Add(-time.Second) }, nil},
		{"next equals this", func(t *Template) { t.NextUpdate = t.ThisUpdate }, nil},
		{"no this", func(t *Template) { t.ThisUpdate = time.Time{} }, nil},
		{"nil issuer", func(t *Template) { t.Issuer = nil }, nil},
		{"nil signer", func(t *Template) { t.Signer = nil }, nil},
		{"leaf issuer", func(t *Template) { t.Issuer = leaf }, nil},
		{"no CRLSign", func(t *Template) { t.Issuer = noCRLSign.cert }, nil},
		{"wrong signer", func(t *Template) { t.Signer = other.key }, nil},
		{"nil serial", nil, []Entry{{RevokedAt: now}}},
		{"zero serial", nil, []Entry{{Serial: big.NewInt(0), RevokedAt: now}}},
		{"21-octet serial", nil, []Entry{{Serial: new(big.Int).Lsh(big.NewInt(1), 160), RevokedAt: now}}},
		{"reason 7", nil, []Entry{{Serial: big.NewInt(1), RevokedAt: now, Reason: 7}}},
		{"removeFromCRL in a complete CRL", nil, []Entry{{Serial: big.NewInt(1), RevokedAt: now, Reason: ReasonRemoveFromCRL}}},
		{"reason 11", nil, []Entry{{Serial: big.NewInt(1), RevokedAt: now, Reason: 11}}},
		{"no revocation time", nil, []Entry{{Serial: big.NewInt(1)}}},
		{"empty serial bytes", nil, []Entry{{SerialBytes: []byte{}, RevokedAt: now}}},
		{"zero serial bytes", nil, []Entry{{SerialBytes: []byte{0, 0}, RevokedAt: now}}},
		{"21-octet serial bytes", nil, []Entry{{SerialBytes: append([]byte{1}, make([]byte, 20)...), RevokedAt: now}}},
		{"bad entry after good ones", nil, append(slices.Repeat([]Entry{{Serial: big.NewInt(5), RevokedAt: now}}, 500), Entry{RevokedAt: now})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := good()
			if tc.mod != nil {
				tc.mod(&tmpl)
			}
			der, err := Build(tmpl, seqOf(tc.entries))
			if !errors.Is(err, ErrMalformed) || der != nil {
				t.Fatalf("Build = %d bytes, %v; want ErrMalformed", len(der), err)
			}
		})
	}
}

// hasRevokedField reports whether a TBSCertList has a revokedCertificates
// field: a SEQUENCE after nextUpdate. (Searching the DER for 30 00 would
// also match random signature or key identifier octets.)
func hasRevokedField(t *testing.T, tbs []byte) bool {
	t.Helper()
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	var skip cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.ReadASN1(&skip, cbasn1.INTEGER) || // version
		!body.ReadASN1(&skip, cbasn1.SEQUENCE) || // signature
		!body.ReadASN1(&skip, cbasn1.SEQUENCE) || // issuer
		!body.ReadAnyASN1(&skip, nil) || // thisUpdate
		!body.ReadAnyASN1(&skip, nil) { // nextUpdate
		t.Fatal("cannot walk the TBSCertList")
	}
	return body.PeekASN1Tag(cbasn1.SEQUENCE)
}

// mustCertCopy re-issues ca's certificate (self-signed) with mod applied.
func mustCertCopy(t *testing.T, ca *testCA, mod func(*x509.Certificate)) *x509.Certificate {
	tmpl := *ca.cert
	mod(&tmpl)
	return mustCert(t, &tmpl, &tmpl, ca.key.Public(), ca.key)
}

func TestEncodePEM(t *testing.T) {
	got := EncodePEM([]byte{1, 2}, []byte{3})
	b1, rest := pem.Decode(got)
	b2, rest := pem.Decode(rest)
	if b1 == nil || b2 == nil || len(rest) != 0 || b1.Type != "X509 CRL" || b2.Type != "X509 CRL" ||
		!bytes.Equal(b1.Bytes, []byte{1, 2}) || !bytes.Equal(b2.Bytes, []byte{3}) {
		t.Fatalf("EncodePEM = %q", got)
	}
}

func TestReasonString(t *testing.T) {
	for code, want := range map[int]string{0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
		4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 7: "reason(7)", 8: "removeFromCRL",
		9: "privilegeWithdrawn", 10: "aACompromise", 11: "reason(11)", -1: "reason(-1)"} {
		if got := ReasonString(code); got != want {
			t.Errorf("ReasonString(%d) = %q, want %q", code, got, want)
		}
	}
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
}

func writePEM(t *testing.T, dir, name, typ string, ders ...[]byte) string {
	t.Helper()
	var buf bytes.Buffer
	for _, d := range ders {
		if err := pem.Encode(&buf, &pem.Block{Type: typ, Bytes: d}); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenSSLText(t *testing.T) {
	needOpenSSL(t)
	ca := newRoot(t, "p256", "Text Root")
	now := baseTime()
	der := ca.build(t, 4242,
		Entry{Serial: big.NewInt(0x1234), RevokedAt: now, Reason: ReasonKeyCompromise},
		Entry{Serial: big.NewInt(0x5678), RevokedAt: now, Reason: ReasonCessationOfOperation},
		Entry{Serial: big.NewInt(0x9abc), RevokedAt: now})
	dir := t.TempDir()
	p := filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(p, EncodePEM(der), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "crl", "-text", "-noout", "-in", p).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl crl: %v\n%s", err, out)
	}
	for _, want := range []string{"Version 2", "ecdsa-with-SHA256", "CRL Number", "4242", "X509v3 Authority Key Identifier",
		"X509v3 CRL Reason Code", "Key Compromise", "Cessation Of Operation", "Serial Number: 1234", "Serial Number: 9ABC", "CN = Text Root"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("openssl output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(string(out), "CRL Reason Code"); n != 2 {
		t.Errorf("%d reason codes, want 2 (unspecified omitted)", n)
	}
}

func TestOpenSSLVerify(t *testing.T) {
	needOpenSSL(t)
	root := newRoot(t, "p256", "Verify Root")
	inter := root.newIntermediate(t, "p256", "Verify Intermediate", 2)
	badInter := root.newIntermediate(t, "p256", "Revoked Intermediate", 3)
	good := inter.newLeaf(t, "good", big.NewInt(100))
	revoked := inter.newLeaf(t, "revoked", big.NewInt(101))
	underBad := badInter.newLeaf(t, "under-bad", big.NewInt(102))
	now := baseTime()

	interCRL := inter.build(t, 1, Entry{Serial: revoked.SerialNumber, RevokedAt: now.Add(-time.Minute), Reason: ReasonKeyCompromise})
	badInterCRL := badInter.build(t, 1)
	rootCRL := root.build(t, 1, Entry{Serial: badInter.cert.SerialNumber, RevokedAt: now.Add(-time.Minute), Reason: ReasonCACompromise})

	dir := t.TempDir()
	crlPath := filepath.Join(dir, "crl.pem")
	if err := os.WriteFile(crlPath, EncodePEM(interCRL, badInterCRL, rootCRL), 0o600); err != nil {
		t.Fatal(err)
	}
	rootPath := writePEM(t, dir, "root.pem", "CERTIFICATE", root.cert.Raw)
	onlyInterPath := filepath.Join(dir, "only-inter.pem")
	if err := os.WriteFile(onlyInterPath, EncodePEM(interCRL), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		leaf, inter []byte
		crl         string
		want        string
	}{
		{"good", good.Raw, inter.cert.Raw, crlPath, ": OK"},
		{"revoked leaf", revoked.Raw, inter.cert.Raw, crlPath, "certificate revoked"},
		{"revoked intermediate", underBad.Raw, badInter.cert.Raw, crlPath, "certificate revoked"},
		// -crl_check_all needs the root's CRL too: crl.pem must hold both.
		{"no root CRL", good.Raw, inter.cert.Raw, onlyInterPath, "unable to get certificate CRL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leafPath := writePEM(t, dir, "leaf.pem", "CERTIFICATE", tc.leaf)
			interPath := writePEM(t, dir, "inter.pem", "CERTIFICATE", tc.inter)
			out, _ := exec.Command("openssl", "verify", "-crl_check_all", "-CRLfile", tc.crl, "-CAfile", rootPath,
				"-untrusted", interPath, leafPath).CombinedOutput()
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("openssl verify: want %q in\n%s", tc.want, out)
			}
		})
	}
}
