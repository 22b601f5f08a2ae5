package crl

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
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

// FuzzParseEntries fuzzes the revokedCertificates walker directly (and that
// fastEntry changes nothing, as TestFastEntries): behind
// Parse it is reached only by correctly signed input.
func FuzzParseEntries(f *testing.F) {
	for _, seed := range entrySeeds(f) {
		f.Add(seed, true)
	}
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, v2 bool) {
		version := 0
		if v2 {
			version = 1
		}
		sameEntries(t, data, version)
		s, err := parseEntries(cryptobyte.String(data), true, version)
		if err != nil {
			return
		}
		for serial, r := range s.All() {
			if got, ok := s.Lookup(serial); !ok || got.Reason != r.Reason || !validReason(got.Reason) {
				t.Fatalf("Lookup(%x) = %v %v after All yielded %v", serial, got, ok, r)
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

// readTimeDate is readTime as it was, with time.Date: the reference for
// TestReadUnix.
func readTimeDate(v []byte, generalized bool) (time.Time, bool) {
	year := 0
	if generalized {
		year, v = int(v[0]-'0')*1000+int(v[1]-'0')*100+int(v[2]-'0')*10+int(v[3]-'0'), v[4:]
	} else {
		year, v = 1900+int(v[0]-'0')*10+int(v[1]-'0'), v[2:]
		if year < 1950 {
			year += 100
		}
	}
	var f [5]int
	for i := range f {
		f[i] = int(v[2*i]-'0')*10 + int(v[2*i+1]-'0')
	}
	t := time.Date(year, time.Month(f[0]), f[1], f[2], f[3], f[4], 0, time.UTC)
	y, m, d := t.Date()
	return t, y == year && int(m) == f[0] && d == f[1] && t.Hour() == f[2] && t.Minute() == f[3] && t.Second() == f[4]
}

// TestReadUnix checks the hand-computed Unix time against time.Date over
// both encodings, leap years, month ends and every out-of-range field.
func TestReadUnix(t *testing.T) {
	n := 0
	for _, year := range []int{0, 1, 4, 99, 100, 399, 400, 1600, 1899, 1900, 1950, 1969, 1970, 1999, 2000, 2024, 2049, 2100, 2400, 9999} {
		for month := 0; month <= 13; month++ {
			for day := 0; day <= 32; day++ {
				for _, hms := range [][3]int{{0, 0, 0}, {23, 59, 59}, {24, 0, 0}, {12, 60, 0}, {12, 0, 60}, {7, 8, 9}} {
					for _, gen := range []bool{false, true} {
						if !gen && (year < 1950 || year > 2049) {
							continue
						}
						var body string
						tag := cbasn1.UTCTime
						if gen {
							tag, body = cbasn1.GeneralizedTime, fmt.Sprintf("%04d", year)
						} else {
							body = fmt.Sprintf("%02d", year%100)
						}
						body += fmt.Sprintf("%02d%02d%02d%02d%02dZ", month, day, hms[0], hms[1], hms[2])
						der := append([]byte{byte(tag), byte(len(body))}, body...)
						s := cryptobyte.String(der)
						got, err := readTime(&s)
						want, ok := readTimeDate([]byte(body), gen)
						if ok != (err == nil) || (ok && got != want) {
							t.Fatalf("%s: readTime = %v, %v; time.Date gives %v, valid %v", body, got, err, want, ok)
						}
						n++
					}
				}
			}
		}
	}
	t.Logf("%d times checked", n)
}

// rawEntry encodes a revoked entry by hand: serial content, time tag and
// content, and extensions' encoding (nil: none), so tests reach shapes Build
// never writes.
func rawEntry(serial []byte, timeTag cbasn1.Tag, ts string, exts []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.INTEGER, func(b *cryptobyte.Builder) { b.AddBytes(serial) })
		b.AddASN1(timeTag, func(b *cryptobyte.Builder) { b.AddBytes([]byte(ts)) })
		b.AddBytes(exts)
	})
	return b.BytesOrPanic()
}

// entryExts encodes crlEntryExtensions of the given Extension encodings.
func entryExts(exts ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, e := range exts {
			b.AddBytes(e)
		}
	})
	return b.BytesOrPanic()
}

// rawExt encodes an Extension; critical < 0 leaves the field out.
func rawExt(oid []byte, critical int, value []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(oid) })
		if critical >= 0 {
			b.AddASN1(cbasn1.BOOLEAN, func(b *cryptobyte.Builder) { b.AddUint8(uint8(critical)) })
		}
		b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) { b.AddBytes(value) })
	})
	return b.BytesOrPanic()
}

