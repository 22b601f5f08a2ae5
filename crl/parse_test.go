package crl

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// stdlibCRL makes a CRL with x509.CreateRevocationList, to feed Parse
// extensions that Build never writes.
func stdlibCRL(t testing.TB, ca *testCA, mod func(*x509.RevocationList)) []byte {
	t.Helper()
	now := baseTime()
	tmpl := &x509.RevocationList{
		Number: big.NewInt(5), ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(77), RevocationTime: now.Add(-time.Hour), ReasonCode: ReasonSuperseded},
		},
	}
	if mod != nil {
		mod(tmpl)
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var oidUnknown = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}

func TestParse(t *testing.T) {
	root := newRoot(t, "p256", "Parse Root")
	inter := root.newIntermediate(t, "rsa", "Parse Intermediate", 2)
	other := newRoot(t, "p256", "Other Root")
	// An impostor: same name and key identifier as root, another key.
	impKey := genKey(t, "p256")
	impTmpl := *root.cert
	impTmpl.SubjectKeyId = root.cert.SubjectKeyId
	impTmpl.PublicKey = impKey.Public()
	impostor := &testCA{cert: mustCert(t, &impTmpl, &impTmpl, impKey.Public(), impKey), key: impKey}
	cas := []*x509.Certificate{root.cert, inter.cert}

	rootDER := root.build(t, 3, Entry{Serial: big.NewInt(2), RevokedAt: baseTime(), Reason: ReasonCACompromise})
	interDER := inter.build(t, 9)
	flipped := bytes.Clone(rootDER)
	flipped[len(flipped)-3] ^= 0x01
	twoPEM := EncodePEM(interDER, rootDER)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.cert.Raw})
	unknownCrit := pkix.Extension{Id: oidUnknown, Critical: true, Value: []byte{0x05, 0x00}}
	unknownNonCrit := pkix.Extension{Id: oidUnknown, Value: []byte{0x05, 0x00}}

	cases := []struct {
		name    string
		data    []byte
		wantErr error
		wantN   int // CRLs returned
	}{
		{"DER", rootDER, nil, 1},
		{"PEM two", twoPEM, nil, 2},
		{"PEM with blank lines", append(append([]byte("\n\n"), twoPEM...), "\n\n"...), nil, 2},
		{"stdlib-made", stdlibCRL(t, root, nil), nil, 1},
		{"stdlib non-critical unknown ext", stdlibCRL(t, root, func(l *x509.RevocationList) {
			l.ExtraExtensions = []pkix.Extension{unknownNonCrit}
		}), nil, 1},
		{"empty", nil, ErrNoCRL, 0},
		{"whitespace", []byte(" \n"), ErrNoCRL, 0},
		{"other CA", other.build(t, 1), ErrUnknownIssuer, 0},
		{"impostor with same name and SKI", impostor.build(t, 1), ErrBadSignature, 0},
		{"flipped signature", flipped, ErrBadSignature, 0},
		{"truncated", rootDER[:len(rootDER)-1], ErrMalformed, 0},
		{"half", rootDER[:len(rootDER)/2], ErrMalformed, 0},
		{"trailing garbage DER", append(bytes.Clone(rootDER), 0), ErrMalformed, 0},
		{"trailing garbage PEM", append(bytes.Clone(twoPEM), "garbage\n"...), ErrMalformed, 0},
		{"foreign PEM type", certPEM, ErrMalformed, 0},
		{"broken block before a good one", append([]byte("-----BEGIN X509 CRL-----\n!!!\n-----END X509 CRL-----\n"), EncodePEM(rootDER)...), ErrMalformed, 0},
		{"PEM headers", pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: rootDER}), ErrMalformed, 0},
		{"CRL then certificate", append(EncodePEM(rootDER), certPEM...), ErrMalformed, 0},
		{"critical unknown CRL extension", stdlibCRL(t, root, func(l *x509.RevocationList) {
			l.ExtraExtensions = []pkix.Extension{unknownCrit}
		}), ErrMalformed, 0},
		{"critical unknown entry extension", stdlibCRL(t, root, func(l *x509.RevocationList) {
			l.RevokedCertificateEntries[0].ExtraExtensions = []pkix.Extension{unknownCrit}
		}), ErrMalformed, 0},
		{"no nextUpdate", stdlibCRLNoNext(t, root), ErrMalformed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			crls, err := Parse(tc.data, cas)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || crls != nil {
					t.Fatalf("Parse = %v, %v; want %v", crls, err, tc.wantErr)
				}
				return
			}
			if err != nil || len(crls) != tc.wantN {
				t.Fatalf("Parse = %d CRLs, %v; want %d", len(crls), err, tc.wantN)
			}
		})
	}

	crls, err := Parse(twoPEM, cas)
	if err != nil {
		t.Fatal(err)
	}
	if crls[0].Issuer != inter.cert || crls[1].Issuer != root.cert || crls[0].Number.Int64() != 9 || crls[1].Number.Int64() != 3 {
		t.Errorf("PEM order or issuers wrong: %+v %+v", crls[0], crls[1])
	}
	if r, ok := crls[1].Revoked.Lookup([]byte{0, 0, 2}); !ok || r.Reason != ReasonCACompromise {
		t.Errorf("Lookup with leading zeros = %v %v", r, ok)
	}
	if _, err := Parse(other.build(t, 1), cas); err == nil || !bytes.Contains([]byte(err.Error()), []byte("Other Root")) {
		t.Errorf("unknown issuer error does not name the issuer: %v", err)
	}
}

