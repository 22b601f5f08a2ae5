package doctor

import (
	"crypto/rand"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/store"
)

var testPass = []byte("correct horse battery")

func passFunc(p []byte) func() ([]byte, error) { return func() ([]byte, error) { return p, nil } }

// newCADir creates a CA with cadir.Init, the way wsca init does, with encrypted keys.
func newCADir(t *testing.T, req ca.HierarchyRequest) *cadir.Dir {
	t.Helper()
	if req.Name == "" {
		req.Name = "Doctor Test"
	}
	d := &cadir.Dir{Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "test",
		LockTimeout: time.Second, Passphrase: passFunc(testPass)}
	if _, err := d.Init(cadir.InitRequest{Hierarchy: req, Passphrase: testPass}); err != nil {
		t.Fatal(err)
	}
	return d
}

func issue(t *testing.T, d *cadir.Dir, name, outDir string) *cadir.IssueResult {
	t.Helper()
	res, err := d.Issue(cadir.IssueRequest{Name: name, OutDir: outDir})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// pemBlocks returns the PEM blocks of a file.
func pemBlocks(t *testing.T, path string) []*pem.Block {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*pem.Block
	for {
		b, rest := pem.Decode(data)
		if b == nil {
			return out
		}
		out = append(out, b)
		data = rest
	}
}

func writeBlocks(t *testing.T, path string, blocks ...*pem.Block) {
	t.Helper()
	var data []byte
	for _, b := range blocks {
		data = append(data, pem.EncodeToMemory(b)...)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// hasFinding reports whether a finding of severity sev and check id check contains every part in its message.
func hasFinding(fs []Finding, sev Severity, check string, parts ...string) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool {
		if f.Severity != sev || f.Check != check {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(f.Message, p) {
				return false
			}
		}
		return true
	})
}

func dump(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString("  " + f.String() + "\n")
	}
	return b.String()
}

func TestCheckCleanCA(t *testing.T) {
	d := newCADir(t, ca.HierarchyRequest{})
	issue(t, d, "alice", d.Path) // a leaf certificate kept in the CA directory is checked too
	fs := Check(d.Path, CheckOptions{Passphrase: passFunc(testPass)})
	if w := Worst(fs); w != SeverityOK {
		t.Fatalf("a fresh CA has findings above ok (%s):\n%s", w, dump(fs))
	}
	for _, check := range []string{CheckDirMode, CheckFiles, CheckKeyMode, CheckCertChain, CheckCertExpiry, CheckKeyMatch,
		CheckCRLSigner, CheckCRLCoverage, CheckCRLExpiry, CheckDBCerts, CheckDBCRL, CheckDBAudit} {
		if !hasFinding(fs, SeverityOK, check) {
			t.Errorf("no ok finding for %s:\n%s", check, dump(fs))
		}
	}
	if !hasFinding(fs, SeverityOK, CheckDBCerts, "1 certificate files of this CA") {
		t.Errorf("alice.crt in the directory was not checked against the database:\n%s", dump(fs))
	}
}

