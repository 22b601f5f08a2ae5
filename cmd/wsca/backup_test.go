package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wsca/wsca/store"
)

// TestBackupDuringConcurrentIssue takes backups (real wsca processes) while other wsca processes issue
// certificates, then restores every archive and checks that each is a consistent CA: the database
// opens, every record's certificate parses, the audit chain verifies, every record is also in the live
// CA, and issuing from the restored CA works.
func TestBackupDuringConcurrentIssue(t *testing.T) {
	t.Parallel() // a long test of child processes in its own temp dirs: overlaps TestRenewDaemonTwoMinutes's waiting
	if testing.Short() {
		t.Skip("runs many child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	const issuers, perIssuer, maxBackups = 3, 8, 20

	var wg sync.WaitGroup
	errs := make(chan error, issuers*perIssuer)
	done := make(chan struct{})
	for w := range issuers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := filepath.Join(work, fmt.Sprintf("out%d", w))
			os.Mkdir(out, 0o700)
			for i := range perIssuer {
				if o, err := wscaRun(dir, "issue", fmt.Sprintf("u%d-%d", w, i), "--out", out, "--passphrase-file", pass, "--lock-timeout", "30s"); err != nil {
					errs <- fmt.Errorf("issue: %v\n%s", err, o)
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()

	var archives []string
	deadline := time.After(2 * time.Minute)
loop:
	for k := 0; k < maxBackups; k++ {
		select {
		case <-done:
			break loop
		case <-deadline:
			t.Fatal("issuers did not finish in 2 minutes")
		default:
		}
		a := filepath.Join(work, fmt.Sprintf("b%02d.tgz", k))
		if o, err := wscaRun(dir, "backup", "--with-keys", a, "--lock-timeout", "30s"); err != nil {
			t.Fatalf("backup %d: %v\n%s", k, err, o)
		}
		archives = append(archives, a)
	}
	<-done
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(archives) == 0 {
		t.Fatal("no backup was taken while issuing")
	}

	live := map[string][]byte{}
	st, err := store.Open(filepath.Join(dir, "wsca.db"), store.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	st.ForEach(func(r store.Record) error { live[r.Serial.Text(16)] = r.DER; return nil })
	st.Close()
	if want := 2 + issuers*perIssuer; len(live) != want {
		t.Fatalf("live CA has %d records, want %d", len(live), want)
	}

	midway := 0
	for k, a := range archives {
		rdir := filepath.Join(work, fmt.Sprintf("restored%02d", k))
		if o, err := wscaRun(rdir, "restore", a, "--passphrase-file", pass); err != nil {
			t.Fatalf("restore %s: %v\n%s", a, err, o)
		}
		st, err := store.Open(filepath.Join(rdir, "wsca.db"), store.Options{Timeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		n := 0
		err = st.ForEach(func(r store.Record) error {
			if _, err := x509.ParseCertificate(r.DER); err != nil {
				return fmt.Errorf("record %x: %w", r.Serial, err)
			}
			if string(live[r.Serial.Text(16)]) != string(r.DER) {
				return fmt.Errorf("record %x is not in the live CA", r.Serial)
			}
			n++
			return nil
		})
		if err == nil {
			err = st.VerifyAudit()
		}
		st.Close()
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		if n > 2 && n < len(live) {
			midway++
		}
		if k == 0 || k == len(archives)-1 || k%5 == 0 {
			out := filepath.Join(work, fmt.Sprintf("fresh%02d", k))
			os.Mkdir(out, 0o700)
			if o, err := wscaRun(rdir, "issue", "fresh", "--out", out, "--passphrase-file", pass); err != nil {
				t.Errorf("issuing from the CA restored from %s: %v\n%s", a, err, o)
			}
		}
	}
	t.Logf("%d backups, %d taken mid-issuance", len(archives), midway)
	if midway == 0 {
		t.Fatal("no backup caught the CA mid-issuance; the test proved nothing")
	}
}
