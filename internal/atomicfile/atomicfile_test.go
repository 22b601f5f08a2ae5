package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "crl.pem")
	if err := Write(p, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || string(got) != "two" {
		t.Fatalf("content = %q, %v; want two", got, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode = %v, want 0644", st.Mode().Perm())
	}
	assertOnly(t, dir, "crl.pem")
}

func TestWriteNewRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "alice.key")
	if err := WriteNew(p, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	err := WriteNew(p, []byte("other"), 0o600)
	if !errors.Is(err, ErrExists) {
		t.Fatalf("second WriteNew err = %v, want ErrExists", err)
	}
	got, _ := os.ReadFile(p)
	if string(got) != "secret" {
		t.Errorf("existing file changed to %q", got)
	}
	assertOnly(t, dir, "alice.key")
}

func TestWriteUnwritableDirLeavesNothing(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; use a missing directory instead.
		err := Write(filepath.Join(t.TempDir(), "missing", "f"), []byte("x"), 0o644)
		if err == nil {
			t.Fatal("Write into a missing directory succeeded")
		}
		return
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if err := Write(filepath.Join(dir, "f"), []byte("x"), 0o644); err == nil {
		t.Fatal("Write into a read-only directory succeeded")
	}
	assertOnly(t, dir)
}

func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != len(names) {
		var got []string
		for _, e := range ents {
			got = append(got, e.Name())
		}
		t.Fatalf("directory holds %v, want %v", got, names)
	}
}

func TestBatchCommit(t *testing.T) {
	dir := t.TempDir()
	var b Batch
	for _, n := range []string{"a.crt", "a.key", "b.crt"} {
		if err := b.Add(filepath.Join(dir, n), []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is visible before Commit.
	if _, err := os.Stat(filepath.Join(dir, "a.crt")); err == nil {
		t.Fatal("a.crt visible before Commit")
	}
	created, err := b.Commit()
	if err != nil || len(created) != 3 {
		t.Fatalf("Commit = %v, %v", created, err)
	}
	for _, n := range []string{"a.crt", "a.key", "b.crt"} {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil || string(got) != n {
			t.Fatalf("%s = %q, %v", n, got, err)
		}
		if st, _ := os.Stat(filepath.Join(dir, n)); st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", n, st.Mode().Perm())
		}
	}
	assertOnly(t, dir, "a.crt", "a.key", "b.crt")
}

func TestBatchRefusesExistingAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	if err := WriteNew(filepath.Join(dir, "b.key"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var b Batch
	b.Add(filepath.Join(dir, "a.key"), []byte("a"), 0o600)
	b.Add(filepath.Join(dir, "b.key"), []byte("new"), 0o600)
	b.Add(filepath.Join(dir, "c.key"), []byte("c"), 0o600)
	created, err := b.Commit()
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Commit err = %v, want ErrExists", err)
	}
	if len(created) != 1 || filepath.Base(created[0]) != "a.key" {
		t.Fatalf("created = %v, want [a.key]", created)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "b.key")); string(got) != "old" {
		t.Fatalf("existing b.key changed to %q", got)
	}
	assertOnly(t, dir, "a.key", "b.key")
}

func TestBatchAbort(t *testing.T) {
	dir := t.TempDir()
	var b Batch
	b.Add(filepath.Join(dir, "x"), []byte("x"), 0o644)
	b.Abort()
	assertOnly(t, dir)
}
