package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pickupStore is a store whose clock the test sets.
func pickupStore(t *testing.T) (*Store, string, *atomic.Int64) {
	t.Helper()
	var now atomic.Int64
	now.Store(t0.UnixNano())
	path := filepath.Join(t.TempDir(), "wsca.db")
	s, err := Create(path, Options{Now: func() time.Time { return time.Unix(0, now.Load()).UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path, &now
}

func addPickup(t *testing.T, s *Store, token string, ttl time.Duration) {
	t.Helper()
	p := Pickup{Name: "alice", Serial: "1f", FileName: "alice.p12", Created: t0, Expires: t0.Add(ttl), IssuedBy: "ops", Bundle: []byte("p12 bytes")}
	if err := s.AddPickups([][32]byte{PickupKey(token)}, []Pickup{p}); err != nil {
		t.Fatal(err)
	}
}

func auditActions(t *testing.T, s *Store) []string {
	t.Helper()
	var got []string
	if err := s.Audit(func(e AuditEntry) error { got = append(got, string(e.Action)+" "+e.Detail); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPickupViewThenDownloadOnce(t *testing.T) {
	s, _, _ := pickupStore(t)
	addPickup(t, s, "tok-a", time.Hour)
	ev := PickupEvent{Key: PickupKey("tok-a"), User: "publish", Detail: `addr=127.0.0.1 ua="curl"`}
	p, err := s.TakePickup(ev, false)
	if err != nil || p.Name != "alice" || len(p.Bundle) != 0 || p.BundleLen != 9 {
		t.Fatalf("view: %+v, %v", p, err)
	}
	p, err = s.TakePickup(ev, true)
	if err != nil || !bytes.Equal(p.Bundle, []byte("p12 bytes")) {
		t.Fatalf("download: %+v, %v", p, err)
	}
	for _, consume := range []bool{false, true} {
		p, err = s.TakePickup(ev, consume)
		if !errors.Is(err, ErrPickupConsumed) || p == nil || len(p.Bundle) != 0 || p.ClosedAt.IsZero() {
			t.Fatalf("after download (consume %v): %+v, %v", consume, p, err)
		}
	}
	if _, err := s.TakePickup(PickupEvent{Key: PickupKey("tok-b")}, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown token: %v", err)
	}
	got := auditActions(t, s)
	want := []Action{ActionPickupStore, ActionPickupView, ActionPickupDownload, ActionPickupRefused, ActionPickupRefused, ActionPickupRefused}
	if len(got) != len(want) {
		t.Fatalf("audit: %q", got)
	}
	for i := range want {
		if !bytes.HasPrefix([]byte(got[i]), []byte(string(want[i])+" token ")) {
			t.Errorf("audit %d: %q, want %s", i, got[i], want[i])
		}
	}
	if !bytes.Contains([]byte(got[1]), []byte(`ua="curl"`)) {
		t.Errorf("view entry lacks the request detail: %q", got[1])
	}
}

func TestPickupExpiry(t *testing.T) {
	s, _, now := pickupStore(t)
	addPickup(t, s, "tok-a", time.Hour)
	addPickup(t, s, "tok-b", 2*time.Hour)
	if n, err := s.ExpirePickups("publish"); n != 0 || err != nil {
		t.Fatalf("nothing due: %d, %v", n, err)
	}
	now.Store(t0.Add(time.Hour).UnixNano())
	if _, err := s.TakePickup(PickupEvent{Key: PickupKey("tok-a")}, true); !errors.Is(err, ErrPickupExpired) {
		t.Fatalf("expired download: %v", err)
	}
	now.Store(t0.Add(3 * time.Hour).UnixNano())
	if n, err := s.ExpirePickups("publish"); n != 1 || err != nil {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	if n, _, err := s.PendingPickups(); n != 0 || err != nil {
		t.Fatalf("pending after sweep: %d, %v", n, err)
	}
	// The bundle bytes are gone from the stored records, not just flagged.
	for _, tok := range []string{"tok-a", "tok-b"} {
		err := s.view(func(tx *bolt.Tx) error {
			_, p, err := getPickup(tx, PickupKey(tok))
			if err == nil && (p.State != PickupExpired || len(p.Bundle) != 0) {
				err = fmt.Errorf("%s: state %s, %d bundle bytes", tok, p.State, len(p.Bundle))
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var expired int
	for _, a := range auditActions(t, s) {
		if strings.HasPrefix(a, string(ActionPickupExpire)+" ") {
			expired++
		}
	}
	if expired != 2 {
		t.Fatalf("%d expiry audit entries, want 2", expired)
	}
}

// TestPickupRaceSingleUse: several openers of the same file (as concurrent wsca publish requests do)
// download at once; exactly one gets the bundle.
func TestPickupRaceSingleUse(t *testing.T) {
	s, path, _ := pickupStore(t)
	addPickup(t, s, "tok-a", time.Hour)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := Open(path, Options{Timeout: 10 * time.Second, Now: func() time.Time { return t0 }})
			if err != nil {
				results <- err
				return
			}
			defer st.Close()
			_, err = st.TakePickup(PickupEvent{Key: PickupKey("tok-a")}, true)
			results <- err
		}()
	}
	wg.Wait()
	close(results)
	ok, used := 0, 0
	for err := range results {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, ErrPickupConsumed):
			used++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if ok != 1 || used != n-1 {
		t.Fatalf("%d downloads granted, %d refused as used; want 1 and %d", ok, used, n-1)
	}
}

// TestPickupRevoked: a certificate revoked before its pickup is not handed out, and its bundle is deleted.
func TestPickupRevoked(t *testing.T) {
	s, _, _ := pickupStore(t)
	if err := s.Add(rec(0x1f, "alice", "client")); err != nil {
		t.Fatal(err)
	}
	addPickup(t, s, "tok-a", time.Hour)
	if _, err := s.Revoke(big.NewInt(0x1f), Revocation{At: t0, Reason: KeyCompromise, By: "sec"}); err != nil {
		t.Fatal(err)
	}
	p, err := s.TakePickup(PickupEvent{Key: PickupKey("tok-a")}, true)
	if !errors.Is(err, ErrPickupRevoked) || p == nil || p.State != PickupRevoked || len(p.Bundle) != 0 {
		t.Fatalf("download of a revoked certificate: %+v, %v", p, err)
	}
	if n, _, _ := s.PendingPickups(); n != 0 {
		t.Fatalf("%d pending after the refusal", n)
	}
}
