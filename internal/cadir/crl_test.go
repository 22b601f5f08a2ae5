package cadir

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// clockDir is a fresh CA (real keys, real bbolt in a temp dir) whose clock the test moves.
func clockDir(t *testing.T) (*Dir, *time.Time) {
	t.Helper()
	clock := time.Now().UTC().Truncate(time.Second)
	d := &Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: func() time.Time { return clock },
		User: "test", LockTimeout: time.Second}
	if _, err := d.Init(InitRequest{Hierarchy: ca.HierarchyRequest{Name: "Test"}}); err != nil {
		t.Fatal(err)
	}
	return d, &clock
}

// takeRootOffline moves root.key out of the CA directory, as an operator keeping the root offline does.
func takeRootOffline(t *testing.T, d *Dir) {
	t.Helper()
	if err := os.Rename(d.File(RootKeyFile), filepath.Join(t.TempDir(), RootKeyFile)); err != nil {
		t.Fatal(err)
	}
}

// revokeInStore revokes the intermediate in the database only, as a CA revocation the root CRL must follow.
func revokeInStore(t *testing.T, d *Dir) {
	t.Helper()
	inter, _, err := d.Chain()
	if err != nil {
		t.Fatal(err)
	}
	st, err := d.OpenStore(false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Revoke(inter.SerialNumber, store.Revocation{At: d.now(), Reason: store.CACompromise, By: "t"}); err != nil {
		t.Fatal(err)
	}
}

// TestGenerateCRLPlan walks every branch of the root-CRL decision (single CA is TestGenerateCRLSingleCA):
// not due, re-signed when due or after a CA revocation, reused while the root key is offline (with its
// warnings), refused when the stored one is unusable or stale; and --if-due skipping only when nothing is due.
func TestGenerateCRLPlan(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name    string
		setup   func(t *testing.T, d *Dir, clock *time.Time)
		opt     CRLOptions
		skipped bool
		resign  bool
		entries int
		warning string // substring of the one warning; empty: none
		wantErr error
	}{
		{name: "fresh, if-due", opt: CRLOptions{IfDue: true}, skipped: true},
		{name: "fresh, forced", opt: CRLOptions{}},
		{name: "intermediate due", opt: CRLOptions{IfDue: true},
			setup: func(t *testing.T, d *Dir, clock *time.Time) { *clock = clock.Add(4 * day) }},
		{name: "leaf revoked, if-due", opt: CRLOptions{IfDue: true}, entries: 1,
			setup: func(t *testing.T, d *Dir, clock *time.Time) {
				if _, err := d.Issue(IssueRequest{Name: "alice", OutDir: t.TempDir()}); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Revoke(RevokeRequest{Target: "alice"}); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "root due by age", opt: CRLOptions{IfDue: true}, resign: true,
			setup: func(t *testing.T, d *Dir, clock *time.Time) { *clock = clock.Add(200 * day) }},
		{name: "root due after CA revocation", resign: true, entries: 0,
			setup: func(t *testing.T, d *Dir, clock *time.Time) { revokeInStore(t, d) }},
		{name: "root offline, stored CRL fresh",
			setup: func(t *testing.T, d *Dir, clock *time.Time) { takeRootOffline(t, d) }},
		{name: "root offline, stored CRL near its end", warning: "the root CRL expires in 15 days",
			setup: func(t *testing.T, d *Dir, clock *time.Time) {
				takeRootOffline(t, d)
				*clock = clock.Add(350 * day)
			}},
		{name: "root offline, stored CRL expired", warning: "the root CRL expired at",
			setup: func(t *testing.T, d *Dir, clock *time.Time) {
				takeRootOffline(t, d)
				*clock = clock.Add(366 * day)
			}},
		{name: "root offline, no stored CRL", wantErr: ErrRootKeyOffline,
			setup: func(t *testing.T, d *Dir, clock *time.Time) {
				takeRootOffline(t, d)
				if err := os.Remove(d.File(RootCRLFile)); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "root offline after CA revocation", wantErr: ErrRootKeyOffline,
			setup: func(t *testing.T, d *Dir, clock *time.Time) {
				*clock = clock.Add(time.Second)
				revokeInStore(t, d)
				takeRootOffline(t, d)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, clock := clockDir(t)
			before, err := os.ReadFile(d.File(CRLFile))
			if err != nil {
				t.Fatal(err)
			}
			if tc.setup != nil {
				tc.setup(t, d, clock)
			}
			stored, err := d.storedRootCRL()
			if err != nil && tc.wantErr == nil {
				t.Fatal(err)
			}
			res, err := d.GenerateCRL(tc.opt)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("GenerateCRL = %+v, %v; want %v", res, err, tc.wantErr)
				}
				if after, _ := os.ReadFile(d.File(CRLFile)); string(after) != string(before) {
					t.Fatal("a refused run changed crl.pem")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != tc.skipped || res.RootResigned != tc.resign || res.Entries != tc.entries {
				t.Fatalf("skipped %v, root re-signed %v, %d entries; want %v, %v, %d",
					res.Skipped, res.RootResigned, res.Entries, tc.skipped, tc.resign, tc.entries)
			}
			switch {
			case tc.warning == "" && len(res.Warnings) != 0:
				t.Fatalf("warnings %q, want none", res.Warnings)
			case tc.warning != "" && (len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], tc.warning)):
				t.Fatalf("warnings %q, want one with %q", res.Warnings, tc.warning)
			}
			after, err := os.ReadFile(d.File(CRLFile))
			if err != nil {
				t.Fatal(err)
			}
			if tc.skipped != (string(after) == string(before)) {
				t.Fatalf("skipped %v but crl.pem changed: %v", tc.skipped, string(after) != string(before))
			}
			if tc.skipped {
				return
			}
			// crl.pem is the intermediate's CRL, then the root's: the new one, or the stored one unchanged.
			root, err := d.storedRootCRL()
			if err != nil {
				t.Fatal(err)
			}
			if tc.resign != (root.Number.Cmp(stored.Number) > 0) || res.RootNumber.Cmp(root.Number) != 0 {
				t.Fatalf("root CRL number %v (stored before %v, result %v), re-signed %v", root.Number, stored.Number, res.RootNumber, tc.resign)
			}
			if !strings.HasSuffix(string(after), string(pemCRL(root.Raw))) {
				t.Fatal("crl.pem does not end with root-crl.pem")
			}
		})
	}
}

