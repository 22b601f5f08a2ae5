package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestUnknownCommandsAndFlagsExit2 checks the exit code the README promises for usage errors (testscript sees
// only success or failure) and that the message is one error line and one hint line.
func TestUnknownCommandsAndFlagsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		hint string
	}{
		{[]string{"lsit"}, "wsca: hint: did you mean wsca init or wsca list?"},
		{[]string{"issue", "alice", "--emial", "a@example.com"}, "wsca: hint: did you mean --email?"},
		{[]string{"revoke", "--reson", "keyCompromise", "bob"}, "wsca: hint: did you mean --reason?"},
		{[]string{"list", "--frobnicate"}, "wsca: hint: wsca list --help lists its flags"},
		{[]string{"help", "lsit"}, "wsca: hint: did you mean wsca help init or wsca help list?"},
		{[]string{"help", "crl", "fech"}, "wsca: hint: did you mean wsca help crl fetch?"},
		{[]string{"help", "zzzz"}, "wsca: hint: wsca --help lists the commands"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(testEnv(&stdout, &stderr), tc.args)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "wsca: error: unknown ") || !strings.HasPrefix(lines[1], tc.hint) {
			t.Errorf("wsca %s: exit %d, stderr:\n%s\nwant exit 2, one error line and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.hint)
		}
	}
}

// TestHelpTopics: wsca help COMMAND prints that command's help and exits 0, as Cobra's own help command did.
func TestHelpTopics(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "list"}, {"help", "crl", "fetch"}} {
		var stdout, stderr bytes.Buffer
		code := run(testEnv(&stdout, &stderr), args)
		want := "Usage:"
		if code != 0 || !strings.Contains(stdout.String(), want) || stderr.Len() != 0 {
			t.Errorf("wsca %s: exit %d, stdout %q…, stderr %q; want exit 0 and the help", strings.Join(args, " "), code,
				firstLines(stdout.Bytes(), 1), stderr.String())
		}
	}
}

// TestServeMissingConfigNamesTheFlag: a relay.yaml that is not there gets a hint naming --config and where the
// file's reference is, not the bare open error.
func TestServeMissingConfigNamesTheFlag(t *testing.T) {
	var stdout, stderr bytes.Buffer
	missing := t.TempDir() + "/relay.yaml"
	code := run(testEnv(&stdout, &stderr), []string{"serve", "--config", missing})
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	want := "wsca: hint: --config " + missing + ": no such file"
	if code != 1 || len(lines) != 2 || !strings.HasPrefix(lines[1], want) {
		t.Fatalf("wsca serve --config MISSING: exit %d, stderr:\n%s\nwant exit 1 and a hint starting %q", code, stderr.String(), want)
	}
}
