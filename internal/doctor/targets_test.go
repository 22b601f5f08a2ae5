package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// TestCheckCRLTargets: a copy target that holds crl.pem's bytes is ok; one that an older crl.pem was copied
// over (a sync job, a restore) or that is gone is an error naming the target, with wsca crl as the fix.
func TestCheckCRLTargets(t *testing.T) {
	d := newCADir(t, ca.HierarchyRequest{})
	issue(t, d, "bob", t.TempDir())
	relay := filepath.Join(t.TempDir(), "relay")
	if err := os.Mkdir(relay, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(relay, "crl.pem")
	if _, err := d.GenerateCRL(cadir.CRLOptions{CopyTo: []string{target}}); err != nil {
		t.Fatal(err)
	}
	opts := CheckOptions{Passphrase: passFunc(testPass)}
	if fs := Check(d.Path, opts); !hasFinding(fs, SeverityOK, CheckCRLTargets, "1 copy target is holding") {
		t.Fatalf("current target not reported ok:\n%s", dump(fs))
	}
	old, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Revoke(cadir.RevokeRequest{Target: "bob", Reason: store.KeyCompromise, Publish: true}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, old, 0o644); err != nil {
		t.Fatal(err)
	}
	fs := Check(d.Path, opts)
	if !hasFinding(fs, SeverityError, CheckCRLTargets, target, "differs from crl.pem") {
		t.Fatalf("stale target not reported:\n%s", dump(fs))
	}
	for _, f := range fs {
		if f.Check == CheckCRLTargets && !strings.HasPrefix(f.Fix, "run wsca crl") {
			t.Errorf("fix %q does not say to run wsca crl", f.Fix)
		}
	}
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	if fs := Check(d.Path, opts); !hasFinding(fs, SeverityError, CheckCRLTargets, target, "is missing") {
		t.Fatalf("missing target not reported:\n%s", dump(fs))
	}
	if _, err := d.GenerateCRL(cadir.CRLOptions{IfDue: true}); err != nil {
		t.Fatal(err)
	}
	if fs := Check(d.Path, opts); Worst(fs) != SeverityOK {
		t.Fatalf("after wsca crl --if-due:\n%s", dump(fs))
	}
}
