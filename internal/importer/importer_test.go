package importer_test

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/importer"
	"github.com/wsca/wsca/store"
)

const easyRSA = "/usr/share/easy-rsa/easyrsa"

var wscaPass = []byte("correct horse battery staple")

func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (scripts/install-deps)")
	}
}

const opensslCnf = `[ ca ]
default_ca = CA_default
[ CA_default ]
dir = ./oldca
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/cacert.pem
private_key = $dir/private/cakey.pem
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
x509_extensions = client_ext
unique_subject = no
[ policy_any ]
commonName = supplied
[ client_ext ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = Old Corp CA
[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
`

// buildOpenSSLCA makes a CA with the openssl ca commands: an encrypted key, four client certificates
// (serials 1000-1003), three revoked with different index forms, and two CRLs (the last has number 2).
func buildOpenSSLCA(t *testing.T) string {
	t.Helper()
	needOpenSSL(t)
	dir := t.TempDir()
	for _, d := range []string{"oldca/newcerts", "oldca/private"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{"openssl.cnf": opensslCnf, "oldca/index.txt": "", "oldca/serial": "1000\n", "oldca/crlnumber": "01\n", "oldpass": "old secret pass\n"}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o := func(args ...string) { run(t, dir, nil, "openssl", args...) }
	o("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "file:oldpass", "-out", "oldca/private/cakey.pem")
	o("req", "-config", "openssl.cnf", "-new", "-x509", "-days", "3650", "-key", "oldca/private/cakey.pem", "-passin", "file:oldpass", "-extensions", "v3_ca", "-out", "oldca/cacert.pem")
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		o("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", u+".key", "-subj", "/CN="+u, "-out", u+".csr")
		// alice keeps openssl's default text dump in newcerts/1000.pem; the others are plain PEM.
		args := []string{"ca", "-config", "openssl.cnf", "-batch", "-passin", "file:oldpass", "-in", u + ".csr", "-out", u + ".crt"}
		if u != "alice" {
			args = append(args, "-notext")
		}
		o(args...)
	}
	o("ca", "-config", "openssl.cnf", "-passin", "file:oldpass", "-revoke", "oldca/newcerts/1001.pem", "-crl_reason", "keyCompromise")
	o("ca", "-config", "openssl.cnf", "-passin", "file:oldpass", "-revoke", "oldca/newcerts/1002.pem", "-crl_reason", "superseded")
	o("ca", "-config", "openssl.cnf", "-passin", "file:oldpass", "-revoke", "oldca/newcerts/1003.pem", "-crl_hold", "holdInstructionReject")
	o("ca", "-config", "openssl.cnf", "-passin", "file:oldpass", "-gencrl", "-out", "oldca/crl.pem")
	o("ca", "-config", "openssl.cnf", "-passin", "file:oldpass", "-gencrl", "-out", "oldca/crl.pem")
	return dir
}

func newDir(t *testing.T) *cadir.Dir {
	return &cadir.Dir{
		Path: filepath.Join(t.TempDir(), "pki"), Rand: rand.Reader, Now: time.Now, User: "tester",
		LockTimeout: 2 * time.Second, Passphrase: func() ([]byte, error) { return wscaPass, nil },
	}
}

type entry struct {
	at     time.Time
	reason int
}

// crlEntries parses every CRL in a PEM file with crypto/x509 (not wsca's parser) and returns the
// entries of the one issued by issuer, with its number.
func crlEntries(t *testing.T, path string, issuer *x509.Certificate) (map[string]entry, *big.Int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var found []*x509.RevocationList
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		rl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if rl.CheckSignatureFrom(issuer) == nil {
			found = append(found, rl)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: %d CRLs signed by %s, want exactly 1", path, len(found), issuer.Subject)
	}
	m := map[string]entry{}
	for _, e := range found[0].RevokedCertificateEntries {
		m[e.SerialNumber.Text(16)] = entry{e.RevocationTime.UTC(), e.ReasonCode}
	}
	return m, found[0].Number
}

func sameEntries(t *testing.T, old, got map[string]entry) {
	t.Helper()
	if len(old) != len(got) {
		t.Errorf("old CRL has %d entries, wsca's %d: old %v, new %v", len(old), len(got), old, got)
	}
	for s, e := range old {
		g, ok := got[s]
		if !ok {
			t.Errorf("serial %s is on the old CRL but not on wsca's", s)
			continue
		}
		if !g.at.Equal(e.at) || g.reason != e.reason {
			t.Errorf("serial %s: old CRL says %v reason %d, wsca's %v reason %d", s, e.at, e.reason, g.at, g.reason)
		}
	}
}

func opensslVerify(t *testing.T, dir *cadir.Dir, cert string) error {
	t.Helper()
	out, err := exec.Command("openssl", "verify", "-crl_check_all", "-CRLfile", dir.File(cadir.CRLFile), "-CAfile", dir.File(cadir.BundleFile), cert).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func TestImportOpenSSL(t *testing.T) {
	src := buildOpenSSLCA(t)
	p := func(s string) string { return filepath.Join(src, s) }
	old, err := importer.LoadOpenSSL(importer.OpenSSLSource{
		CACert: p("oldca/cacert.pem"), CAKey: p("oldca/private/cakey.pem"), Index: p("oldca/index.txt"),
		CRLNumber: p("oldca/crlnumber"), CRL: p("oldca/crl.pem"), KeyPassphrase: []byte("old secret pass"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(old.Records) != 4 || old.Revoked() != 3 || old.LastCRLNumber.Int64() != 2 || len(old.Warnings) != 0 {
		t.Fatalf("loaded %d records, %d revoked, last CRL number %v, warnings %v", len(old.Records), old.Revoked(), old.LastCRLNumber, old.Warnings)
	}
	d := newDir(t)
	res, err := d.Import(cadir.ImportRequest{Issuer: old.Issuer, IssuerKey: old.Key, Records: old.Records,
		LastCRLNumber: old.LastCRLNumber, Source: old.Source, Passphrase: wscaPass})
	if err != nil {
		t.Fatal(err)
	}
	if !res.SingleCA || res.Imported != 4 || res.Revoked != 3 || !d.SingleCA() {
		t.Fatalf("result %+v", res)
	}

	// The key was re-encrypted with wsca's passphrase: openssl opens it with that one only.
	run(t, src, nil, "openssl", "pkey", "-in", d.File(cadir.IntermediateKeyFile), "-passin", "pass:"+string(wscaPass), "-noout")
	if err := exec.Command("openssl", "pkey", "-in", d.File(cadir.IntermediateKeyFile), "-passin", "pass:old secret pass", "-noout").Run(); err == nil {
		t.Error("the imported key still opens with the old passphrase")
	}
	if fi, err := os.Stat(d.File(cadir.IntermediateKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode: %v %v", fi.Mode(), err)
	}

	// The statuses, dates and reasons survived.
	recs, err := d.List(cadir.Filter{Kinds: []store.Kind{"client", "server"}})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]string{}
	for _, r := range recs {
		status[r.Name] = r.Status(time.Now())
		if r.Revocation != nil {
			status[r.Name] += " " + r.Revocation.Reason.String()
		}
	}
	want := map[string]string{"alice": "valid", "bob": "revoked keyCompromise", "carol": "revoked superseded", "dave": "revoked certificateHold"}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", status, want)
	}

	// wsca's CRL lists exactly the old CRL's serials, times and reasons, under a higher number.
	oldEntries, oldNum := crlEntries(t, p("oldca/crl.pem"), old.Issuer)
	newEntries, newNum := crlEntries(t, d.File(cadir.CRLFile), old.Issuer)
	sameEntries(t, oldEntries, newEntries)
	if newNum.Cmp(oldNum) <= 0 {
		t.Errorf("new CRL number %v is not above the old %v", newNum, oldNum)
	}

	// openssl verify with the new files accepts the valid certificate and rejects the revoked ones.
	if err := opensslVerify(t, d, p("alice.crt")); err != nil {
		t.Errorf("alice: %v", err)
	}
	for _, u := range []string{"bob", "carol", "dave"} {
		if err := opensslVerify(t, d, p(u+".crt")); err == nil || !strings.Contains(err.Error(), "certificate revoked") {
			t.Errorf("%s: want certificate revoked, got %v", u, err)
		}
	}

	// Issuing continues from the imported CA, and wsca verify agrees with openssl.
	out := t.TempDir()
	iss, err := d.Issue(cadir.IssueRequest{Name: "erin", OutDir: out})
	if err != nil {
		t.Fatal(err)
	}
	pemData, _ := os.ReadFile(iss.CertPath)
	if _, err := d.Verify(pemData, ""); err != nil {
		t.Errorf("wsca verify of a new certificate: %v", err)
	}
	if err := opensslVerify(t, d, iss.CertPath); err != nil {
		t.Errorf("openssl verify of a new certificate: %v", err)
	}
	bob, _ := os.ReadFile(p("bob.crt"))
	var ve *cadir.VerifyError
	if _, err := d.Verify(bob, ""); !errors.As(err, &ve) || ve.Check != "revocation" {
		t.Errorf("wsca verify bob: want a revocation error, got %v", err)
	}

	// A second import into the same directory is refused.
	if _, err := d.Import(cadir.ImportRequest{Issuer: old.Issuer, IssuerKey: old.Key, Passphrase: wscaPass}); !errors.Is(err, cadir.ErrAlreadyInitialized) {
		t.Errorf("second import: %v", err)
	}
}

func TestImportOpenSSLErrors(t *testing.T) {
	src := buildOpenSSLCA(t)
	p := func(s string) string { return filepath.Join(src, s) }
	base := importer.OpenSSLSource{CACert: p("oldca/cacert.pem"), CAKey: p("oldca/private/cakey.pem"), Index: p("oldca/index.txt"), KeyPassphrase: []byte("old secret pass")}
	tests := []struct {
		name   string
		mutate func(t *testing.T, s *importer.OpenSSLSource)
		want   error
		text   string
	}{
		{"wrong old passphrase", func(t *testing.T, s *importer.OpenSSLSource) { s.KeyPassphrase = []byte("nope") }, ca.ErrWrongPassphrase, "cannot open the old CA key"},
		{"no old passphrase", func(t *testing.T, s *importer.OpenSSLSource) { s.KeyPassphrase = nil }, ca.ErrPassphraseRequired, ""},
		{"key of another CA", func(t *testing.T, s *importer.OpenSSLSource) { s.CAKey = p("alice.key"); s.KeyPassphrase = nil }, ca.ErrKeyMismatch, ""},
		{"leaf as CA", func(t *testing.T, s *importer.OpenSSLSource) { s.CACert = p("alice.crt"); s.CAKey = p("alice.key") }, importer.ErrNotCA, ""},
		{"missing certificate file", func(t *testing.T, s *importer.OpenSSLSource) {
			if err := os.Rename(p("oldca/newcerts/1002.pem"), p("1002.pem.moved")); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Rename(p("1002.pem.moved"), p("oldca/newcerts/1002.pem")) })
		}, importer.ErrCertMissing, "index.txt line 3: serial 1002 (/CN=carol): certificate file not found"},
		{"certificate does not match its line", func(t *testing.T, s *importer.OpenSSLSource) {
			idx := p("index2.txt")
			data, _ := os.ReadFile(p("oldca/index.txt"))
			os.WriteFile(idx, []byte(strings.Replace(string(data), "\t1000\t", "\t1001\t", 1)), 0o600)
			s.Index, s.CertsDir = idx, p("oldca/newcerts")
		}, importer.ErrIndex, "index2.txt line 2: invalid index.txt: serial 1001 appears again (first on line 1)"},
		{"expiry mismatch", func(t *testing.T, s *importer.OpenSSLSource) {
			idx := p("index3.txt")
			data, _ := os.ReadFile(p("oldca/index.txt"))
			lines := strings.SplitN(string(data), "\t", 2)
			os.WriteFile(idx, []byte("V\t301231235959Z\t"+strings.SplitN(lines[1], "\t", 2)[1]), 0o600)
			s.Index, s.CertsDir = idx, p("oldca/newcerts")
		}, importer.ErrCertMismatch, "index3.txt line 1: serial 1000: certificate does not match the index"},
		{"bad crlnumber", func(t *testing.T, s *importer.OpenSSLSource) {
			os.WriteFile(p("badnum"), []byte("zz\n"), 0o600)
			s.CRLNumber = p("badnum")
		}, nil, `badnum line 1: "zz" is not a hex CRL number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mutate(t, &s)
			_, err := importer.LoadOpenSSL(s)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v does not wrap %v", err, tt.want)
			}
			if tt.text != "" && !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
		})
	}
}

func TestImportEasyRSA(t *testing.T) {
	needOpenSSL(t)
	if _, err := os.Stat(easyRSA); err != nil {
		t.Skip("easy-rsa not installed (scripts/install-deps)")
	}
	src := t.TempDir()
	pki := filepath.Join(src, "pki")
	env := []string{"EASYRSA_PKI=" + pki, "EASYRSA_BATCH=1"}
	e := func(args ...string) { run(t, src, env, easyRSA, append([]string{"--batch"}, args...)...) }
	e("init-pki")
	e("--req-cn=Old easy-rsa CA", "build-ca", "nopass")
	e("build-client-full", "alice", "nopass")
	e("build-client-full", "bob", "nopass")
	e("build-server-full", "srv", "nopass")
	bobCert, err := os.ReadFile(filepath.Join(pki, "issued", "bob.crt"))
	if err != nil {
		t.Fatal(err)
	}
	e("revoke", "bob", "keyCompromise")
	e("gen-crl")

	old, err := importer.LoadEasyRSA(pki, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(old.Records) != 3 || old.Revoked() != 1 {
		t.Fatalf("loaded %d records, %d revoked", len(old.Records), old.Revoked())
	}
	kinds := map[string]store.Kind{}
	for _, r := range old.Records {
		kinds[r.Name] = r.Kind
	}
	if kinds["alice"] != "client" || kinds["srv"] != "server" {
		t.Errorf("kinds %v", kinds)
	}
	d := newDir(t)
	if _, err := d.Import(cadir.ImportRequest{Issuer: old.Issuer, IssuerKey: old.Key, Records: old.Records,
		LastCRLNumber: old.LastCRLNumber, Source: old.Source, Passphrase: wscaPass}); err != nil {
		t.Fatal(err)
	}
	oldEntries, oldNum := crlEntries(t, filepath.Join(pki, "crl.pem"), old.Issuer)
	newEntries, newNum := crlEntries(t, d.File(cadir.CRLFile), old.Issuer)
	sameEntries(t, oldEntries, newEntries)
	if newNum == nil || (oldNum != nil && newNum.Cmp(oldNum) <= 0) {
		t.Errorf("new CRL number %v, old %v", newNum, oldNum)
	}
	bobPath := filepath.Join(src, "bob.crt")
	os.WriteFile(bobPath, bobCert, 0o600)
	if err := opensslVerify(t, d, bobPath); err == nil || !strings.Contains(err.Error(), "certificate revoked") {
		t.Errorf("bob: want certificate revoked, got %v", err)
	}
	if err := opensslVerify(t, d, filepath.Join(pki, "issued", "alice.crt")); err != nil {
		t.Errorf("alice: %v", err)
	}
	if _, err := d.Issue(cadir.IssueRequest{Name: "carol", OutDir: t.TempDir()}); err != nil {
		t.Errorf("issuing after import: %v", err)
	}
}

// TestImportTwoLevel imports an issuing CA that has its own root: the root CRL is kept as given, crl.pem
// holds the issuer's CRL and the root's, and openssl checks the whole chain.
func TestImportTwoLevel(t *testing.T) {
	needOpenSSL(t)
	now := time.Now().UTC()
	h, err := ca.NewHierarchy(rand.Reader, now.Add(-time.Hour), ca.HierarchyRequest{Name: "Legacy"})
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	w := func(name string, data []byte) string {
		p := filepath.Join(src, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var index strings.Builder
	os.Mkdir(filepath.Join(src, "newcerts"), 0o700)
	var certs []string
	for i, name := range []string{"alice", "bob"} {
		key, _ := ca.GenerateKey(rand.Reader, ca.DefaultKeyType)
		cert, err := ca.Issue(rand.Reader, now.Add(-time.Hour), h.Intermediate, ca.LeafRequest{Subject: pkixName(name), PublicKey: key.Public(), Validity: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		serial := ca.SerialUpper(cert.SerialNumber)
		w("newcerts/"+serial+".pem", ca.EncodeCertificates(cert))
		certs = append(certs, w(name+".crt", ca.EncodeCertificates(cert)))
		exp := cert.NotAfter.UTC().Format("060102150405Z")
		if i == 1 {
			fmt.Fprintf(&index, "R\t%s\t%s,cessationOfOperation\t%s\tunknown\t/CN=%s\n", exp, now.Add(-time.Minute).Format("060102150405Z"), serial, name)
		} else {
			fmt.Fprintf(&index, "V\t%s\t\t%s\tunknown\t/CN=%s\n", exp, serial, name)
		}
	}
	rootCRL, err := crl.Build(crl.Template{Number: big.NewInt(41), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(90 * 24 * time.Hour),
		Issuer: h.Root.Cert, Signer: h.Root.Key}, func(func(crl.Entry) bool) {})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := ca.MarshalKey(h.Intermediate.Key)
	s := importer.OpenSSLSource{
		CACert: w("inter.crt", ca.EncodeCertificates(h.Intermediate.Cert)), CAKey: w("inter.key", keyPEM),
		Index: w("index.txt", []byte(index.String())), CRLNumber: w("crlnumber", []byte("0A\n")),
	}
	if _, err := importer.LoadOpenSSL(s); err == nil || !strings.Contains(err.Error(), "--root-cert") {
		t.Fatalf("without the root: %v", err)
	}
	s.RootCert = w("root.crt", ca.EncodeCertificates(h.Root.Cert))
	if _, err := importer.LoadOpenSSL(s); !errors.Is(err, importer.ErrRootCRLRequired) {
		t.Fatalf("without the root CRL: %v", err)
	}
	s.RootCRL = w("root.crl", crl.EncodePEM(rootCRL))
	old, err := importer.LoadOpenSSL(s)
	if err != nil {
		t.Fatal(err)
	}
	d := newDir(t)
	res, err := d.Import(cadir.ImportRequest{Issuer: old.Issuer, IssuerKey: old.Key, Root: old.Root, RootCRL: old.RootCRL,
		Records: old.Records, LastCRLNumber: old.LastCRLNumber, Source: old.Source, Passphrase: wscaPass})
	if err != nil {
		t.Fatal(err)
	}
	if res.SingleCA || d.SingleCA() || res.CRL.Number.Int64() != 10 {
		t.Errorf("result %+v, CRL number %v (want 10: crlnumber said 0A is next)", res, res.CRL.Number)
	}
	if err := opensslVerify(t, d, certs[0]); err != nil {
		t.Errorf("alice: %v", err)
	}
	if err := opensslVerify(t, d, certs[1]); err == nil || !strings.Contains(err.Error(), "certificate revoked") {
		t.Errorf("bob: want revoked, got %v", err)
	}
	_, rootNum := crlEntries(t, d.File(cadir.CRLFile), h.Root.Cert)
	if rootNum.Int64() != 41 {
		t.Errorf("root CRL number %v, want the imported 41", rootNum)
	}
	// Later runs of wsca crl work with the root key offline.
	cr, err := d.GenerateCRL(cadir.CRLOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Number.Int64() != 11 || cr.Entries != 1 {
		t.Errorf("second CRL: number %v, %d entries", cr.Number, cr.Entries)
	}
	st, err := d.OpenStore(true)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.VerifyAudit(); err != nil {
		t.Error(err)
	}
	if _, err := st.Get(h.Intermediate.Cert.SerialNumber); err != nil {
		t.Errorf("the issuing CA is not recorded: %v", err)
	}
}

func pkixName(cn string) pkix.Name { return pkix.Name{CommonName: cn} }