// entrySeeds returns revokedCertificates contents mixing the common shape
// (fastEntry) with every shape it leaves to readEntry.
func entrySeeds(t testing.TB) [][]byte {
	now := baseTime()
	var built []byte
	for i, e := range []Entry{
		{Serial: big.NewInt(10), RevokedAt: now, Reason: ReasonKeyCompromise},
		{Serial: big.NewInt(0xff), RevokedAt: time.Date(2055, 1, 1, 0, 0, 0, 0, time.UTC)}, // GeneralizedTime, 0x00 pad
		{Serial: new(big.Int).Lsh(big.NewInt(1), 159), RevokedAt: now, Reason: ReasonAACompromise},
		{Serial: big.NewInt(10), RevokedAt: now, Reason: ReasonSuperseded}, // a duplicate
		{Serial: big.NewInt(1 << 40), RevokedAt: now.Add(time.Hour), Reason: ReasonCertificateHold},
	} {
		var err error
		if built, err = appendEntry(built, e, new(timeCache)); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	reason := func(code byte) []byte { return rawExt([]byte{0x55, 0x1d, 0x15}, -1, []byte{0x0a, 0x01, code}) }
	invalidity := rawExt([]byte{0x55, 0x1d, 0x18}, -1, []byte("\x18\x0f20260101000000Z"))
	long := bytes.Repeat([]byte{0x7f}, 300)
	odd := [][]byte{
		rawEntry([]byte{5}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(0))),
		rawEntry([]byte{6}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(8))),
		rawEntry([]byte{7}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(7))),
		rawEntry([]byte{8}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(0x80))),
		rawEntry([]byte{9}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(1), invalidity)),
		rawEntry([]byte{10}, cbasn1.UTCTime, "260102030405Z", entryExts(invalidity)),
		rawEntry([]byte{11}, cbasn1.UTCTime, "260102030405Z", entryExts(rawExt([]byte{0x55, 0x1d, 0x15}, 0xff, []byte{0x0a, 0x01, 1}))),
		rawEntry([]byte{12}, cbasn1.UTCTime, "260102030405Z", entryExts(rawExt([]byte{0x55, 0x1d, 0x1d}, 0xff, []byte{0x30, 0}))),
		rawEntry([]byte{13}, cbasn1.UTCTime, "260102030405Z", entryExts(reason(1), reason(1))),
		rawEntry([]byte{14}, cbasn1.UTCTime, "260102030405Z", entryExts()),
		rawEntry([]byte{0, 15}, cbasn1.UTCTime, "260102030405Z", nil),
		rawEntry([]byte{0xff, 0x85}, cbasn1.UTCTime, "260102030405Z", nil),
		rawEntry([]byte{0x85}, cbasn1.UTCTime, "260102030405Z", nil),
		rawEntry(nil, cbasn1.UTCTime, "260102030405Z", nil),
		rawEntry(long, cbasn1.UTCTime, "260102030405Z", nil),
		rawEntry(long[:200], cbasn1.GeneralizedTime, "20260102030405Z", entryExts(reason(3))),
		rawEntry([]byte{16}, cbasn1.UTCTime, "260230030405Z", nil),
		rawEntry([]byte{17}, cbasn1.UTCTime, "2601020304Z", nil),
		rawEntry([]byte{18}, cbasn1.GeneralizedTime, "20260102030405+0100", nil),
		rawEntry([]byte{19}, cbasn1.UTF8String, "260102030405Z", nil),
		{0x30, 0x81, 0x10, 0x02, 0x01, 20, 0x17, 0x0d, '2', '6', '0', '1', '0', '2', '0', '3', '0', '4', '0', '5', 'Z'},       // non-minimal length
		{0x30, 0x82, 0x00, 0x10, 0x02, 0x01, 22, 0x17, 0x0d, '2', '6', '0', '1', '0', '2', '0', '3', '0', '4', '0', '5', 'Z'}, // non-minimal length
		{0x30, 0x10, 0x02, 0x01, 21, 0x17, 0x0d, '2', '6', '0', '1', '0', '2', '0', '3', '0', '4', '0', '5', 'Z', 0x05, 0x00}, // trailing NULL
	}
	seeds := [][]byte{built, bytes.Join(odd, nil)}
	for _, o := range odd {
		seeds = append(seeds, append(bytes.Clone(built), o...), append(bytes.Clone(o), built...))
	}
	return seeds
}

// sameEntries compares walkEntries with and without fastEntry on data.
func sameEntries(t *testing.T, data []byte, version int) {
	t.Helper()
	want, wantErr := walkEntries(cryptobyte.String(data), true, version, false)
	got, gotErr := walkEntries(cryptobyte.String(data), true, version, true)
	if (wantErr == nil) != (gotErr == nil) || (wantErr != nil && wantErr.Error() != gotErr.Error()) {
		t.Fatalf("v%d %x: fast path error %v, general %v", version+1, data, gotErr, wantErr)
	}
	if wantErr != nil {
		return
	}
	type e struct {
		serial string
		r      Revoked
	}
	var w, g []e
	for serial, r := range want.All() {
		w = append(w, e{string(serial), r})
	}
	for serial, r := range got.All() {
		g = append(g, e{string(serial), r})
	}
	if len(w) != len(g) {
		t.Fatalf("v%d %x: fast path %d entries, general %d", version+1, data, len(g), len(w))
	}
	for i := range w {
		if w[i] != g[i] {
			t.Fatalf("v%d %x: entry %d: fast path %x %v, general %x %v", version+1, data, i, g[i].serial, g[i].r, w[i].serial, w[i].r)
		}
	}
}

// TestFastEntries checks that fastEntry changes nothing: for every seed and
// many random mutations of it, walkEntries answers the same (entries, or the
// same error) with and without it, for v1 and v2 CRLs.
func TestFastEntries(t *testing.T) {
	seeds := entrySeeds(t)
	rng := mathrand.New(mathrand.NewPCG(1, 2))
	for _, seed := range seeds {
		for _, version := range []int{0, 1} {
			sameEntries(t, seed, version)
		}
		for range 2000 {
			data := bytes.Clone(seed)
			for range 1 + rng.IntN(3) {
				switch i := rng.IntN(len(data)); rng.IntN(3) {
				case 0:
					data[i] = byte(rng.IntN(256))
				case 1:
					data[i] ^= 1 << rng.IntN(8)
				default:
					data = append(data[:i], data[i+1:]...)
				}
				if len(data) == 0 {
					break
				}
			}
			sameEntries(t, data, rng.IntN(2))
		}
	}
}
