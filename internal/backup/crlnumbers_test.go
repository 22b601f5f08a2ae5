package backup

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

// TestRestoreKeepsCRLNumbersAhead restores a backup taken before several CRLs were published and checks that the
// restored CA's next CRL is accepted by a consumer (a relay's or `wsca crl fetch`'s watermark) that saw the later
// CRLs: restore carries the replaced CA's CRL numbers forward, so revocations after a restore are enforced at
// once instead of being refused as a rollback.
func TestRestoreKeepsCRLNumbersAhead(t *testing.T) {
	d := newCA(t)
	out := filepath.Join(t.TempDir(), "b.tgz")
	if _, err := Create(d, out, Options{WithKeys: true}); err != nil {
		t.Fatal(err)
	}
	wm, err := crlsync.OpenWatermark(filepath.Join(t.TempDir(), "relay.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	inter, root, err := d.Chain()
	if err != nil {
		t.Fatal(err)
	}
	seen := func(dir *cadir.Dir) []*crl.CRL {
		t.Helper()
		data, err := os.ReadFile(dir.File(cadir.CRLFile))
		if err != nil {
			t.Fatal(err)
		}
		crls, err := crl.Parse(data, []*x509.Certificate{inter, root})
		if err != nil {
			t.Fatal(err)
		}
		return crls
	}
	for range 3 { // the live CA publishes on: the consumer follows
		if _, err := d.GenerateCRL(cadir.CRLOptions{}); err != nil {
			t.Fatal(err)
		}
		crls := seen(d)
		if err := wm.Check(crls); err != nil {
			t.Fatal(err)
		}
		if err := wm.Advance(crls); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Restore(d, out, RestoreOptions{Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "carried forward") {
		t.Errorf("restore did not say it carried the CRL numbers forward: %q", res.Warnings)
	}
	if _, err := d.Revoke(cadir.RevokeRequest{Target: "alice", Reason: store.KeyCompromise, Publish: true}); err != nil {
		t.Fatal(err)
	}
	if err := wm.Check(seen(d)); err != nil {
		t.Fatalf("the restored CA's first CRL after a revocation is refused by a consumer that followed the old one: %v", err)
	}
}
