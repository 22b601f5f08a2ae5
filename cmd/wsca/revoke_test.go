package main

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRevokeWithoutPassphraseSource: with no passphrase file and no terminal, wsca revoke records the
// revocation (exit 0), warns that it is not published and says exactly what does not enforce it yet, in the
// wsca: hint: format; the next wsca crl --if-due publishes it.
func TestRevokeWithoutPassphraseSource(t *testing.T) {
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "bob", "--out", work, "--passphrase-file", pass},
		{"crl", "--copy-to", filepath.Join(work, "relay.pem"), "--passphrase-file", pass},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), now: time.Now, rand: rand.Reader,
		getenv: func(k string) string { return map[string]string{"WSCA_DIR": dir}[k] }}
	if code := run(e, []string{"revoke", "bob", "--reason", "keyCompromise"}); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if !strings.HasPrefix(stdout.String(), "revoked bob (serial ") || len(lines) != 2 ||
		!strings.HasPrefix(lines[0], "wsca: warning: not published: ") || !strings.Contains(lines[0], "no terminal") ||
		!strings.HasPrefix(lines[1], "wsca: hint: not yet enforced: bob (serial ") ||
		!strings.Contains(lines[1], filepath.Join(dir, "crl.pem")+" and "+filepath.Join(work, "relay.pem")) {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}
	out, err := wscaRun(dir, "crl", "--if-due", "-v", "--passphrase-file", pass)
	if err != nil || !strings.Contains(string(out), "1 revoked") || !strings.Contains(string(out), "refreshed copy target") {
		t.Fatalf("the timer's run did not publish the deferred revocation: %v\n%s", err, out)
	}
}
