package publish

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wsca/wsca/internal/cadir"
)

// TestWatchedSettles: a file modified just now is loaded again on every check until its mtime is older
// than settleTime (a second write in the same coarse-clock tick would not change the stamp); after that,
// only a change loads it.
func TestWatchedSettles(t *testing.T) {
	dir := &cadir.Dir{Path: t.TempDir()}
	p := filepath.Join(dir.Path, "f")
	if err := os.WriteFile(p, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	loads := 0
	w := &watched{names: []string{"f"}, load: func(stamp) bool { loads++; return true }}
	now := time.Now()
	if err := os.Chtimes(p, now, now); err != nil {
		t.Fatal(err)
	}
	w.check(dir)
	w.check(dir)
	if loads != 2 {
		t.Fatalf("a file modified just now was loaded %d times in two checks, want 2", loads)
	}
	old := now.Add(-time.Second)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	w.check(dir)
	w.check(dir)
	if loads != 3 {
		t.Fatalf("a settled file was loaded %d times, want 3", loads)
	}
	if err := os.WriteFile(p, []byte("bb"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, old, old); err != nil { // same mtime, other size
		t.Fatal(err)
	}
	w.check(dir)
	if loads != 4 {
		t.Fatalf("a change of size was not loaded (%d loads)", loads)
	}
}
