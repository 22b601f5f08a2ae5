package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// asMainEnv makes the test binary behave as the wsca command, so crash and concurrency tests can run it
// as real child processes without a separate build.
const asMainEnv = "WSCA_TEST_RUN_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		e := newEnv()
		if n, err := strconv.Atoi(os.Getenv(killAtStepEnv)); err == nil {
			e.restoreStep = killAtStep(n)
		}
		os.Exit(run(e, os.Args[1:]))
	}
	testscript.Main(m, map[string]func(){
		"wsca": func() { os.Exit(run(newEnv(), os.Args[1:])) },
	})
}

// TestScripts runs the CLI end-to-end stories in testdata/script: the real command, real files, and the
// real openssl, pk12util and keytool where interoperability is claimed.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(e *testscript.Env) error {
			e.Setenv("WSCA_DIR", filepath.Join(e.WorkDir, "pki"))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mode":      cmdMode,
			"httpserve": cmdHTTPServe,
			"listen":    cmdListen,
			"freeport":  cmdFreePort,
			"tlsserver": cmdTLSServer,
			"wscloser":  cmdWSCloser,
			"capture":   cmdCapture,
		},
	})
}

// cmdHTTPServe serves a directory over plain HTTP on loopback for the rest of the script (a static web server
// such as a CRL consumer may poll) and sets $HTTPURL to its base URL: httpserve DIR.
func cmdHTTPServe(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: httpserve DIR")
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(ts.MkAbs(args[0]))))
	ts.Defer(srv.Close)
	ts.Setenv("HTTPURL", srv.URL)
}

// cmdMode checks a file's permission bits: mode PATH 0600.
func cmdMode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: mode PATH OCTAL")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	if err != nil {
		ts.Fatalf("bad mode %q", args[1])
	}
	st, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	got := uint64(st.Mode().Perm())
	if (got == want) == neg {
		ts.Fatalf("%s has mode %04o; want %s%04o", args[0], got, map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// wscaCmd returns the argv of a child wsca process: this test binary in main mode.
func wscaExe(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

func childEnv(dir string, extra ...string) []string {
	env := append(os.Environ(), asMainEnv+"=1", "WSCA_DIR="+dir)
	return append(env, extra...)
}

func writeCSV(t *testing.T, path, prefix string, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("name,email\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%s%04d,%s%04d@example.com\n", prefix, i, prefix, i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
