package main

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
)

// TestVerifyAgreesWithOpenSSL runs wsca verify and openssl verify -crl_check_all on the same files for every
// kind of fault wsca verify claims to detect, and requires the same verdict from both.
func TestVerifyAgreesWithOpenSSL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is missing: run scripts/install-deps")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	run := func(args ...string) {
		t.Helper()
		if out, err := wscaRun(dir, append(args, "--passphrase-file", pass)...); err != nil {
			t.Fatalf("wsca %v: %v\n%s", args, err, out)
		}
	}
	out := func(name string) string { return filepath.Join(work, name) }
	// A write that silently failed would make the must-fail cases pass for the wrong reason.
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("issue", "alice", "--out", work)
	run("issue", "bob", "--out", work)
	run("issue", "web", "--server", "--ip", "127.0.0.1", "--out", work)
	if o, err := wscaRun(dir, "revoke", "bob", "--reason", "keyCompromise", "--no-publish"); err != nil {
		t.Fatalf("revoke: %v\n%s", err, o)
	}
	run("crl")

	d := &cadir.Dir{Path: dir, Rand: rand.Reader, Now: time.Now,
		Passphrase: func() ([]byte, error) { return []byte("correct horse battery staple"), nil }}
	inter, err := d.Intermediate()
	if err != nil {
		t.Fatal(err)
	}
	root, err := d.Root()
	if err != nil {
		t.Fatal(err)
	}
	writeCert := func(name string, notBefore time.Time, validity time.Duration) {
		key, err := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ca.Issue(rand.Reader, notBefore, inter, ca.LeafRequest{Kind: ca.KindClient,
			Subject: pkix.Name{CommonName: name}, Validity: validity, PublicKey: key.Public()})
		if err != nil {
			t.Fatal(err)
		}
		write(out(name+".crt"), ca.EncodeCertificates(c))
	}
	// An expired leaf: issued a year ago for 30 days (not recorded: only the verdicts matter here).
	writeCert("expired", time.Now().Add(-365*24*time.Hour), 30*24*time.Hour)

	signCRL := func(a ca.Authority, this, next time.Time, n int64) []byte {
		der, err := crl.Build(crl.Template{Number: big.NewInt(n), ThisUpdate: this, NextUpdate: next, Issuer: a.Cert, Signer: a.Key},
			func(func(crl.Entry) bool) {})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	now := time.Now()
	freshRoot := signCRL(root, now.Add(-time.Hour), now.Add(24*time.Hour), 1000)
	write(out("expired-crl.pem"), crl.EncodePEM(signCRL(inter, now.Add(-48*time.Hour), now.Add(-24*time.Hour), 1000), freshRoot))
	write(out("no-root-crl.pem"), crl.EncodePEM(signCRL(inter, now.Add(-time.Hour), now.Add(24*time.Hour), 1001)))

	// A second CA: its leaf, and its CRL presented as ours.
	otherDir, otherPass := setupCA(t)
	if o, err := wscaRun(otherDir, "issue", "mallory", "--out", work, "--passphrase-file", otherPass); err != nil {
		t.Fatalf("issue in the other CA: %v\n%s", err, o)
	}
	// A third CA whose intermediate is revoked: its leaf fails against its own files.
	revDir, revPass := setupCA(t)
	revWork := filepath.Dir(revDir)
	for _, args := range [][]string{{"issue", "carol", "--out", revWork}, {"revoke", "--intermediate", "--reason", "cACompromise"}} {
		if o, err := wscaRun(revDir, append(args, "--passphrase-file", revPass)...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, o)
		}
	}

	ourCRL := filepath.Join(dir, "crl.pem")
	for _, tc := range []struct {
		name, dir, cert, crlFile string
		wantOK                   bool
	}{
		{"valid client", dir, out("alice.crt"), ourCRL, true},
		{"valid server certificate", dir, out("web.crt"), ourCRL, true},
		{"revoked leaf", dir, out("bob.crt"), ourCRL, false},
		{"expired leaf", dir, out("expired.crt"), ourCRL, false},
		{"other CA's leaf", dir, out("mallory.crt"), ourCRL, false},
		{"expired CRL", dir, out("alice.crt"), out("expired-crl.pem"), false},
		{"root CRL missing", dir, out("alice.crt"), out("no-root-crl.pem"), false},
		{"CRL of another CA", dir, out("alice.crt"), filepath.Join(otherDir, "crl.pem"), false},
		{"revoked intermediate", revDir, filepath.Join(revWork, "carol.crt"), filepath.Join(revDir, "crl.pem"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wout, werr := wscaRun(tc.dir, "verify", tc.cert, "--crl", tc.crlFile)
			oout, oerr := exec.Command("openssl", "verify", "-crl_check_all", "-CRLfile", tc.crlFile,
				"-CAfile", filepath.Join(tc.dir, "root.crt"), "-untrusted", filepath.Join(tc.dir, "intermediate.crt"), tc.cert).CombinedOutput()
			if (werr == nil) != tc.wantOK || (oerr == nil) != tc.wantOK {
				t.Fatalf("want ok=%v\nwsca verify: %v\n%s\nopenssl verify: %v\n%s", tc.wantOK, werr, wout, oerr, oout)
			}
		})
	}
}
