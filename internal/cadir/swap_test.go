package cadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecoverSwapRefusesForeignJournal: the journal only ever names the CA's own files and a staging or
// replaced-* directory inside the CA directory; anything else is refused, and nothing is moved.
func TestRecoverSwapRefusesForeignJournal(t *testing.T) {
	for _, journal := range []string{
		`{`,
		`{"staging":"../elsewhere","aside":"","old":[],"new":["wsca.db"]}`,
		`{"staging":".wsca-restore-1","aside":"../../tmp/x","old":["wsca.db"],"new":[]}`,
		`{"staging":".wsca-restore-1","aside":"replaced-1","old":["../../etc/passwd"],"new":[]}`,
		`{"staging":".wsca-restore-1","aside":"replaced-1","old":[],"new":["authorized_keys"]}`,
	} {
		d := &Dir{Path: t.TempDir()}
		if err := os.WriteFile(d.File(DBFile), []byte("db"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d.File(SwapJournal), []byte(journal), 0o600); err != nil {
			t.Fatal(err)
		}
		err := d.RecoverSwap()
		if err == nil || !strings.Contains(err.Error(), "by hand") {
			t.Errorf("journal %s: %v", journal, err)
		}
		if _, err := os.Stat(d.File(DBFile)); err != nil {
			t.Errorf("journal %s: the database was moved: %v", journal, err)
		}
	}
}

// TestRecoverSwapDiscardsUncommittedStaging: without a journal a staging directory is a restore killed before
// its commit point; RecoverSwap removes it and leaves the CA as it is.
func TestRecoverSwapDiscardsUncommittedStaging(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	if err := os.WriteFile(d.File(DBFile), []byte("db"), 0o600); err != nil {
		t.Fatal(err)
	}
	staging, err := d.NewStaging()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(staging, IntermediateKeyFile), []byte("key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.RecoverSwap(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(staging); !os.IsNotExist(err) {
		t.Fatalf("staging copy left behind: %v", err)
	}
	if data, _ := os.ReadFile(d.File(DBFile)); string(data) != "db" {
		t.Fatal("the CA changed")
	}
}
