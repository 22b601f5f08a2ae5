package relay

import (
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/crlsync"
)

// TestReloadKeepsUnchangedCRL: a reload that finds the CRL and the client CA bundle byte-for-byte as loaded (a
// SIGHUP, an edit of the configuration) takes the parsed and verified CRLs over instead of parsing them again,
// which for a 1M-entry CRL is most of a reload (BenchmarkReload1M). A new CRL or a new CA bundle is parsed and
// verified again, and a refused (stale) CRL is refused again on every reload.
func TestReloadKeepsUnchangedCRL(t *testing.T) {
	p := getPKI(t)
	e := newEnv(t, nil)
	bundle := func() any { return e.srv.mat.Load().bundle }
	reload := func(what string) {
		t.Helper()
		if err := e.srv.Reload(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	b0 := bundle()
	reload("nothing changed")
	if bundle() != b0 {
		t.Fatal("a reload with nothing changed parsed the CRL again")
	}
	cfgPath := filepath.Join(e.dir, "relay.yaml")
	yml, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, cfgPath, append(yml, "\n# edited\n"...))
	reload("configuration edited")
	if bundle() != b0 {
		t.Fatal("a configuration edit parsed the unchanged CRL again")
	}
	// The same CAs in another file content: the CRLs are verified against the bundle again.
	writeAtomic(t, filepath.Join(e.dir, "ca.crt"), append(append([]byte(nil), p.caPEM...), '\n'))
	reload("CA bundle rewritten")
	b1 := bundle()
	if b1 == b0 {
		t.Fatal("a new client CA bundle did not re-verify the CRL")
	}
	alice := e.mustDial("/secure", &p.alice)
	done := readErr(alice)
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), p.crlPEM(t, p.alice.Leaf))
	reload("new CRL")
	if bundle() == b1 {
		t.Fatal("a new CRL was not parsed")
	}
	<-done // alice, now revoked, is cut
	// A stale CRL is refused by every reload, not only the first one that sees it.
	writeAtomic(t, filepath.Join(e.dir, "crl.pem"), p.crlPEMNum(t, big.NewInt(1), time.Now().Add(-time.Minute),
		time.Now().Add(time.Hour)))
	for i := range 2 {
		before := e.srv.crl.rollbacks.Load()
		if err := e.srv.Reload(); !errors.Is(err, crlsync.ErrRollback) {
			t.Fatalf("reload %d on a stale CRL: %v, want a rollback refusal", i+1, err)
		}
		if e.srv.crl.rollbacks.Load() <= before {
			t.Fatalf("reload %d on a stale CRL not counted", i+1)
		}
	}
	if c, _, err := e.dial("/secure", &p.alice, nil); err == nil {
		c.CloseNow() //nolint:errcheck
		t.Fatal("revoked alice got back in after the stale CRL")
	}
}