// TestCheckFaults plants one fault per case in a fresh CA directory and expects the specific finding
// (issue #6, must-show 1).
func TestCheckFaults(t *testing.T) {
	other := newCADir(t, ca.HierarchyRequest{Name: "Other Corp"})
	twin := newCADir(t, ca.HierarchyRequest{}) // same name as the CAs under test, other keys
	day := 24 * time.Hour

	tests := []struct {
		name  string
		req   ca.HierarchyRequest
		plant func(t *testing.T, d *cadir.Dir)
		opts  func(o *CheckOptions)
		sev   Severity
		check string
		parts []string
	}{
		{
			name:  "expired CRL",
			opts:  func(o *CheckOptions) { o.Now = func() time.Time { return time.Now().Add(8 * day) } },
			sev:   SeverityError,
			check: CheckCRLExpiry,
			parts: []string{"the intermediate CRL in", "expired", "ago", "reject every client certificate"},
		},
		{
			name:  "CRL expiring within two days",
			opts:  func(o *CheckOptions) { o.Now = func() time.Time { return time.Now().Add(6 * day) } },
			sev:   SeverityWarning,
			check: CheckCRLExpiry,
			parts: []string{"the intermediate CRL expires in", "hours"},
		},
		{
			name: "missing root CRL",
			plant: func(t *testing.T, d *cadir.Dir) {
				blocks := pemBlocks(t, d.File(cadir.CRLFile))
				writeBlocks(t, d.File(cadir.CRLFile), blocks[0])
			},
			sev:   SeverityError,
			check: CheckCRLCoverage,
			parts: []string{"holds no CRL from the root CA", "Doctor Test Root CA", "SSLCARevocationCheck chain"},
		},
		{
			name: "CRL signed by another CA",
			plant: func(t *testing.T, d *cadir.Dir) {
				ours := pemBlocks(t, d.File(cadir.CRLFile))
				theirs := pemBlocks(t, other.File(cadir.CRLFile))
				writeBlocks(t, d.File(cadir.CRLFile), ours[0], theirs[1])
			},
			sev:   SeverityError,
			check: CheckCRLSigner,
			parts: []string{"CRL 2 in", "is signed by CN=Other Corp Root CA", "not a CA of this directory"},
		},
		{
			name: "CRL signed by another CA with the same name",
			plant: func(t *testing.T, d *cadir.Dir) {
				copyFile(t, twin.File(cadir.CRLFile), d.File(cadir.CRLFile), 0o644)
			},
			sev:   SeverityError,
			check: CheckCRLSigner,
			parts: []string{"CRL 1 in", "names CN=Doctor Test Intermediate CA as its issuer but was signed with another key"},
		},
		{
			name:  "world-readable key",
			plant: func(t *testing.T, d *cadir.Dir) { chmod(t, d.File(cadir.IntermediateKeyFile), 0o644) },
			sev:   SeverityError,
			check: CheckKeyMode,
			parts: []string{"intermediate.key is world-readable (mode 0644)"},
		},
		{
			name:  "group-readable key",
			plant: func(t *testing.T, d *cadir.Dir) { chmod(t, d.File(cadir.RootKeyFile), 0o640) },
			sev:   SeverityWarning,
			check: CheckKeyMode,
			parts: []string{"root.key has mode 0640"},
		},
		{
			name: "key not matching its certificate",
			plant: func(t *testing.T, d *cadir.Dir) {
				copyFile(t, twin.File(cadir.IntermediateKeyFile), d.File(cadir.IntermediateKeyFile), 0o600)
			},
			sev:   SeverityError,
			check: CheckKeyMatch,
			parts: []string{"intermediate.key does not match CN=Doctor Test Intermediate CA (intermediate.crt)"},
		},
		{
			name: "leaf key not matching its certificate",
			plant: func(t *testing.T, d *cadir.Dir) {
				issue(t, d, "alice", d.Path)
				issue(t, d, "bob", d.Path)
				copyFile(t, filepath.Join(d.Path, "bob.key"), filepath.Join(d.Path, "alice.key"), 0o600)
			},
			sev:   SeverityError,
			check: CheckKeyMatch,
			parts: []string{"alice.key does not match", "alice.crt (CN=alice)"},
		},
		{
			name:  "no passphrase",
			opts:  func(o *CheckOptions) { o.Passphrase = nil },
			sev:   SeverityInfo,
			check: CheckKeyMatch,
			parts: []string{"skipped: no passphrase", "intermediate.key and root.key"},
		},
		{
			name:  "wrong passphrase",
			opts:  func(o *CheckOptions) { o.Passphrase = passFunc([]byte("wrong wrong wrong")) },
			sev:   SeverityError,
			check: CheckKeyMatch,
			parts: []string{"cannot open", "intermediate.key: wrong passphrase"},
		},
		{
			name:  "intermediate expiring within 30 days",
			req:   ca.HierarchyRequest{IntermediateValidity: 20 * day},
			sev:   SeverityWarning,
			check: CheckCertExpiry,
			parts: []string{"the intermediate CA certificate CN=Doctor Test Intermediate CA expires in 20 days", "within 30 days"},
		},
		{
			name:  "intermediate expiring within a week",
			req:   ca.HierarchyRequest{IntermediateValidity: 10 * day},
			opts:  func(o *CheckOptions) { o.Now = func() time.Time { return time.Now().Add(5 * day) } },
			sev:   SeverityError,
			check: CheckCertExpiry,
			parts: []string{"the intermediate CA certificate", "expires in 5 days"},
		},
		{
			name: "revocation not yet published",
			plant: func(t *testing.T, d *cadir.Dir) {
				issue(t, d, "alice", t.TempDir())
				issue(t, d, "bob", t.TempDir())
				if _, err := d.Revoke(cadir.RevokeRequest{Target: "bob", Reason: store.KeyCompromise}); err != nil {
					t.Fatal(err)
				}
			},
			sev:   SeverityWarning,
			check: CheckDBCRL,
			parts: []string{"1 revocation(s) recorded in the database are not yet published in the intermediate CRL", "bob (serial"},
		},
		{
			name: "hold lifted but not published",
			plant: func(t *testing.T, d *cadir.Dir) {
				issue(t, d, "carol", t.TempDir())
				if _, err := d.Revoke(cadir.RevokeRequest{Target: "carol", Reason: store.CertificateHold}); err != nil {
					t.Fatal(err)
				}
				if _, err := d.GenerateCRL(cadir.CRLOptions{}); err != nil {
					t.Fatal(err)
				}
				if _, err := d.Unrevoke("carol"); err != nil {
					t.Fatal(err)
				}
			},
			sev:   SeverityWarning,
			check: CheckDBCRL,
			parts: []string{"still lists certificates that are no longer revoked", "carol (serial"},
		},
		{
			name: "CRL lists a serial unknown to the database",
			plant: func(t *testing.T, d *cadir.Dir) {
				inter, err := d.Intermediate()
				if err != nil {
					t.Fatal(err)
				}
				now := time.Now()
				der, err := crl.Build(crl.Template{Number: big.NewInt(99), ThisUpdate: now, NextUpdate: now.Add(day),
					Issuer: inter.Cert, Signer: inter.Key}, slices.Values([]crl.Entry{{Serial: big.NewInt(0xdead), RevokedAt: now}}))
				if err != nil {
					t.Fatal(err)
				}
				blocks := pemBlocks(t, d.File(cadir.CRLFile))
				writeBlocks(t, d.File(cadir.CRLFile), &pem.Block{Type: "X509 CRL", Bytes: der}, blocks[1])
			},
			sev:   SeverityError,
			check: CheckDBCRL,
			parts: []string{"the intermediate CRL lists serials the database does not know: serial"},
		},
		{
			name: "certificate of this CA missing from the database",
			plant: func(t *testing.T, d *cadir.Dir) {
				inter, err := d.Intermediate()
				if err != nil {
					t.Fatal(err)
				}
				key, err := ca.GenerateKey(rand.Reader, ca.KeyECDSAP256)
				if err != nil {
					t.Fatal(err)
				}
				cert, err := ca.Issue(rand.Reader, time.Now(), inter, ca.LeafRequest{Subject: pkixName("ghost"),
					Validity: day, PublicKey: key.Public()})
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d.Path, "ghost.crt"), ca.EncodeCertificates(cert), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			sev:   SeverityError,
			check: CheckDBCerts,
			parts: []string{"ghost.crt (CN=ghost, serial", "was signed by this CA but is not in the database"},
		},
		{
			name: "intermediate revoked",
			plant: func(t *testing.T, d *cadir.Dir) {
				if _, err := d.Revoke(cadir.RevokeRequest{Intermediate: true, Reason: store.KeyCompromise}); err != nil {
					t.Fatal(err)
				}
			},
			sev:   SeverityError,
			check: CheckCertChain,
			parts: []string{"the intermediate CA certificate CN=Doctor Test Intermediate CA is revoked in the root CRL", "keyCompromise"},
		},
		{
			name:  "crl.pem missing",
			plant: func(t *testing.T, d *cadir.Dir) { remove(t, d.File(cadir.CRLFile)) },
			sev:   SeverityError,
			check: CheckFiles,
			parts: []string{"crl.pem is missing"},
		},
		{
			name:  "root key offline",
			plant: func(t *testing.T, d *cadir.Dir) { remove(t, d.File(cadir.RootKeyFile)) },
			sev:   SeverityInfo,
			check: CheckFiles,
			parts: []string{"the root key is offline"},
		},
		{
			name:  "directory readable by others",
			plant: func(t *testing.T, d *cadir.Dir) { chmod(t, d.Path, 0o755) },
			sev:   SeverityWarning,
			check: CheckDirMode,
			parts: []string{"has mode 0755"},
		},
		{
			name: "ca.crt not intermediate + root",
			plant: func(t *testing.T, d *cadir.Dir) {
				copyFile(t, d.File(cadir.RootCertFile), d.File(cadir.BundleFile), 0o644)
			},
			sev:   SeverityError,
			check: CheckCertChain,
			parts: []string{"ca.crt must hold intermediate.crt then root.crt", "but holds: CN=Doctor Test Root CA"},
		},
		{
			name: "CA files of another CA",
			plant: func(t *testing.T, d *cadir.Dir) {
				for _, f := range []string{cadir.RootCertFile, cadir.IntermediateCertFile} {
					copyFile(t, twin.File(f), d.File(f), 0o644)
				}
			},
			sev:   SeverityError,
			check: CheckDBCerts,
			parts: []string{"root.crt (serial", "is not in the database: the certificate files and wsca.db belong to different CAs"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newCADir(t, tt.req)
			if tt.plant != nil {
				tt.plant(t, d)
			}
			o := CheckOptions{Passphrase: passFunc(testPass)}
			if tt.opts != nil {
				tt.opts(&o)
			}
			fs := Check(d.Path, o)
			if !hasFinding(fs, tt.sev, tt.check, tt.parts...) {
				t.Fatalf("want a %s %s finding with %q; got:\n%s", tt.sev, tt.check, tt.parts, dump(fs))
			}
			for _, f := range fs {
				if f.Severity != SeverityOK && f.Message == "" {
					t.Errorf("finding without a message: %+v", f)
				}
				if f.Severity == SeverityError && f.Fix == "" {
					t.Errorf("error without a fix: %s", f)
				}
			}
		})
	}
}

