package store

import (
	"encoding/binary"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// revokedFixture is a closed database whose last committed transaction revoked serial 2 (keyCompromise).
func revokedFixture(t *testing.T) string {
	t.Helper()
	s, path := testStore(t)
	if err := s.Add(rec(1, "alice", "client"), rec(2, "mallory", "client")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(2), Revocation{At: t0, Reason: KeyCompromise, By: "sec"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// flipNewestMeta flips one byte of the root-bucket field in the meta page with the higher transaction id, as a
// bit error on disk would, and returns that page's index.
func flipNewestMeta(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ps := int(binary.NativeEndian.Uint32(data[metaPageHeader+8:]))
	tx := func(i int) uint64 { return binary.NativeEndian.Uint64(data[i*ps+metaPageHeader+metaTxIDOffset:]) }
	newest := 0
	if tx(1) > tx(0) {
		newest = 1
	}
	data[newest*ps+metaPageHeader+20] ^= 0x40
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return newest
}

// TestAnchorDetectsMetaPageFallback reproduces bbolt's silent fallback on a real file: a flipped byte in the
// newest meta page makes bbolt open the state before the keyCompromise revocation, with an intact audit chain.
// Open (read-write and read-only) reports the loss by name; MetaPageDamage names the page.
func TestAnchorDetectsMetaPageFallback(t *testing.T) {
	path := revokedFixture(t)
	page := flipNewestMeta(t, path)

	// bbolt itself opens the older state without a word, and the audit chain there is consistent.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		t.Fatalf("bbolt no longer falls back silently (%v): revisit anchor.go", err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRevoked).Get(mustSerialKey(t, 2)) != nil {
			t.Fatal("the flip did not undo the revocation: the test proves nothing")
		}
		return nil
	})
	db.Close()

	for _, ro := range []bool{false, true} {
		_, err := Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrRolledBack) {
			t.Fatalf("Open(ReadOnly=%t) = %v, want ErrRolledBack", ro, err)
		}
		for _, want := range []string{"lost transactions", "revoke mallory (serial 2)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Open(ReadOnly=%t): %v\nwant it to mention %q", ro, err, want)
			}
		}
	}
	msg, err := metaPageDamage(path)
	if err != nil || !strings.Contains(msg, "meta page "+string(rune('0'+page))+" fails its checksum") {
		t.Errorf("MetaPageDamage = %q, %v", msg, err)
	}
}

func mustSerialKey(t *testing.T, n int64) []byte {
	t.Helper()
	k, err := serialKey(big.NewInt(n))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestAnchorOlderCopy: an older copy of wsca.db put in place of the current one is a rollback too.
func TestAnchorOlderCopy(t *testing.T) {
	s, path := testStore(t)
	if err := s.Add(rec(1, "alice", "client")); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(1), Revocation{At: t0, Reason: KeyCompromise, By: "sec"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Open(path, Options{})
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "audit entries 2..2, the last of them revoke alice") {
		t.Fatalf("Open = %v", err)
	}
	if msg, _ := metaPageDamage(path); msg != "" {
		t.Errorf("intact file reported as damaged: %s", msg)
	}
	// Accepting the loss: move the anchor aside; the next read-write open anchors the database as it is.
	if err := os.Rename(AnchorPath(path), AnchorPath(path)+".lost"); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if _, err := os.Stat(AnchorPath(path)); err != nil {
		t.Fatalf("no anchor written: %v", err)
	}
}

// TestAnchorBehindIsNoAlarm simulates a crash between bbolt's commit and the anchor write: the anchor is one
// transaction behind the database. That must open normally, and the next commit brings the anchor up to date.
func TestAnchorBehindIsNoAlarm(t *testing.T) {
	s, path := testStore(t)
	if err := s.Add(rec(1, "alice", "client")); err != nil {
		t.Fatal(err)
	}
	behind, err := os.ReadFile(AnchorPath(path))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(1), Revocation{At: t0, Reason: KeyCompromise, By: "sec"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.WriteFile(AnchorPath(path), behind, 0o600); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("an anchor behind the database is an alarm: %v", err)
	}
	if err := s2.AppendAudit(AuditEntry{Action: "crl"}); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	a, err := readAnchor(path)
	if err != nil || a.AuditSeq != 3 || a.Last.Action != "crl" {
		t.Fatalf("anchor after the next commit: %+v, %v", a, err)
	}
}

// TestAnchorMissingAndReadOnly: a CA from before anchors has none; a read-only open leaves it so (a read-only
// directory works), a read-write open creates it.
func TestAnchorMissingAndReadOnly(t *testing.T) {
	path := revokedFixture(t)
	if err := os.Remove(AnchorPath(path)); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(AnchorPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read-only open wrote the anchor: %v", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	a, err := readAnchor(path)
	if err != nil || a == nil || a.AuditSeq != 3 || a.Last.Action != ActionRevoke {
		t.Fatalf("anchor %+v, %v", a, err)
	}
}

// TestAnchorCatchesTailDeletion: an edit outside wsca that deletes the last audit entry (and keeps the head
// record) is refused at open, before VerifyAudit runs.
func TestAnchorCatchesTailDeletion(t *testing.T) {
	path := auditFixture(t)
	rawUpdate(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(seqKey(6)) })
	_, err := Open(path, Options{ReadOnly: true})
	if !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "audit entry 6 (unrevoke b (serial 2)") {
		t.Fatalf("Open = %v", err)
	}
}

