package store

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// benchRecord is a client record of realistic size (a ~500-byte DER) with
// a random 128-bit serial, as wsca issues them.
func benchRecord(rnd *rand.Rand, i int, der []byte) Record {
	serial := new(big.Int).SetUint64(rnd.Uint64() | 1<<63)
	serial.Lsh(serial, 64).Or(serial, new(big.Int).SetUint64(rnd.Uint64()))
	return Record{
		Serial: serial, Name: "user" + strconv.Itoa(i) + "@example.com", Kind: "client",
		Subject: "CN=user" + strconv.Itoa(i), NotBefore: t0, NotAfter: t0.Add(365 * 24 * time.Hour),
		FingerprintSHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		DER:               der, IssuedAt: t0, IssuedBy: "bench",
	}
}

// BenchmarkAddBatch measures Add with 500 records per transaction (the
// CLI's CSV batch size) on a growing database. ns/op is per batch.
func BenchmarkAddBatch(b *testing.B) {
	s, _ := testStore(b)
	rnd := rand.New(rand.NewPCG(1, 2))
	der := make([]byte, 500)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		batch := make([]Record, 500)
		for j := range batch {
			batch[j] = benchRecord(rnd, i, der)
			i++
		}
		b.StartTimer()
		if err := s.Add(batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/record")
}

// fillRevoked creates a store with n records, all revoked (imported with
// their Revocation set), added 10,000 per transaction.
func fillRevoked(b *testing.B, n int) *Store {
	b.Helper()
	s, _ := testStore(b)
	rnd := rand.New(rand.NewPCG(3, 4))
	der := make([]byte, 500)
	for i := 0; i < n; {
		batch := make([]Record, 0, 10000)
		for ; len(batch) < cap(batch) && i < n; i++ {
			r := benchRecord(rnd, i, der)
			r.Revocation = &Revocation{At: t0, Reason: KeyCompromise, By: "bench"}
			batch = append(batch, r)
		}
		if err := s.Add(batch...); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// BenchmarkForEachRevokedEntry walks 100,000 revocations the way wsca crl
// does; ns/op is per full walk.
func BenchmarkForEachRevokedEntry(b *testing.B) {
	const n = 100_000
	s := fillRevoked(b, n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		count := 0
		err := s.ForEachRevokedEntry(ScopeIntermediate, func(*big.Int, time.Time, Reason, time.Time) error {
			count++
			return nil
		})
		if err != nil || count != n {
			b.Fatalf("%d entries, %v", count, err)
		}
	}
}

// TestScale measures Add and ForEachRevokedEntry at WSCA_STORE_SCALE records
// (e.g. 100000 or 1000000). It is skipped unless that variable is set: it
// writes a large file.
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("WSCA_STORE_SCALE"))
	if n <= 0 {
		t.Skip("set WSCA_STORE_SCALE=N to run")
	}
	s, path := testStore(t)
	rnd := rand.New(rand.NewPCG(5, 6))
	der := make([]byte, 500)
	const batchSize = 10_000
	var addTime time.Duration
	for i := 0; i < n; {
		batch := make([]Record, 0, batchSize)
		for ; len(batch) < batchSize && i < n; i++ {
			r := benchRecord(rnd, i, der)
			if i%10 == 0 {
				r.Revocation = &Revocation{At: t0, Reason: Superseded}
			}
			batch = append(batch, r)
		}
		start := time.Now()
		if err := s.Add(batch...); err != nil {
			t.Fatal(err)
		}
		addTime += time.Since(start)
	}
	start := time.Now()
	count := 0
	if err := s.ForEachRevokedEntry(ScopeIntermediate, func(*big.Int, time.Time, Reason, time.Time) error {
		count++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	walk := time.Since(start)
	start = time.Now()
	if err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	verify := time.Since(start)
	fi, _ := os.Stat(path)
	fmt.Printf("records %d (batches of %d): Add %v (%v/record); ForEachRevokedEntry %d revoked %v; VerifyAudit %v; file %d MiB\n",
		n, batchSize, addTime.Round(time.Millisecond), addTime/time.Duration(n), count, walk.Round(time.Millisecond),
		verify.Round(time.Millisecond), fi.Size()>>20)
}