func TestCheckPublishedRevocationIsConsistent(t *testing.T) {
	d := newCADir(t, ca.HierarchyRequest{})
	issue(t, d, "bob", t.TempDir())
	if _, err := d.Revoke(cadir.RevokeRequest{Target: "bob", Reason: store.KeyCompromise}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GenerateCRL(cadir.CRLOptions{}); err != nil {
		t.Fatal(err)
	}
	fs := Check(d.Path, CheckOptions{Passphrase: passFunc(testPass)})
	if !hasFinding(fs, SeverityOK, CheckDBCRL) || Worst(fs) != SeverityOK {
		t.Fatalf("after wsca crl the database and crl.pem should agree:\n%s", dump(fs))
	}
}

func TestCheckLockedDatabase(t *testing.T) {
	d := newCADir(t, ca.HierarchyRequest{})
	st, err := d.OpenStore(false)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fs := Check(d.Path, CheckOptions{Passphrase: passFunc(testPass), LockTimeout: 100 * time.Millisecond})
	if !hasFinding(fs, SeverityWarning, CheckDBOpen, "locked by another wsca process") {
		t.Fatalf("want a db.open warning:\n%s", dump(fs))
	}
}

func TestCheckNotACADir(t *testing.T) {
	for name, dir := range map[string]string{"missing": filepath.Join(t.TempDir(), "nope"), "empty": t.TempDir()} {
		fs := Check(dir, CheckOptions{})
		if len(fs) != 1 || !hasFinding(fs, SeverityError, CheckDir) {
			t.Errorf("%s: want one dir error, got:\n%s", name, dump(fs))
		}
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
