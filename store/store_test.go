package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// clock is a test clock that advances one second per call.
func clock() func() time.Time {
	now := t0
	return func() time.Time { now = now.Add(time.Second); return now }
}

func testStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "wsca.db")
	s, err := Create(path, Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func rec(serial int64, name string, kind Kind) Record {
	return Record{
		Serial: big.NewInt(serial), Name: name, Kind: kind, Subject: "CN=" + name,
		NotBefore: t0.Add(time.Duration(serial) * time.Minute), NotAfter: t0.Add(365 * 24 * time.Hour),
		FingerprintSHA256: "ab", DER: []byte{0x30, byte(serial)}, IssuedAt: t0, IssuedBy: "ops",
	}
}

func reopen(t *testing.T, s *Store, path string) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{Now: clock()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

func TestCreateOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "wsca.db")
	s, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := s.Add(rec(1, "a", "client")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path, Options{}); !errors.Is(err, ErrExists) {
		t.Fatalf("Create over existing: %v, want ErrExists", err)
	}
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(big.NewInt(1)); err != nil {
		t.Fatalf("record lost by second Create: %v", err)
	}
	s.Close()

	missing := filepath.Join(dir, "nope.db")
	_, err = Open(missing, Options{})
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("Open missing: %v, want ErrNotFound naming the path", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Open created the missing file")
	}
	_, err = Open(missing, Options{ReadOnly: true})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("read-only Open missing: %v", err)
	}

	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Add(rec(2, "b", "client")); err == nil {
		t.Fatal("Add on read-only store succeeded")
	}
}

