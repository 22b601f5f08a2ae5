package store

import (
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTmpMutate(t *testing.T) {
	s, path := testStore(t)
	if err := s.Add(rec(1, "a", "client"), rec(2, "b", "intermediate")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	valid, _ := os.ReadFile(path)
	rnd := rand.New(rand.NewPCG(7, 8))
	for i := range 3000 {
		data := append([]byte(nil), valid...)
		for range 1 + rnd.IntN(8) {
			data[rnd.IntN(len(data))] = byte(rnd.UintN(256))
		}
		p := filepath.Join(t.TempDir(), "wsca.db")
		os.WriteFile(p, data, 0o600)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s, err := Open(p, Options{ReadOnly: true, Timeout: time.Second})
			if err != nil {
				return
			}
			defer s.Close()
			_ = s.ForEach(func(Record) error { return nil })
			_ = s.ForEachRevokedEntry(ScopeIntermediate, func(*big.Int, time.Time, Reason, time.Time) error { return nil })
			_, _ = s.ByName("a")
			_ = s.VerifyAudit()
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			os.WriteFile("/tmp/store_hang.db", data, 0o600)
			panic("hang at iteration " + string(rune('0'+i%10)))
		}
	}
}
