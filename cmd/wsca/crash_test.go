package main

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

// startKilled runs a wsca child and SIGKILLs it after a random delay up to max; it reports whether the
// child was killed before it finished.
func startKilled(t *testing.T, dir string, max time.Duration, args ...string) bool {
	t.Helper()
	cmd := exec.Command(wscaExe(t), args...)
	cmd.Env = childEnv(dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil && !strings.Contains(out.String(), "locked") {
			t.Fatalf("wsca %v failed on its own: %v\n%s", args, err, out.String())
		}
		return false
	case <-time.After(time.Duration(rand.Int64N(int64(max)))):
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		return true
	}
}

// TestCrashIssueFrom kills wsca issue --from at random moments and then checks that the database opens,
// every certificate file on disk has a matching record, and no serial repeats.
func TestCrashIssueFrom(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	const rounds, rows = 25, 120
	killed := 0
	for i := 0; i < rounds; i++ {
		csv := filepath.Join(work, fmt.Sprintf("batch%d.csv", i))
		writeCSV(t, csv, fmt.Sprintf("r%02du", i), rows)
		out := filepath.Join(work, fmt.Sprintf("out%d", i))
		os.Mkdir(out, 0o700)
		if startKilled(t, dir, 400*time.Millisecond, "issue", "--from", csv, "--out", out, "--p12",
			"--p12-password-file", pass, "--same-p12-password", "--passphrase-file", pass) {
			killed++
		}
		// After every kill the database must open (bbolt's lock is released by the kernel).
		st, err := store.Open(filepath.Join(dir, "wsca.db"), store.Options{Timeout: 2 * time.Second, ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: database does not open after SIGKILL: %v", i, err)
		}
		st.Close()
	}
	if killed == 0 {
		t.Fatal("no child was killed mid-run; the test proved nothing")
	}
	st, err := store.Open(filepath.Join(dir, "wsca.db"), store.Options{Timeout: 2 * time.Second, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	names := map[string]string{} // serial hex -> name
	err = st.ForEach(func(r store.Record) error {
		if _, dup := names[ca.SerialHex(r.Serial)]; dup {
			return fmt.Errorf("serial %s recorded twice", ca.SerialHex(r.Serial))
		}
		names[ca.SerialHex(r.Serial)] = r.Name
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	seen := map[string]string{}
	crts, _ := filepath.Glob(filepath.Join(work, "out*", "*.crt"))
	for _, p := range crts {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		certs, err := ca.ParseCertificates(data)
		if err != nil {
			t.Fatalf("%s is not a whole certificate file: %v", p, err)
		}
		s := ca.SerialHex(certs[0].SerialNumber)
		name, ok := names[s]
		if !ok {
			t.Fatalf("%s (serial %s) has no record in the database", p, s)
		}
		if want := strings.TrimSuffix(filepath.Base(p), ".crt"); name != want {
			t.Fatalf("%s: record names %q", p, name)
		}
		if other, dup := seen[s]; dup {
			t.Fatalf("serial %s in both %s and %s", s, p, other)
		}
		seen[s] = p
		files++
	}
	t.Logf("%d rounds, %d killed mid-run, %d records, %d certificate files, all recorded", rounds, killed, len(names), files)
}

// TestCrashCRLAndRevoke kills wsca crl and wsca revoke at random moments; crl.pem must always be a whole,
// valid CRL signed by the CA, and no CRL number may ever label two different CRLs.
func TestCrashCRLAndRevoke(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	csv := filepath.Join(work, "users.csv")
	writeCSV(t, csv, "u", 60)
	os.Mkdir(filepath.Join(work, "out"), 0o700)
	if out, err := wscaRun(dir, "issue", "--from", csv, "--out", filepath.Join(work, "out"), "--passphrase-file", pass); err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	caData, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cas, err := ca.ParseCertificates(caData)
	if err != nil {
		t.Fatal(err)
	}
	byNumber := map[string][32]byte{}
	check := func(round int) {
		data, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		crls, err := crl.Parse(data, cas)
		if err != nil {
			t.Fatalf("round %d: crl.pem is not a whole valid CRL: %v", round, err)
		}
		if len(crls) != 2 {
			t.Fatalf("round %d: crl.pem holds %d CRLs, want 2", round, len(crls))
		}
		c := crls[0]
		key := c.Issuer.Subject.CommonName + "#" + c.Number.String()
		sum := sha256.Sum256(c.Raw)
		if prev, ok := byNumber[key]; ok && prev != sum {
			t.Fatalf("round %d: CRL number %s labels two different CRLs", round, c.Number)
		}
		byNumber[key] = sum
	}
	const rounds = 30
	killed := 0
	for i := 0; i < rounds; i++ {
		args := []string{"crl", "--passphrase-file", pass}
		if i%3 == 1 {
			args = []string{"revoke", fmt.Sprintf("u%04d", i), "--reason", "superseded", "--no-publish"}
		}
		if startKilled(t, dir, 150*time.Millisecond, args...) {
			killed++
		}
		check(i)
	}
	if killed == 0 {
		t.Fatal("no child was killed mid-run; the test proved nothing")
	}
	// A last clean run must still succeed and move the number forward.
	if out, err := wscaRun(dir, "crl", "--passphrase-file", pass); err != nil {
		t.Fatalf("crl after crashes: %v\n%s", err, out)
	}
	check(rounds)
	t.Logf("%d rounds, %d killed, %d distinct CRLs seen", rounds, killed, len(byNumber))
}

// TestConcurrentIssue starts several wsca issue processes at once: each succeeds or reports the lock,
// and every serial is distinct.
func TestConcurrentIssue(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	out := filepath.Join(filepath.Dir(dir), "out")
	os.Mkdir(out, 0o700)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	outs := make([]string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			o, err := wscaRun(dir, "issue", fmt.Sprintf("user%d", i), "--out", out, "--passphrase-file", pass)
			outs[i], errs[i] = string(o), err
		}(i)
	}
	wg.Wait()
	ok := 0
	for i := range errs {
		switch {
		case errs[i] == nil:
			ok++
		case strings.Contains(outs[i], "database is locked by another wsca process"):
		default:
			t.Errorf("issue user%d: %v\n%s", i, errs[i], outs[i])
		}
	}
	if ok == 0 {
		t.Fatal("no concurrent issue succeeded")
	}
	serials := map[string]bool{}
	crts, _ := filepath.Glob(filepath.Join(out, "*.crt"))
	for _, p := range crts {
		data, _ := os.ReadFile(p)
		c, err := ca.ParseCertificates(data)
		if err != nil {
			t.Fatal(err)
		}
		s := c[0].SerialNumber.Text(16)
		if serials[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		serials[s] = true
	}
	if len(serials) != ok {
		t.Fatalf("%d processes succeeded but %d certificate files exist", ok, len(serials))
	}
}

// TestLockTimeout holds the database in another process and checks that wsca gives up with the lock
// message after --lock-timeout instead of hanging.
func TestLockTimeout(t *testing.T) {
	dir, _ := setupCA(t)
	st, err := store.Open(filepath.Join(dir, "wsca.db"), store.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	out, err := wscaRun(dir, "list", "--lock-timeout", "300ms")
	if err == nil {
		t.Fatal("list succeeded while the database was held")
	}
	if !strings.Contains(string(out), "database is locked by another wsca process") || !strings.Contains(string(out), "hint:") {
		t.Fatalf("unexpected message: %s", out)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("gave up after %v", d)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1", err)
	}
}

func setupCA(t *testing.T) (dir, pass string) {
	t.Helper()
	root := t.TempDir()
	dir = filepath.Join(root, "pki")
	pass = filepath.Join(root, "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := wscaRun(dir, "init", "--name", "Test", "--passphrase-file", pass); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	return dir, pass
}

func wscaRun(dir string, args ...string) ([]byte, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = childEnv(dir)
	return cmd.CombinedOutput()
}
