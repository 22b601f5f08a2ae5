package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wsca/wsca/internal/cadir"
)

// killAtStepEnv makes a child wsca SIGKILL itself when wsca restore reaches its N-th step (1-based).
const killAtStepEnv = "WSCA_TEST_KILL_AT_STEP"

// killAtStep returns a restore step hook that kills the process at the n-th step, after naming it on stderr.
func killAtStep(n int) func(string) {
	seen := 0
	return func(step string) {
		seen++
		if seen == n {
			fmt.Fprintf(os.Stderr, "killed at step %d: %s\n", n, step)
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal arrives asynchronously; never run past the step
		}
	}
}

// snapshot returns the contents of the CA files in dir (absent files are absent from the map).
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, name := range cadir.SwapFiles() {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m[name] = data
	}
	return m
}

// sameFiles reports whether dir holds exactly the files of want (wsca.db and its anchor compared only by
// presence when skipDB: a restored database carries the restore's audit entry).
func sameFiles(t *testing.T, dir string, want map[string][]byte, skipDB bool) string {
	t.Helper()
	got := snapshot(t, dir)
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			return name + " is missing"
		case skipDB && (name == cadir.DBFile || name == cadir.AnchorFile):
		case !bytes.Equal(g, w):
			return name + " differs"
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			return name + " is extra"
		}
	}
	return ""
}

