package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsca/wsca/store"
)

// TestAuditVerifyDetectsChangedByte changes one byte of an audit entry inside wsca.db, on disk, and
// expects wsca audit --verify to fail with exit code 1 naming that entry, while the untouched copy passes.
func TestAuditVerifyDetectsChangedByte(t *testing.T) {
	dir, pass := setupCA(t)
	for _, args := range [][]string{
		{"issue", "alice", "--out", filepath.Dir(dir), "--passphrase-file", pass},
		{"revoke", "alice", "--reason", "keyCompromise", "--no-publish"},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	out, err := wscaRun(dir, "audit", "--json")
	if err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	var entries []store.AuditEntry
	if err := json.Unmarshal(out, &entries); err != nil {
		t.Fatalf("audit --json is not a JSON array of entries: %v\n%s", err, out)
	}
	var target *store.AuditEntry
	for i := range entries {
		if entries[i].Action == store.ActionRevoke && entries[i].Name == "alice" {
			target = &entries[i]
		}
	}
	if target == nil {
		t.Fatalf("no revoke entry for alice in %s", out)
	}
	if out, err := wscaRun(dir, "audit", "--verify"); err != nil || !strings.Contains(string(out), "audit log intact") {
		t.Fatalf("untouched log: %v\n%s", err, out)
	}

	// The entry's JSON holds `"reason=keyCompromise at=…"` in its detail; bbolt stores values verbatim
	// and has no checksum on data pages, so changing one byte of it in the file edits the entry. Older
	// copies of the page may remain in free pages: every occurrence is changed, only the live one matters.
	dbPath := filepath.Join(dir, "wsca.db")
	data, err := os.ReadFile(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	needle := []byte(`"detail":"reason=keyCompromise`)
	n := bytes.Count(data, needle)
	if n == 0 {
		t.Fatal("audit entry not found in the database file")
	}
	edited := bytes.ReplaceAll(data, needle, []byte(`"detail":"reason=keyCompromisf`))
	if diff := countDiff(data, edited); diff != n {
		t.Fatalf("changed %d bytes, want %d", diff, n)
	}
	if err := os.WriteFile(dbPath, edited, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err = wscaRun(dir, "audit", "--verify")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("audit --verify after the edit: err %v, want exit code 1\n%s", err, out)
	}
	want := fmt.Sprintf("wsca: error: store: audit entry %d: audit log has been tampered with: hash mismatch (entry edited)", target.Seq)
	if !strings.Contains(string(out), want) {
		t.Errorf("output %q does not contain %q", out, want)
	}
	// The log is still readable: the operator can see what the entry now says.
	if out, err := wscaRun(dir, "audit"); err != nil || !strings.Contains(string(out), "reason=keyCompromisf") {
		t.Errorf("audit after the edit: %v\n%s", err, out)
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}
