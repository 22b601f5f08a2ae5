package main

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseValidity(t *testing.T) {
	for in, want := range map[string]time.Duration{"24h": 24 * time.Hour, "90m": 90 * time.Minute, "30d": 30 * 24 * time.Hour,
		"1h30m": 90 * time.Minute, "1m": time.Minute} {
		if got, err := parseValidity(in); err != nil || got != want {
			t.Errorf("parseValidity(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"30s", "0d", "-1h", "d", "1.5d", "tomorrow", ""} {
		if _, err := parseValidity(in); err == nil {
			t.Errorf("parseValidity(%q) accepted", in)
		}
	}
}

// TestIssueValidAndToken: --valid gives the lifetime asked for; misuse of --valid and --token is a usage
// error (exit 2) that names the fix; --token prints a token once and writes no file.
func TestIssueValidAndToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	runIn := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		e := testEnv(&out, &errb)
		e.rand = rand.Reader
		code := run(e, append([]string{"--dir", dir}, args...))
		return code, out.String(), errb.String()
	}
	if code, _, errs := runIn("init", "--insecure-no-passphrase"); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	out := t.TempDir()
	if code, stdout, errs := runIn("issue", "dev", "--valid", "2m", "--out", out); code != 0 {
		t.Fatalf("issue --valid 2m: %s %s", stdout, errs)
	}
	cert := readCert(t, filepath.Join(out, "dev.crt"))
	if life := cert.NotAfter.Sub(cert.NotBefore); life != 2*time.Minute+12*time.Second {
		t.Errorf("lifetime %s, want 2m plus a tenth backdated", life)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"issue", "x", "--days", "3", "--valid", "1h"}, "either --days or --valid"},
		{[]string{"issue", "x", "--valid", "30s"}, "shorter than"},
		{[]string{"issue", "x", "--token", "--p12"}, "--token cannot be combined"},
		{[]string{"issue", "--token", "--from", "a.csv"}, "exactly one NAME"},
	} {
		code, _, errs := runIn(tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errs, tc.want)
		}
	}
	code, stdout, errs := runIn("issue", "sensor", "--token", "--uri", "spiffe://example.com/sensor", "--out", out)
	if code != 0 || !regexp.MustCompile(`(?m)^[0-9a-f]{32}$`).MatchString(stdout) {
		t.Fatalf("--token: exit %d\n%s%s", code, stdout, errs)
	}
	if strings.Contains(errs, strings.TrimSpace(stdout[strings.LastIndex(strings.TrimSpace(stdout), "\n")+1:])) {
		t.Error("the token was printed to stderr too")
	}
	if m, _ := filepath.Glob(filepath.Join(out, "sensor*")); len(m) != 0 {
		t.Errorf("--token wrote %v", m)
	}
}
