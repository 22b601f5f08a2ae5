package cadir

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/store"
)

// newTestCA makes a two-level CA with encrypted keys and one client, bob.
func newTestCA(t *testing.T) *Dir {
	t.Helper()
	d := &Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "t", LockTimeout: time.Second,
		Passphrase: func() ([]byte, error) { return importPass, nil }}
	if _, err := d.Init(InitRequest{Hierarchy: ca.HierarchyRequest{Name: "T"}, Passphrase: importPass}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(IssueRequest{Name: "bob", OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	return d
}

func sameAsCRL(t *testing.T, d *Dir, path string) bool {
	t.Helper()
	a, err := os.ReadFile(d.File(CRLFile))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return bytes.Equal(a, b)
}

// TestCopyTargetsEveryRun is issue 10's first bug: a copy refreshed only by the run that named it, after a
// manual wsca crl, stayed old because the timer's --if-due run found nothing due. Now every run, due or not,
// refreshes every registered target whose content differs, and a failing target does not stop the others.
func TestCopyTargetsEveryRun(t *testing.T) {
	d := newTestCA(t)
	out := t.TempDir()
	relay, web := filepath.Join(out, "relay.pem"), filepath.Join(out, "web.pem")
	res, err := d.GenerateCRL(CRLOptions{CopyTo: []string{relay}})
	if err != nil || len(res.NewTargets) != 1 || !sameAsCRL(t, d, relay) {
		t.Fatalf("registering run: %+v, %v", res, err)
	}
	// A revocation published by a run that does not name the target (the old "wsca crl" by hand) still reaches it.
	if _, err := d.Revoke(RevokeRequest{Target: "bob", Reason: store.KeyCompromise}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GenerateCRL(CRLOptions{}); err != nil || !sameAsCRL(t, d, relay) {
		t.Fatalf("run without --copy-to did not refresh the registered target (%v)", err)
	}
	// A stale copy (a sync job, a restore) is refreshed by an --if-due run that signs nothing.
	if err := os.WriteFile(relay, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err = d.GenerateCRL(CRLOptions{IfDue: true})
	if err != nil || !res.Skipped || !sameAsCRL(t, d, relay) || len(res.Targets) != 1 || !res.Targets[0].Refreshed {
		t.Fatalf("--if-due run: skipped=%v targets=%+v err=%v; target current=%v", res.Skipped, res.Targets, err, sameAsCRL(t, d, relay))
	}
	res, _ = d.GenerateCRL(CRLOptions{IfDue: true})
	if res.Targets[0].Refreshed {
		t.Error("a current target was rewritten")
	}
	// A target in a missing directory fails alone: the other targets are refreshed, the error names it.
	bad := filepath.Join(out, "gone", "crl.pem")
	if _, err := d.GenerateCRL(CRLOptions{CopyTo: []string{bad}}); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("registering a target in a missing directory: %v", err)
	}
	os.Mkdir(filepath.Dir(bad), 0o755)
	if _, err := d.GenerateCRL(CRLOptions{CopyTo: []string{bad}}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Dir(bad))
	res, err = d.GenerateCRL(CRLOptions{CopyTo: []string{web}})
	var te *TargetsError
	if !errors.As(err, &te) || len(te.Failed) != 1 || te.Failed[0].Path != bad || te.Total != 3 || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
	if res == nil || !sameAsCRL(t, d, relay) || !sameAsCRL(t, d, web) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("the other targets were not refreshed (%v)", err)
	}
	if ok, err := d.RemoveCRLTarget(bad); !ok || err != nil {
		t.Fatalf("RemoveCRLTarget: %v %v", ok, err)
	}
	ts, err := d.CRLTargets()
	if err != nil || len(ts) != 2 || !ts[0].Current || !ts[1].Current {
		t.Fatalf("CRLTargets = %+v, %v", ts, err)
	}
}

// TestRevokePublishes: wsca revoke publishes at once (crl.pem and every target); a wrong passphrase changes
// nothing; without a passphrase source the revocation is recorded and the result names what still admits it.
func TestRevokePublishes(t *testing.T) {
	d := newTestCA(t)
	relay := filepath.Join(t.TempDir(), "crl.pem")
	if _, err := d.GenerateCRL(CRLOptions{Validity: time.Hour, CopyTo: []string{relay}}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Issue(IssueRequest{Name: "carol", OutDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}

	wrong := *d
	wrong.Passphrase = func() ([]byte, error) { return []byte("wrong passphrase"), nil }
	if _, err := wrong.Revoke(RevokeRequest{Target: "bob", Publish: true}); !errors.Is(err, ca.ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if recs, _ := d.Find("bob"); recs[0].Revocation != nil {
		t.Fatal("a wrong passphrase recorded the revocation")
	}

	res, err := d.Revoke(RevokeRequest{Target: "bob", Reason: store.KeyCompromise, Publish: true})
	if err != nil || res.Published == nil || len(res.Published.Targets) != 1 || !res.Published.Targets[0].Refreshed {
		t.Fatalf("publishing revoke: %+v, %v", res, err)
	}
	if !sameAsCRL(t, d, relay) {
		t.Fatal("the copy target was not refreshed by revoke")
	}
	if v := res.Published.NextUpdate.Sub(res.Published.ThisUpdate); v != time.Hour {
		t.Errorf("revoke published a CRL valid %s; want the last CRL's 1h", v)
	}
	crlBefore, _ := os.ReadFile(d.File(CRLFile))

	none := *d
	none.Passphrase = func() ([]byte, error) { return nil, ca.ErrPassphraseRequired }
	res, err = none.Revoke(RevokeRequest{Target: "carol", Reason: store.CertificateHold, Publish: true})
	if err != nil || res.Published != nil || !errors.Is(res.Deferred, ca.ErrPassphraseRequired) ||
		len(res.NotEnforced) != 2 || res.NotEnforced[1] != relay || len(res.Records) != 1 {
		t.Fatalf("revoke without a passphrase: %+v, %v", res, err)
	}
	if crlAfter, _ := os.ReadFile(d.File(CRLFile)); !bytes.Equal(crlBefore, crlAfter) {
		t.Fatal("crl.pem changed without a passphrase")
	}
	// The next --if-due run (the timer) publishes it, to crl.pem and the target.
	if res, err := d.GenerateCRL(CRLOptions{IfDue: true}); err != nil || res.Skipped || !sameAsCRL(t, d, relay) {
		t.Fatalf("timer run after a deferred revoke: %+v, %v", res, err)
	}

	// Lifting the hold publishes too.
	res, err = d.LiftHold("carol", true)
	if err != nil || res.Published == nil || !sameAsCRL(t, d, relay) {
		t.Fatalf("LiftHold: %+v, %v", res, err)
	}
}
