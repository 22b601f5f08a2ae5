package store

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestCRLTargets: copy targets are added once, listed sorted, survive a reopen, are removed once, leave an
// audit entry per change, and only absolute clean paths are accepted.
func TestCRLTargets(t *testing.T) {
	s, path := testStore(t)
	for _, p := range []string{"/srv/b/crl.pem", "/etc/wsca-relay/crl.pem", "/srv/b/crl.pem"} {
		if _, err := s.AddCRLTarget(p, "ops"); err != nil {
			t.Fatal(err)
		}
	}
	if added, err := s.AddCRLTarget("/srv/b/crl.pem", "ops"); added || err != nil {
		t.Fatalf("adding a registered target again: added=%v err=%v", added, err)
	}
	if err := s.SetSetting("crl_url", "http://x/crl.pem"); err != nil {
		t.Fatal(err)
	}
	s = reopen(t, s, path)
	got, err := s.CRLTargets()
	if want := []string{"/etc/wsca-relay/crl.pem", "/srv/b/crl.pem"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("CRLTargets = %q, %v; want %q", got, err, want)
	}
	if removed, err := s.RemoveCRLTarget("/srv/b/crl.pem", "ops"); !removed || err != nil {
		t.Fatalf("remove: %v %v", removed, err)
	}
	if removed, err := s.RemoveCRLTarget("/srv/b/crl.pem", "ops"); removed || err != nil {
		t.Fatalf("remove again: %v %v", removed, err)
	}
	if got, _ := s.CRLTargets(); !slices.Equal(got, []string{"/etc/wsca-relay/crl.pem"}) {
		t.Fatalf("after remove: %q", got)
	}
	if v, _ := s.Setting("crl_url"); v != "http://x/crl.pem" {
		t.Fatalf("other settings touched: %q", v)
	}
	var details []string
	s.Audit(func(e AuditEntry) error {
		if e.Action == ActionTarget {
			details = append(details, e.Detail)
		}
		return nil
	})
	if len(details) != 3 || !strings.HasPrefix(details[2], "removed copy target /srv/b/crl.pem") {
		t.Fatalf("audit: %q", details)
	}
	if err := s.VerifyAudit(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"relative/crl.pem", "/a/../b", "", "/a/\x00b"} {
		if _, err := s.AddCRLTarget(bad, "ops"); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("AddCRLTarget(%q) = %v, want ErrInvalidRecord", bad, err)
		}
	}
}
