package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// auditFixture builds a store with 6 audit entries and returns its closed path.
func auditFixture(t *testing.T) string {
	t.Helper()
	s, path := testStore(t)
	if err := s.AppendAudit(AuditEntry{Action: "init", User: "ops", Detail: "created"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(rec(1, "a", "client"), rec(2, "b", "client"), rec(3, "c", "client")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(2), Revocation{At: t0, Reason: CertificateHold, By: "sec"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unrevoke(big.NewInt(2), "sec"); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAudit(); err != nil {
		t.Fatalf("fresh chain: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAuditEntries(t *testing.T) {
	path := auditFixture(t)
	s, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []AuditEntry
	if err := s.Audit(func(e AuditEntry) error { got = append(got, e); return nil }); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		action             Action
		serial, name, user string
	}{
		{"init", "", "", "ops"},
		{ActionIssue, "1", "a", "ops"},
		{ActionIssue, "2", "b", "ops"},
		{ActionIssue, "3", "c", "ops"},
		{ActionRevoke, "2", "b", "sec"},
		{ActionUnrevoke, "2", "b", "sec"},
	}
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d", len(got), len(want))
	}
	prev := ""
	for i, w := range want {
		e := got[i]
		if e.Seq != uint64(i+1) || e.Action != w.action || e.Serial != w.serial || e.Name != w.name || e.User != w.user {
			t.Errorf("entry %d = %+v, want %+v", i+1, e, w)
		}
		if e.Prev != prev || len(e.Hash) != 64 || e.Time.IsZero() {
			t.Errorf("entry %d chain fields: prev %q hash %q time %v", i+1, e.Prev, e.Hash, e.Time)
		}
		prev = e.Hash
	}
	if !got[1].Time.Equal(t0) {
		t.Errorf("issue entry time %v, want IssuedAt %v", got[1].Time, t0)
	}
	if !strings.Contains(got[4].Detail, "certificateHold") {
		t.Errorf("revoke detail %q lacks the reason", got[4].Detail)
	}
	if err := s.AppendAudit(AuditEntry{Action: "x"}); err == nil {
		t.Error("AppendAudit on read-only store succeeded")
	}
}

func TestVerifyAuditTampered(t *testing.T) {
	key := func(seq uint64) []byte { return seqKey(seq) }
	tests := []struct {
		name    string
		edit    func(tx *bolt.Tx) error
		wantSeq string
	}{
		{"edit bytes of entry 3", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			v := bytes.Replace(b.Get(key(3)), []byte(`"name":"b"`), []byte(`"name":"z"`), 1)
			return b.Put(key(3), v)
		}, "entry 3"},
		{"edit user, keep JSON valid", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			var e AuditEntry
			_ = json.Unmarshal(b.Get(key(5)), &e)
			e.User = "mallory"
			v, _ := json.Marshal(e)
			return b.Put(key(5), v)
		}, "entry 5"},
		{"garbage entry", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Put(key(2), []byte("{")) }, "entry 2"},
		{"delete entry 2", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(key(2)) }, "entry 2"},
		{"delete last entry", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(key(6)) }, "entry 6"},
		{"delete first entry", func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(key(1)) }, "entry 1"},
		{"swap entries 3 and 4", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAudit)
			v3, v4 := bytes.Clone(b.Get(key(3))), bytes.Clone(b.Get(key(4)))
			if err := b.Put(key(3), v4); err != nil {
				return err
			}
			return b.Put(key(4), v3)
		}, "entry 3"},
		{"delete entry 4, renumber and relink rest", func(tx *bolt.Tx) error {
			// Re-keying without rehashing is caught at the first moved entry.
			b := tx.Bucket(bucketAudit)
			v5, v6 := bytes.Clone(b.Get(key(5))), bytes.Clone(b.Get(key(6)))
			_ = b.Delete(key(6))
			_ = b.Put(key(4), v5)
			return b.Put(key(5), v6)
		}, "entry 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := auditFixture(t)
			rawUpdate(t, path, tt.edit)
			// Without the anchor (a CA from before anchors): VerifyAudit alone catches the edit.
			// TestAnchorCatchesTailDeletion covers the anchor's view of the same edits.
			if err := os.Remove(AnchorPath(path)); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			err = s.VerifyAudit()
			if !errors.Is(err, ErrAuditTampered) {
				t.Fatalf("VerifyAudit: %v, want ErrAuditTampered", err)
			}
			if !strings.Contains(err.Error(), tt.wantSeq+":") {
				t.Fatalf("VerifyAudit: %v, want it to name %s", err, tt.wantSeq)
			}
		})
	}
}

func TestAppendAuditContinuesChain(t *testing.T) {
	path := auditFixture(t)
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	at := time.Date(2030, 1, 1, 0, 0, 0, 5, time.FixedZone("y", -7200))
	if err := s.AppendAudit(AuditEntry{Time: at, Action: "crl", Detail: "number=1", Seq: 99, Hash: "forged"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(AuditEntry{}); err == nil {
		t.Fatal("empty action accepted")
	}
	if err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	var last AuditEntry
	_ = s.Audit(func(e AuditEntry) error { last = e; return nil })
	if last.Seq != 7 || last.Action != "crl" || !last.Time.Equal(at) {
		t.Fatalf("last entry %+v", last)
	}
}