// caState returns "" when dir holds exactly the old CA (and no replaced-* directory), or exactly the new one
// with exactly the old one in its single replaced-* directory; otherwise what is wrong.
func caState(t *testing.T, dir string, oldFiles, newFiles map[string][]byte) string {
	t.Helper()
	asides, _ := filepath.Glob(filepath.Join(dir, cadir.ReplacedPrefix+"*"))
	switch len(asides) {
	case 0:
		if msg := sameFiles(t, dir, oldFiles, false); msg != "" {
			return "the old CA is not complete: " + msg
		}
	case 1:
		if msg := sameFiles(t, dir, newFiles, true); msg != "" {
			return "the new CA is not complete: " + msg
		}
		if msg := sameFiles(t, asides[0], oldFiles, false); msg != "" {
			return "the old CA in " + asides[0] + " is not complete: " + msg
		}
	default:
		return fmt.Sprintf("%d replaced-* directories", len(asides))
	}
	return ""
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	os.RemoveAll(dst)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range snapshot(t, src) {
		if err := os.WriteFile(filepath.Join(dst, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoreKilledAtEveryStep kills wsca restore --force (a real child process, SIGKILL) at each of its
// steps in turn. Right after the kill the CA directory holds the complete old CA, or the swap's journal;
// after the next command (wsca audit --verify, which finishes a committed swap) it holds exactly the old CA
// or exactly the new one with the old one in replaced-*, no journal and no staging copy.
func TestRestoreKilledAtEveryStep(t *testing.T) {
	t.Parallel() // a long test of child processes in its own temp dirs: overlaps TestRenewDaemonTwoMinutes's waiting
	if testing.Short() {
		t.Skip("crash test runs child processes; skipped with -short")
	}
	oldDir, pass := setupCA(t)
	work := filepath.Dir(oldDir)
	if out, err := wscaRun(oldDir, "issue", "alice", "--out", work, "--passphrase-file", pass); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	newDir := filepath.Join(work, "new")
	if out, err := wscaRun(newDir, "init", "--name", "New", "--passphrase-file", pass); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	archive := filepath.Join(work, "new.tar.gz")
	if out, err := wscaRun(newDir, "backup", "--with-keys", archive); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	oldFiles, newFiles := snapshot(t, oldDir), snapshot(t, newDir)
	target := filepath.Join(work, "target")

	steps, sawJournal := 0, false
	for n := 1; n <= 60; n++ {
		copyDir(t, oldDir, target)
		cmd := exec.Command(wscaExe(t), "restore", "--force", archive, "--passphrase-file", pass)
		cmd.Env = childEnv(target, fmt.Sprintf("%s=%d", killAtStepEnv, n))
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err == nil {
			steps = n - 1
			if msg := sameFiles(t, target, newFiles, true); msg != "" {
				t.Fatalf("a completed restore: %s", msg)
			}
			break
		}
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("step %d: restore failed on its own: %v\n%s", n, err, out)
		}
		step := strings.TrimSpace(string(out))
		// Right after the kill: the complete old or new CA, or a committed journal.
		if _, err := os.Stat(filepath.Join(target, cadir.SwapJournal)); err == nil {
			// doctor only reads: it names the interrupted restore and how to finish it.
			if out, _ := wscaRun(target, "doctor"); !sawJournal && !bytes.Contains(out, []byte("interrupted after its commit point")) {
				t.Fatalf("%s: doctor does not report the interrupted restore:\n%s", step, out)
			}
			sawJournal = true
		} else if msg := caState(t, target, oldFiles, newFiles); msg != "" {
			t.Fatalf("%s, no journal: %s", step, msg)
		}
		if out, err := wscaRun(target, "audit", "--verify"); err != nil {
			t.Fatalf("%s: audit --verify after the kill: %v\n%s", step, err, out)
		}
		if leftovers, _ := filepath.Glob(filepath.Join(target, ".wsca-*")); len(leftovers) > 0 {
			t.Fatalf("%s: left behind after recovery: %v", step, leftovers)
		}
		if msg := caState(t, target, oldFiles, newFiles); msg != "" {
			t.Fatalf("%s, after recovery: %s", step, msg)
		}
	}
	// staging, extracted, validated, recorded, staged, journal, 9 asides, 9 installs, installed, committed.
	if steps < 20 || !sawJournal {
		t.Fatalf("restore ran %d steps (journal seen: %t): the test did not cover the swap", steps, sawJournal)
	}
	t.Logf("killed at each of %d steps", steps)
	if out, _ := wscaRun(target, "audit"); !bytes.Contains(out, []byte("restore")) {
		t.Fatalf("the restored CA does not record its restore:\n%s", out)
	}
}

// TestRestoreOntoMountPoint restores into a CA directory that is its own file system (a tmpfs mounted on
// it): staging next to it, on the parent's file system, could not be renamed or linked into it (EXDEV).
func TestRestoreOntoMountPoint(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root so that this test can mount a tmpfs")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	oldDir, pass := setupCA(t)
	work := filepath.Dir(oldDir)
	archive := filepath.Join(work, "old.tar.gz")
	if out, err := wscaRun(oldDir, "backup", "--with-keys", archive); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	target := filepath.Join(work, "mnt")
	if err := os.Mkdir(target, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", target, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(target, syscall.MNT_DETACH) })

	if out, err := wscaRun(target, "restore", archive, "--passphrase-file", pass); err != nil {
		t.Fatalf("restore into an empty mount point: %v\n%s", err, out)
	}
	if out, err := wscaRun(target, "restore", "--force", archive, "--passphrase-file", pass); err != nil {
		t.Fatalf("restore --force onto a CA on its own mount point: %v\n%s", err, out)
	}
	if msg := sameFiles(t, target, snapshot(t, oldDir), true); msg != "" {
		t.Fatalf("after the restores: %s", msg)
	}
	if out, err := wscaRun(target, "audit", "--verify"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(target, ".wsca-*")); len(leftovers) > 0 {
		t.Fatalf("left behind: %v", leftovers)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(work, ".wsca-*")); len(leftovers) > 0 {
		t.Fatalf("staging outside the CA directory: %v", leftovers)
	}
}

// TestBackupReadOnlyCADir backs up a CA directory on a read-only mount (a snapshot): the archive is written,
// and the audit entry that cannot be written is a warning, not a failure.
func TestBackupReadOnlyCADir(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("CI runs as root so that this test can mount a tmpfs")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	work := t.TempDir()
	dir := filepath.Join(work, "pki")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m,mode=0700"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	pass := filepath.Join(work, "pass")
	if err := os.WriteFile(pass, []byte("correct horse battery staple\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := wscaRun(dir, "init", "--name", "RO", "--passphrase-file", pass); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	archive := filepath.Join(work, "ro.tar.gz")
	out, err := wscaRun(dir, "backup", "--with-keys", archive)
	if err != nil {
		t.Fatalf("backup of a read-only CA directory: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("warning: the backup is not recorded in the audit log")) {
		t.Errorf("no warning about the audit log:\n%s", out)
	}
	restored := filepath.Join(work, "restored")
	if out, err := wscaRun(restored, "restore", archive, "--passphrase-file", pass); err != nil {
		t.Fatalf("the archive does not restore: %v\n%s", err, out)
	}
	// An existing archive is not overwritten without --force.
	out, err = wscaRun(dir, "backup", archive)
	if err == nil || !bytes.Contains(out, []byte("already exists")) {
		t.Fatalf("backup over an existing file: %v\n%s", err, out)
	}
}
