package store

import (
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestBackup(t *testing.T) {
	s, _ := testStore(t)
	var recs []Record
	for i := int64(1); i <= 50; i++ {
		recs = append(recs, rec(i, "n", "client"))
	}
	if err := s.Add(recs...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(7), Revocation{At: t0, Reason: KeyCompromise}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("Backup: %d, %v (buffer %d)", n, err, buf.Len())
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var orig, copied []string
	for _, x := range []struct {
		s   *Store
		out *[]string
	}{{s, &orig}, {b, &copied}} {
		err := x.s.ForEach(func(r Record) error {
			j, _ := json.Marshal(r.JSON(t0))
			*x.out = append(*x.out, string(j))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(copied) != 50 || !slices.Equal(orig, copied) {
		t.Fatalf("backup has %d records, differs: %v", len(copied), !slices.Equal(orig, copied))
	}
	if err := b.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
}

// TestBackupWhileWriting checks that Backup is one consistent snapshot
// while another goroutine keeps adding records.
func TestBackupWhileWriting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wsca.db")
	s, err := Create(path, Options{}) // real clock: the writer goroutine shares it
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	done := make(chan error, 1)
	go func() {
		for i := int64(0); i < 40; i++ {
			batch := make([]Record, 50)
			for j := range batch {
				batch[j] = rec(1+i*50+int64(j), "w", "client")
			}
			if err := s.Add(batch...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range 5 {
		var buf bytes.Buffer
		if _, err := s.Backup(&buf); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "copy.db")
		if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		records, entries := 0, 0
		_ = c.ForEach(func(Record) error { records++; return nil })
		_ = c.Audit(func(AuditEntry) error { entries++; return nil })
		if err := c.VerifyAudit(); err != nil || records%50 != 0 || records != entries {
			t.Fatalf("snapshot: %d records, %d audit entries, verify %v", records, entries, err)
		}
		c.Close()
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