func TestAnchorDamaged(t *testing.T) {
	path := revokedFixture(t)
	for _, bad := range []string{"", "{", `{"format":2}`, `{"format":1,"audit_seq":3,"audit_hash":"ab"}`, `{"format":1,"extra":1}`} {
		if err := os.WriteFile(AnchorPath(path), []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path, Options{}); !errors.Is(err, ErrRolledBack) || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("anchor %q: Open = %v", bad, err)
		}
	}
}

// BenchmarkAnchorWrite measures what every committed write transaction pays for its anchor (temporary file,
// fsync, rename) on the test machine's file system.
func BenchmarkAnchorWrite(b *testing.B) {
	path := b.TempDir() + "/wsca.db"
	a := Anchor{Format: anchorFormat, TxID: 1, AuditSeq: 1, AuditHash: strings.Repeat("ab", 32)}
	for b.Loop() {
		a.TxID++
		if err := writeAnchor(path, a); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOpenFollowsReplacedFile: a process waiting for the lock of a wsca.db that wsca restore renames away
// meanwhile must end up with the file now at the path, not the replaced one.
func TestOpenFollowsReplacedFile(t *testing.T) {
	s1, path := testStore(t)
	if err := s1.Add(rec(1, "old", "client")); err != nil {
		t.Fatal(err)
	}
	other := path + ".new"
	s3, err := Create(other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s3.Add(rec(2, "new", "client")); err != nil {
		t.Fatal(err)
	}
	s3.Close()

	type result struct {
		s   *Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := Open(path, Options{Timeout: 10 * time.Second, ReadOnly: true})
		done <- result{s, err}
	}()
	time.Sleep(200 * time.Millisecond) // the goroutine is now waiting for s1's lock
	for _, mv := range [][2]string{{path, path + ".old"}, {AnchorPath(path), AnchorPath(path) + ".old"},
		{other, path}, {AnchorPath(other), AnchorPath(path)}} {
		if err := os.Rename(mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	s1.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.s.Close()
	if _, err := r.s.Get(big.NewInt(2)); err != nil {
		t.Fatalf("Open locked the replaced file: %v", err)
	}
}

// FuzzReadAnchor: whatever the anchor file holds, reading it returns an anchor or an error, never a panic.
func FuzzReadAnchor(f *testing.F) {
	f.Add([]byte(`{"format":1,"txid":3,"audit_seq":1,"audit_hash":"` + strings.Repeat("ab", 32) + `","last":{"time":"2026-01-02T03:04:05Z","action":"revoke"}}`))
	f.Add([]byte(`{"format":1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := t.TempDir() + "/wsca.db"
		if err := os.WriteFile(AnchorPath(path), data, 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := readAnchor(path)
		if err == nil && (a == nil || a.Format != anchorFormat) {
			t.Fatalf("accepted %q as %+v", data, a)
		}
	})
}
