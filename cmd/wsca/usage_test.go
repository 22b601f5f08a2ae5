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
	} {
		var stdout, stderr bytes.Buffer
		code := run(testEnv(&stdout, &stderr), tc.args)
		lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
		if code != 2 || len(lines) != 2 || !strings.HasPrefix(lines[0], "wsca: error: unknown ") || !strings.HasPrefix(lines[1], tc.hint) {
			t.Errorf("wsca %s: exit %d, stderr:\n%s\nwant exit 2, one error line and %q", strings.Join(tc.args, " "), code, stderr.String(), tc.hint)
		}
	}
}
