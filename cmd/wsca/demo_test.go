package main

import (
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDemoScript runs scripts/demo, the README's first command, as a user would and checks what it shows: every
// "$ " line is a command that runs as it reads when copied (arguments with spaces quoted); an error appears only
// under a command marked as refused or under a "-- " label (bob's background clients, the relays' logs), never
// under a command that succeeded; and both relays — the one reading crl.pem and the one fed over HTTP by wsca
// publish — cut bob's open session within a second of wsca revoke returning.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsca and runs the whole demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", "../../scripts/demo").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "\ndemo: ok\n") {
		t.Fatalf("scripts/demo: %v\n%s", err, out)
	}
	for _, relay := range []string{"relay 1", "relay 2"} {
		m := regexp.MustCompile(relay + ` \([^)]*\) cut bob ([0-9.]+) s after wsca revoke returned`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("scripts/demo does not say when %s cut bob:\n%s", relay, out)
		}
		if s, _ := strconv.ParseFloat(string(m[1]), 64); s > 1 {
			t.Errorf("scripts/demo: %s cut bob after %s s, want within 1 s", relay, m[1])
		}
	}
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	var header string
	var argvs [][]string
	for _, line := range strings.Split(ansi.ReplaceAllString(string(out), ""), "\n") {
		switch {
		case strings.HasPrefix(line, "$ "):
			header = line
			argvs = append(argvs, shellWords(t, strings.TrimPrefix(line, "$ ")))
		case strings.HasPrefix(line, "== "), strings.HasPrefix(line, "-- "):
			header = line
		case strings.Contains(line, "error") && !strings.Contains(header, "# refused") && !strings.HasPrefix(header, "-- "):
			t.Errorf("%q is printed under %q, which did not fail", line, header)
		}
	}
	for _, want := range [][]string{
		{"wsca", "init", "--name", "Demo Corp"},
		{"wsca", "issue", "alice", "--email", "alice@example.com", "--p12"},
	} {
		if !slices.ContainsFunc(argvs, func(a []string) bool { return slices.Equal(a, want) }) {
			t.Errorf("no shown command reads as %q when copied; shown: %q", want, argvs)
		}
	}
	if !slices.ContainsFunc(argvs, func(a []string) bool { return slices.Contains(a, "hello from alice") }) {
		t.Errorf("alice's message is not one quoted argument in any shown command: %q", argvs)
	}
}

// shellWords returns the arguments bash makes of a command line, without running it (redirections, a trailing
// & and the "# refused" comment are dropped, and nothing is expanded).
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	if i := strings.Index(line, "    # "); i >= 0 {
		line = line[:i]
	}
	if i := strings.Index(line, " >"); i >= 0 {
		line = line[:i] // a redirection would create the file here
	}
	out, err := exec.Command("bash", "-c", "set -f; args() { printf '%s\\n' \"$@\"; }; args "+line).Output()
	if err != nil {
		t.Fatalf("bash cannot read the shown command %q: %v", line, err)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}
