package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "wsca.db")
	s, err := Create(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const tok = "0123456789abcdef0123456789abcdef"
	want := Token{Name: "dev1", Kind: "client", URIs: []string{"spiffe://x/dev1"}, Validity: time.Hour,
		Expires: now.Add(time.Hour), CreatedAt: now, CreatedBy: "admin"}
	if err := s.AddToken(tok, want); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToken(tok, want); err == nil {
		t.Error("the same token was stored twice")
	}
	if err := s.AddToken("x", Token{Name: "dev1"}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("token without expiry: %v", err)
	}
	if got, err := s.PeekToken(tok, now); err != nil || got.Name != "dev1" || got.URIs[0] != "spiffe://x/dev1" {
		t.Fatalf("peek: %+v, %v", got, err)
	}
	if _, err := s.PeekToken(tok, now.Add(2*time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("peek after expiry: %v", err)
	}
	if got, err := s.ConsumeToken(tok, now, "127.0.0.1"); err != nil || got.Name != "dev1" {
		t.Fatalf("consume: %+v, %v", got, err)
	}
	if _, err := s.ConsumeToken(tok, now, "127.0.0.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second use: %v, want ErrNotFound", err)
	}
	if _, err := s.ConsumeToken("ffffffffffffffffffffffffffffffff", now, "127.0.0.1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown token: %v", err)
	}
	// An expired token is refused and deleted, and the refusal is audited.
	const old = "fedcba9876543210fedcba9876543210"
	if err := s.AddToken(old, Token{Name: "dev2", Expires: now.Add(time.Minute), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ConsumeToken(old, now.Add(time.Hour), "10.0.0.1"); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired: %v", err)
	}
	if _, err := s.PeekToken(old, now); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token kept: %v", err)
	}
	var actions []string
	if err := s.Audit(func(e AuditEntry) error { actions = append(actions, string(e.Action)+" "+e.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if got := len(actions); got != 4 || actions[0] != "token dev1" || actions[1] != "token-use dev1" || actions[3] != "token-use dev2" {
		t.Errorf("audit: %q", actions)
	}
	if err := s.VerifyAudit(); err != nil {
		t.Error(err)
	}
	s.Close()
	// Only the hash is stored: the database file does not contain the token.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(tok)) || bytes.Contains(data, []byte(old)) {
		t.Error("wsca.db holds a token in clear")
	}
}
