package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLockedSameProcess relies on flock locks belonging to the open file
// description: a second bolt.Open in the same process opens the file again
// and is refused just like another process would be.
func TestLockedSameProcess(t *testing.T) {
	s, path := testStore(t)
	_ = s
	for _, ro := range []bool{false, true} {
		start := time.Now()
		_, err := Open(path, Options{Timeout: 200 * time.Millisecond, ReadOnly: ro})
		elapsed := time.Since(start)
		if !errors.Is(err, ErrLocked) {
			t.Fatalf("read-only=%v: %v, want ErrLocked", ro, err)
		}
		if !strings.Contains(err.Error(), "database is locked by another wsca process") || !strings.Contains(err.Error(), path) {
			t.Errorf("message %q", err)
		}
		// The upper bound only proves the timeout ends the wait; it is loose because a loaded CI machine stalls.
		if elapsed < 150*time.Millisecond || elapsed > 3*time.Second {
			t.Errorf("read-only=%v: gave up after %v, want ~200ms", ro, elapsed)
		}
	}
}

const lockHelperEnv = "WSCA_STORE_LOCK_HELPER"

// TestLockHelper is not a test: run as a child process by TestLockedOtherProcess,
// it holds the database open until its stdin closes.
func TestLockHelper(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process only")
	}
	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(3)
	}
	fmt.Println("locked")
	buf := make([]byte, 1)
	_, _ = os.Stdin.Read(buf) // returns when the parent closes the pipe
	_ = s.Close()
	os.Exit(0)
}

func TestLockedOtherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	s, path := testStore(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	// Wait (bounded) for the child to report that it holds the lock.
	line := make([]byte, 64)
	_ = pr.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := pr.Read(line)
	out.Write(line[:n])
	pr.Close()
	if !strings.Contains(out.String(), "locked") {
		t.Fatalf("child did not lock: %q", out.String())
	}
	start := time.Now()
	_, err = Open(path, Options{Timeout: 200 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds it: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
	// Once the child exits the lock is free again.
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	s2, err := Open(path, Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("Open after child exit: %v", err)
	}
	s2.Close()
}

func TestCorrupt(t *testing.T) {
	valid := func(t *testing.T) []byte {
		s, path := testStore(t)
		var recs []Record
		for i := int64(1); i <= 300; i++ {
			recs = append(recs, rec(i, fmt.Sprint("name", i), "client"))
		}
		if err := s.Add(recs...); err != nil {
			t.Fatal(err)
		}
		s.Close()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.UintN(256))
		}
		return b
	}
	tests := []struct {
		name string
		data func(t *testing.T) []byte
	}{
		{"empty file", func(*testing.T) []byte { return nil }},
		{"one byte", func(*testing.T) []byte { return []byte{1} }},
		{"random 100 bytes", func(*testing.T) []byte { return random(100) }},
		{"random 64 KiB", func(*testing.T) []byte { return random(64 << 10) }},
		{"text file", func(*testing.T) []byte { return []byte(strings.Repeat("not a database\n", 1000)) }},
		{"truncated to 1 KiB", func(t *testing.T) []byte { return valid(t)[:1024] }},
		{"truncated to 5 KiB", func(t *testing.T) []byte { return valid(t)[:5000] }},
		{"truncated to half", func(t *testing.T) []byte { b := valid(t); return b[:len(b)/2] }},
		{"meta pages zeroed", func(t *testing.T) []byte { b := valid(t); clear(b[:8192]); return b }},
		{"data pages random", func(t *testing.T) []byte {
			b := valid(t)
			copy(b[8192:], random(len(b)-8192))
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "wsca.db")
			if err := os.WriteFile(path, tt.data(t), 0o600); err != nil {
				t.Fatal(err)
			}
			// Read-only first: a panic inside bolt.Open in read-write mode
			// leaves the file locked in this process (see Open).
			for _, ro := range []bool{true, false} {
				s, err := Open(path, Options{ReadOnly: ro, Timeout: time.Second})
				if err == nil {
					// Damage beyond the pages Open reads must surface on use, not panic.
					err = s.ForEach(func(Record) error { return nil })
					if err == nil {
						err = s.VerifyAudit()
					}
					s.Close()
				}
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrSchema) && !errors.Is(err, ErrAuditTampered) {
					t.Fatalf("read-only=%v: %v, want ErrCorrupt", ro, err)
				}
				t.Logf("read-only=%v: %v", ro, err)
			}
		})
	}
}

// FuzzOpenReadOnly feeds arbitrary bytes to Open and every read path: a
// damaged wsca.db must give an error, never a panic. Read-only, because a
// panic inside bbolt's read-write open leaves the file locked (see Open).
func FuzzOpenReadOnly(f *testing.F) {
	s, path := testStore(f)
	if err := s.Add(rec(1, "a", "client"), rec(2, "b", "intermediate")); err != nil {
		f.Fatal(err)
	}
	if _, err := s.Revoke(big.NewInt(1), Revocation{At: t0, Reason: KeyCompromise}); err != nil {
		f.Fatal(err)
	}
	s.Close()
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "wsca.db")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(p, Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			return
		}
		defer s.Close()
		_ = s.ForEach(func(Record) error { return nil })
		_ = s.ForEachRevokedEntry(ScopeIntermediate, func(*big.Int, time.Time, Reason, time.Time) error { return nil })
		_ = s.ForEachRevoked([]Kind{"client"}, func(Record) error { return nil })
		_, _ = s.ByName("a")
		_, _ = s.CRLState(ScopeRoot)
		_ = s.VerifyAudit()
	})
}
