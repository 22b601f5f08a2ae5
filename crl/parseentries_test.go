package crl

import (
	"bytes"
	"fmt"
	"math/big"
	mathrand "math/rand/v2"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// FuzzParseEntries fuzzes the revokedCertificates walker directly, and that
// fastEntry changes nothing (as TestFastEntries): behind Parse it is reached
// only by correctly signed input.
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
