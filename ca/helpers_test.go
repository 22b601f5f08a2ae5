package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is a fixed clock for tests that do not hand certificates to
// external tools (which use the real time).
var testNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

func newTestHierarchy(t testing.TB, kt KeyType, now time.Time) *Hierarchy {
	t.Helper()
	h, err := NewHierarchy(rand.Reader, now, HierarchyRequest{Name: "Test Corp", Organization: "Test Org", Country: "DE", KeyType: kt})
	if err != nil {
		t.Fatalf("NewHierarchy(%s): %v", kt, err)
	}
	return h
}

func mustKey(t testing.TB, kt KeyType) crypto.Signer {
	t.Helper()
	k, err := GenerateKey(rand.Reader, kt)
	if err != nil {
		t.Fatalf("GenerateKey(%s): %v", kt, err)
	}
	return k
}

func writeFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// requireTool skips the test when the named external tool is not installed
// (CI installs openssl and a JDK, so the interop tests run there).
func requireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found in PATH: skipping interop test (%v)", name, err)
	}
	return p
}

// run executes an external tool with a time limit and returns its combined
// output; wantOK decides whether a non-zero exit fails the test.
func run(t testing.TB, wantOK bool, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if wantOK && err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out), err
}