func TestAddValidation(t *testing.T) {
	s, _ := testStore(t)
	big21 := new(big.Int).Lsh(big.NewInt(1), 160) // 21 bytes
	max20 := new(big.Int).Sub(big21, big.NewInt(1))
	tests := []struct {
		name   string
		mutate func(*Record)
		ok     bool
	}{
		{"ok", func(*Record) {}, true},
		{"max 20-byte serial", func(r *Record) { r.Serial = max20 }, true},
		{"nil serial", func(r *Record) { r.Serial = nil }, false},
		{"zero serial", func(r *Record) { r.Serial = big.NewInt(0) }, false},
		{"negative serial", func(r *Record) { r.Serial = big.NewInt(-5) }, false},
		{"21-byte serial", func(r *Record) { r.Serial = big21 }, false},
		{"empty name", func(r *Record) { r.Name = "" }, false},
		{"NUL in name", func(r *Record) { r.Name = "a\x00b" }, false},
		{"empty DER", func(r *Record) { r.DER = nil }, false},
		{"empty kind", func(r *Record) { r.Kind = "" }, false},
		{"revoked without time", func(r *Record) { r.Revocation = &Revocation{Reason: KeyCompromise} }, false},
		{"revoked removeFromCRL", func(r *Record) { r.Revocation = &Revocation{At: t0, Reason: RemoveFromCRL} }, false},
		{"revoked root", func(r *Record) { r.Kind = "root"; r.Revocation = &Revocation{At: t0} }, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rec(int64(100+i), "v", "client")
			tt.mutate(&r)
			err := s.Add(r)
			if tt.ok && err != nil {
				t.Fatalf("Add: %v", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Add: %v, want ErrInvalidRecord", err)
			}
			if tt.ok {
				got, err := s.Get(r.Serial)
				if err != nil || got.Serial.Cmp(r.Serial) != 0 {
					t.Fatalf("Get: %v %v", got.Serial, err)
				}
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	s, path := testStore(t)
	serial, _ := new(big.Int).SetString("ff00000000000000000000000000000000000001", 16)
	want := Record{
		Serial: serial, Name: "alice@example.com", Kind: "client", Subject: "CN=alice,O=Example",
		NotBefore: t0, NotAfter: t0.Add(90 * 24 * time.Hour), FingerprintSHA256: "0123abcd",
		DER: []byte{0x30, 0x82, 0x01, 0x00, 0xff}, IssuedAt: t0.Add(time.Second), IssuedBy: "root@host",
		Renews: big.NewInt(0x1234),
	}
	if err := s.Add(want); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	got, err := s.Get(serial)
	if err != nil {
		t.Fatal(err)
	}
	if got.Serial.Cmp(want.Serial) != 0 || got.Renews.Cmp(want.Renews) != 0 || !bytes.Equal(got.DER, want.DER) ||
		got.Name != want.Name || got.Kind != want.Kind || got.Subject != want.Subject ||
		!got.NotBefore.Equal(want.NotBefore) || !got.NotAfter.Equal(want.NotAfter) ||
		got.FingerprintSHA256 != want.FingerprintSHA256 || !got.IssuedAt.Equal(want.IssuedAt) ||
		got.IssuedBy != want.IssuedBy || got.Revocation != nil {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if _, err := s.Get(big.NewInt(7)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get unknown: %v", err)
	}
	if _, err := s.Get(nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get nil: %v", err)
	}
}

func countAudit(t *testing.T, s *Store) int {
	t.Helper()
	n := 0
	if err := s.Audit(func(AuditEntry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDuplicateSerialWritesNothing(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Add(rec(5, "a", "client")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		batch []Record
	}{
		{"existing", []Record{rec(1, "new1", "client"), rec(5, "dup", "client"), rec(9, "new9", "client")}},
		{"within batch", []Record{rec(2, "x", "client"), rec(2, "y", "client")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Add(tt.batch...); !errors.Is(err, ErrDuplicateSerial) {
				t.Fatalf("Add: %v, want ErrDuplicateSerial", err)
			}
			for _, r := range tt.batch {
				if r.Serial.Int64() == 5 {
					continue
				}
				if _, err := s.Get(r.Serial); !errors.Is(err, ErrNotFound) {
					t.Errorf("serial %v written despite failure: %v", r.Serial, err)
				}
				if _, err := s.ByName(r.Name); !errors.Is(err, ErrNotFound) {
					t.Errorf("name %q indexed despite failure: %v", r.Name, err)
				}
			}
			if n := countAudit(t, s); n != 1 {
				t.Errorf("audit has %d entries, want 1", n)
			}
		})
	}
	got, _ := s.Get(big.NewInt(5))
	if got.Name != "a" {
		t.Fatalf("existing record overwritten: %+v", got)
	}
}

func TestByName(t *testing.T) {
	s, _ := testStore(t)
	// Serial order differs from NotBefore order on purpose.
	a1, a2, a3 := rec(30, "alice", "client"), rec(10, "alice", "client"), rec(20, "alice", "client")
	a1.NotBefore, a2.NotBefore, a3.NotBefore = t0, t0.Add(2*time.Hour), t0.Add(time.Hour)
	if err := s.Add(a1, a2, a3, rec(11, "alic", "client"), rec(12, "alice2", "client"), rec(13, "alice\x01", "server")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []int64
	}{
		{"alice", []int64{30, 20, 10}},
		{"alic", []int64{11}},
		{"alice2", []int64{12}},
		{"alice\x01", []int64{13}},
	}
	for _, tt := range tests {
		got, err := s.ByName(tt.name)
		if err != nil {
			t.Fatalf("ByName(%q): %v", tt.name, err)
		}
		var serials []int64
		for _, r := range got {
			serials = append(serials, r.Serial.Int64())
		}
		if !slices.Equal(serials, tt.want) {
			t.Errorf("ByName(%q) = %v, want %v", tt.name, serials, tt.want)
		}
	}
	if _, err := s.ByName("bob"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "bob") {
		t.Fatalf("ByName unknown: %v", err)
	}
	if _, err := s.ByName(""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ByName empty: %v", err)
	}
}

func TestForEachSerialOrder(t *testing.T) {
	s, _ := testStore(t)
	serials := []int64{0x1_0000, 3, 0xff, 0x100, 1, 0x7fffffff}
	var recs []Record
	for _, n := range serials {
		recs = append(recs, rec(n, "n", "client"))
	}
	if err := s.Add(recs...); err != nil {
		t.Fatal(err)
	}
	var got []int64
	if err := s.ForEach(func(r Record) error { got = append(got, r.Serial.Int64()); return nil }); err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(serials)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("ForEach order %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	err := s.ForEach(func(Record) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Fatalf("ForEach with error: %v after %d calls", err, n)
	}
}

func TestStatus(t *testing.T) {
	r := rec(1, "a", "client")
	tests := []struct {
		name string
		rev  *Revocation
		now  time.Time
		want string
	}{
		{"valid", nil, r.NotBefore, StatusValid},
		{"at NotAfter still valid", nil, r.NotAfter, StatusValid},
		{"expired", nil, r.NotAfter.Add(time.Second), StatusExpired},
		{"revoked", &Revocation{At: t0}, t0, StatusRevoked},
		{"revoked and expired", &Revocation{At: t0}, r.NotAfter.Add(time.Hour), StatusRevoked},
	}
	for _, tt := range tests {
		r.Revocation = tt.rev
		if got := r.Status(tt.now); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestJSONRecord(t *testing.T) {
	r := rec(0xabc, "alice", "client")
	r.NotBefore = time.Date(2026, 1, 2, 3, 4, 5, 678, time.FixedZone("x", 3600))
	tests := []struct {
		name string
		rev  *Revocation
		want string
	}{
		{"valid", nil, `{"serial":"abc","name":"alice","kind":"client","not_before":"2026-01-02T02:04:05Z",` +
			`"not_after":"2027-01-02T03:04:05Z","status":"valid","revoked_at":null,"reason":null}`},
		{"revoked", &Revocation{At: t0, Reason: KeyCompromise}, `{"serial":"abc","name":"alice","kind":"client",` +
			`"not_before":"2026-01-02T02:04:05Z","not_after":"2027-01-02T03:04:05Z","status":"revoked",` +
			`"revoked_at":"2026-01-02T03:04:05Z","reason":"keyCompromise"}`},
	}
	for _, tt := range tests {
		r.Revocation = tt.rev
		b, err := json.Marshal(r.JSON(t0))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, b, tt.want)
		}
	}
}

// rawUpdate edits a closed database with bbolt directly, as an attacker
// with file access would.
func rawUpdate(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestSchemaErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(tx *bolt.Tx) error
	}{
		{"newer version", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketMeta).Put(keySchemaVersion, []byte{0, 0, 0, 2})
		}},
		{"no version", func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keySchemaVersion) }},
		{"no meta", func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketMeta) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, path := testStore(t)
			s.Close()
			rawUpdate(t, path, tt.edit)
			if _, err := Open(path, Options{}); !errors.Is(err, ErrSchema) {
				t.Fatalf("Open: %v, want ErrSchema", err)
			}
		})
	}
}

func TestCallbackPanicIsNotCorruption(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Add(rec(1, "a", "client")); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r != "callback bug" {
			t.Fatalf("recovered %v, want the callback's own panic", r)
		}
		// The store is still usable: the transaction was rolled back.
		if _, err := s.NextCRLNumber(ScopeRoot); err != nil {
			t.Fatal(err)
		}
	}()
	_ = s.ForEach(func(Record) error { panic("callback bug") })
	t.Fatal("panic swallowed")
}

// TestNames lists each name once, in byte order, without reading records.
func TestNames(t *testing.T) {
	s, _ := testStore(t)
	if err := s.Add(rec(1, "bob", "client"), rec(2, "alice", "client"), rec(3, "bob", "client"), rec(4, "Alice", "client")); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := s.Names(func(n string) error { got = append(got, n); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "Alice,alice,bob" {
		t.Errorf("Names = %q, want Alice, alice, bob once each", got)
	}
	stop := errors.New("stop")
	if err := s.Names(func(string) error { return stop }); err != stop {
		t.Errorf("an error from fn = %v, want it returned as is", err)
	}
}