// stdlibCRLNoNext re-signs a CRL whose tbsCertList lacks nextUpdate; the
// standard library always writes one, so this is assembled with encoding/asn1.
func stdlibCRLNoNext(t *testing.T, ca *testCA) []byte {
	t.Helper()
	type tbs struct {
		Version    int
		Algo       pkix.AlgorithmIdentifier
		Issuer     asn1.RawValue
		ThisUpdate time.Time
	}
	alg := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}
	raw, err := asn1.Marshal(tbs{1, alg, asn1.RawValue{FullBytes: ca.cert.RawSubject}, baseTime().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	sig := signECDSA(t, ca, raw)
	der, err := asn1.Marshal(struct {
		TBS asn1.RawValue
		Alg pkix.AlgorithmIdentifier
		Sig asn1.BitString
	}{asn1.RawValue{FullBytes: raw}, alg, asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func signECDSA(t *testing.T, ca *testCA, msg []byte) []byte {
	t.Helper()
	h := algECDSASHA256.hash.New()
	h.Write(msg)
	sig, err := ca.key.Sign(rand.Reader, h.Sum(nil), algECDSASHA256.hash)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestSetDuplicatesAndAll(t *testing.T) {
	now := baseTime()
	b := newSetBuilder(3, 6)
	b.add([]byte{1, 2}, now.Unix(), 1)
	b.add([]byte{1, 2}, now.Add(time.Hour).Unix(), 4) // duplicate: first wins
	b.add([]byte{3}, now.Unix(), 0)
	s := b.set()
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	if r, ok := s.Lookup([]byte{1, 2}); !ok || r.Reason != 1 || !r.RevokedAt.Equal(now) {
		t.Errorf("Lookup = %v %v", r, ok)
	}
	var got [][]byte
	for serial := range s.All() {
		got = append(got, serial)
	}
	if len(got) != 2 || !bytes.Equal(got[0], []byte{1, 2}) || !bytes.Equal(got[1], []byte{3}) {
		t.Errorf("All = %x", got)
	}
	var empty *Set
	if _, ok := empty.Lookup([]byte{1}); ok || empty.Len() != 0 {
		t.Error("nil Set is not empty")
	}
}

// TestSetDuplicatesLarge checks duplicates in a Set large enough for the
// table to be filled region by region, in several batches (fillTable): the
// first entry of a serial wins, also across batches, later ones are dropped,
// and All keeps CRL order.
func TestSetDuplicatesLarge(t *testing.T) {
	const n = 2*batchEntries + 40_000
	b := newSetBuilder(n+n/7+1, 3*(n+n/7+1))
	var want [][]byte
	for i := range n {
		serial := []byte{byte(i>>16) + 1, byte(i >> 8), byte(i)}
		b.add(serial, int64(i), uint8(i%11))
		want = append(want, serial)
		if i%7 == 3 {
			b.add(bytes.Clone(want[i/2]), -1, 99) // a duplicate of an earlier entry
		}
	}
	s := b.set()
	if s.Len() != n {
		t.Fatalf("Len = %d, want %d", s.Len(), n)
	}
	i := 0
	for serial, r := range s.All() {
		if !bytes.Equal(serial, want[i]) || r.RevokedAt.Unix() != int64(i) || r.Reason != i%11 {
			t.Fatalf("All entry %d = %x %v, want %x", i, serial, r, want[i])
		}
		if got, ok := s.Lookup(serial); !ok || got != r {
			t.Fatalf("Lookup(%x) = %v %v, want %v", serial, got, ok, r)
		}
		i++
	}
	if _, ok := s.Lookup([]byte{0xff, 0, 0}); ok {
		t.Error("Lookup found a serial never added")
	}
}

func TestLookupAllocs(t *testing.T) {
	ca := newRoot(t, "p256", "Alloc Root")
	der, err := Build(Template{Number: big.NewInt(1), ThisUpdate: baseTime(), NextUpdate: baseTime().Add(time.Hour),
		Issuer: ca.cert, Signer: ca.key}, genEntries(1000, baseTime()))
	if err != nil {
		t.Fatal(err)
	}
	crls, err := Parse(der, []*x509.Certificate{ca.cert})
	if err != nil {
		t.Fatal(err)
	}
	if crls[0].Revoked.Len() != 1000 {
		t.Fatalf("Len = %d", crls[0].Revoked.Len())
	}
	n := 0
	for e := range genEntries(1000, baseTime()) {
		if r, ok := crls[0].Revoked.Lookup(e.Serial.Bytes()); !ok || r.Reason != e.Reason {
			t.Fatalf("entry %d not found", n)
		}
		n++
	}
	key := new(big.Int).Lsh(big.NewInt(1), 64)
	key.Or(key, big.NewInt(1))
	serial := key.Bytes()
	if a := testing.AllocsPerRun(100, func() { crls[0].Revoked.Lookup(serial) }); a != 0 {
		t.Errorf("Lookup allocates %v times", a)
	}
}

func FuzzParse(f *testing.F) {
	root := newRoot(f, "p256", "Fuzz Root")
	now := baseTime()
	der := root.build(f, 1,
		Entry{Serial: big.NewInt(10), RevokedAt: now, Reason: ReasonKeyCompromise},
		Entry{Serial: big.NewInt(11), RevokedAt: now})
	f.Add(der)
	f.Add(EncodePEM(der, root.build(f, 2)))
	f.Add(stdlibCRL(f, root, nil))
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	cas := []*x509.Certificate{root.cert}
	f.Fuzz(func(t *testing.T, data []byte) {
		crls, err := Parse(data, cas)
		if err == nil {
			for _, c := range crls {
				if c.Issuer == nil || c.Revoked == nil {
					t.Fatal("successful Parse with nil fields")
				}
			}
		}
	})
}

// TestParseOpenSSLCRL parses a CRL made by `openssl ca -gencrl`, the tool
// Apache and nginx users already have.
func TestParseOpenSSLCRL(t *testing.T) {
	needOpenSSL(t)
	ca := newRoot(t, "p256", "OpenSSL Root")
	dir := t.TempDir()
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyPath := writePEM(t, dir, "key.pem", "PRIVATE KEY", keyDER)
	certPath := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.cert.Raw)
	revokedAt := baseTime().Add(-time.Hour)
	index := "R\t301231235959Z\t" + revokedAt.Format("060102150405Z") + ",keyCompromise\t0ABCDEF1\tunknown\t/CN=gone\n"
	files := map[string]string{
		"index.txt": index,
		"crlnumber": "1F\n",
		"ca.cnf": "[ca]\ndefault_ca = d\n[d]\ndatabase = " + filepath.Join(dir, "index.txt") +
			"\ncrlnumber = " + filepath.Join(dir, "crlnumber") +
			"\ndefault_md = sha256\ndefault_crl_days = 1\ncrl_extensions = ext\n[ext]\nauthorityKeyIdentifier = keyid:always\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	crlPath := filepath.Join(dir, "crl.pem")
	out, err := exec.Command("openssl", "ca", "-gencrl", "-config", filepath.Join(dir, "ca.cnf"),
		"-keyfile", keyPath, "-cert", certPath, "-out", crlPath).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl ca -gencrl: %v\n%s", err, out)
	}
	data, err := os.ReadFile(crlPath)
	if err != nil {
		t.Fatal(err)
	}
	crls, err := Parse(data, []*x509.Certificate{ca.cert})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	c := crls[0]
	if c.Number.Int64() != 0x1f || c.Revoked.Len() != 1 {
		t.Fatalf("Parse = number %v, %d entries", c.Number, c.Revoked.Len())
	}
	r, ok := c.Revoked.Lookup([]byte{0x0a, 0xbc, 0xde, 0xf1})
	if !ok || r.Reason != ReasonKeyCompromise || !r.RevokedAt.Equal(revokedAt) {
		t.Errorf("Lookup = %v %v, want keyCompromise at %v", r, ok, revokedAt)
	}
}