// TestGenerateCRLNumbersNeverRepeat: every run that signs takes a new number, root and intermediate
// separately, and the validity options reach the CRLs.
func TestGenerateCRLNumbersNeverRepeat(t *testing.T) {
	d, clock := clockDir(t)
	tests := []struct {
		opt       CRLOptions
		advance   time.Duration
		wantValid time.Duration
		wantErr   string
	}{
		{opt: CRLOptions{Validity: time.Hour}, wantValid: time.Hour},
		{opt: CRLOptions{}, advance: time.Minute, wantValid: DefaultCRLValidity},
		{opt: CRLOptions{Validity: 30 * time.Second}, wantErr: "too short"},
		{opt: CRLOptions{Validity: 2 * time.Hour, RootValidity: 400 * 24 * time.Hour}, advance: 190 * 24 * time.Hour, wantValid: 2 * time.Hour},
	}
	var last *CRLResult
	for i, tc := range tests {
		*clock = clock.Add(tc.advance)
		res, err := d.GenerateCRL(tc.opt)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("%d: %v, want %q", i, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d: %v", i, err)
		}
		if v := res.NextUpdate.Sub(res.ThisUpdate); v != tc.wantValid {
			t.Errorf("%d: validity %s, want %s", i, v, tc.wantValid)
		}
		if last != nil && res.Number.Cmp(last.Number) <= 0 {
			t.Errorf("%d: number %v after %v", i, res.Number, last.Number)
		}
		if res.RootResigned && res.RootNext.Sub(*clock) != tc.opt.RootValidity {
			t.Errorf("%d: root CRL valid until %s, want %s later", i, res.RootNext, tc.opt.RootValidity)
		}
		last = res
	}
	if !last.RootResigned {
		t.Fatal("the root CRL past half its validity was not re-signed")
	}
}
