package crl

import (
	"crypto/rand"
	"crypto/x509"
	"io"
	"iter"
	"math/big"
	"runtime"
	"testing"
	"time"
)

var benchSizes = []struct {
	name string
	n    int
}{{"10k", 10_000}, {"100k", 100_000}, {"1M", 1_000_000}}

func benchTemplate(ca *testCA) Template {
	now := baseTime()
	return Template{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour), Issuer: ca.cert, Signer: ca.key}
}

func BenchmarkBuild(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			var der []byte
			for b.Loop() {
				var err error
				if der, err = Build(benchTemplate(ca), genEntries(size.n, baseTime())); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(der))/(1<<20), "MiB-DER")
		})
	}
}

// BenchmarkSignPEM measures what wsca crl does: Sign with serials given as
// bytes (as the store hands them), then stream the PEM to a writer.
func BenchmarkSignPEM(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				s, err := Sign(benchTemplate(ca), bytesEntries(genEntries(size.n, baseTime())))
				if err != nil {
					b.Fatal(err)
				}
				if n, err = s.WritePEMTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/(1<<20), "MiB-PEM")
		})
	}
}

// bytesEntries turns entries into the SerialBytes form, reusing one buffer
// as the store does.
func bytesEntries(entries iter.Seq[Entry]) iter.Seq[Entry] {
	return func(yield func(Entry) bool) {
		var buf [20]byte
		for e := range entries {
			e.SerialBytes = e.Serial.FillBytes(buf[:(e.Serial.BitLen()+7)/8])
			e.Serial = nil
			if !yield(e) {
				return
			}
		}
	}
}

// liveHeap returns the bytes in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func BenchmarkParse(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	cas := []*x509.Certificate{ca.cert}
	for _, size := range []struct {
		name string
		n    int
		pem  bool // the input is crl.pem, as a relay reads it
	}{{"10k", 10_000, false}, {"1M", 1_000_000, false}, {"1M-pem", 1_000_000, true}} {
		b.Run(size.name, func(b *testing.B) {
			der, err := Build(benchTemplate(ca), genEntries(size.n, baseTime()))
			if err != nil {
				b.Fatal(err)
			}
			in := der
			if size.pem {
				in = EncodePEM(der)
			}
			b.ReportAllocs()
			var live float64
			for b.Loop() {
				b.StopTimer()
				before := liveHeap()
				b.StartTimer()
				crls, err := Parse(in, cas)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				// Raw is a copy of der; count only what the Set adds.
				live = float64(int64(liveHeap())-int64(before)-int64(len(crls[0].Raw))) / (1 << 20)
				runtime.KeepAlive(crls)
				b.StartTimer()
			}
			b.ReportMetric(live, "MiB-live")
		})
	}
}

// BenchmarkLookup looks up serials in a million-entry Set: "hit" finds a
// revoked serial, "miss" one that is not revoked (the common case for a
// client that connects).
func BenchmarkLookup(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	der, err := Build(benchTemplate(ca), genEntries(1_000_000, baseTime()))
	if err != nil {
		b.Fatal(err)
	}
	crls, err := Parse(der, []*x509.Certificate{ca.cert})
	if err != nil {
		b.Fatal(err)
	}
	set := crls[0].Revoked
	var hits, misses [][]byte
	for e := range genEntries(1024, baseTime()) {
		hits = append(hits, e.Serial.Bytes())
		m := e.Serial.Bytes()
		m[len(m)-1] ^= 0x5a
		misses = append(misses, m)
	}
	for _, tc := range []struct {
		name    string
		serials [][]byte
		want    bool
	}{{"hit", hits, true}, {"miss", misses, false}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := set.Lookup(tc.serials[i&1023]); ok != tc.want {
					b.Fatalf("Lookup = %v, want %v", ok, tc.want)
				}
				i++
			}
		})
	}
}

func BenchmarkCheckChain(b *testing.B) {
	root := newRoot(b, "p256", "Bench Root")
	inter := root.newIntermediate(b, "p256", "Bench Intermediate", 2)
	leaf := inter.newLeaf(b, "leaf", new(big.Int).Lsh(big.NewInt(1), 127))
	cas := []*x509.Certificate{root.cert, inter.cert}
	interDER, err := Build(benchTemplate(inter), genEntries(100_000, baseTime()))
	if err != nil {
		b.Fatal(err)
	}
	bundle := NewBundle([]*CRL{mustParse(b, interDER, cas...), mustParse(b, root.build(b, 1), cas...)})
	chain := []*x509.Certificate{leaf, inter.cert, root.cert}
	now := baseTime()
	b.ReportAllocs()
	for b.Loop() {
		if err := bundle.CheckChain(chain, now, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibBuild(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	b.Run("1M", func(b *testing.B) {
		tmpl := stdlibTemplate(1_000_000)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkStdlibParse(b *testing.B) {
	ca := newRoot(b, "p256", "Bench Root")
	b.Run("1M", func(b *testing.B) {
		der, err := Build(benchTemplate(ca), genEntries(1_000_000, baseTime()))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		var live float64
		for b.Loop() {
			b.StopTimer()
			before := liveHeap()
			b.StartTimer()
			rl, err := x509.ParseRevocationList(der)
			if err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			live = float64(int64(liveHeap())-int64(before)) / (1 << 20)
			runtime.KeepAlive(rl)
			b.StartTimer()
		}
		b.ReportMetric(live, "MiB-live")
	})
}

func stdlibTemplate(n int) *x509.RevocationList {
	now := baseTime()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: now, NextUpdate: now.Add(24 * time.Hour)}
	tmpl.RevokedCertificateEntries = make([]x509.RevocationListEntry, 0, n)
	for e := range genEntries(n, now) {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: new(big.Int).Set(e.Serial), RevocationTime: e.RevokedAt, ReasonCode: e.Reason})
	}
	return tmpl
}
