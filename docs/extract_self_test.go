package docs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runSnippet extracts and runs a page given as text in a fresh sandbox (wsca is not built: the snippets use
// the shell only, so the test is fast and runs in -short mode).
func runSnippet(t *testing.T, page string) error {
	t.Helper()
	blocks, err := extract("snippet.md", page)
	if err != nil {
		t.Fatalf("extract: %v", err)
	}
	repo, _ := filepath.Abs("..")
	s, err := newSandbox(t.TempDir(), repo, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.startTimeout = time.Second
	return runPage(s, blocks)
}

const fence = "```"

// TestExtractorCatchesBrokenExamples is the docs test tested: each page below holds one deliberately broken
// example and must fail at the block's line with a message that names what broke.
func TestExtractorCatchesBrokenExamples(t *testing.T) {
	for _, tc := range []struct{ name, page, want string }{
		{"command fails", "<!-- docs-test: run -->\n" + fence + "sh\ntrue\nfalse   # a step that broke\n" + fence + "\n",
			"snippet.md:2: $ true\nfalse"},
		{"wrong output", "text\n\n<!-- docs-test: run -->\n" + fence + "console\n$ echo hello\ngoodbye\n" + fence + "\n",
			"snippet.md:4: $ echo hello: the page shows:\n\tgoodbye\nthe command printed:\n\thello"},
		{"glob is not a wildcard for the rest", "<!-- docs-test: run -->\n" + fence + "console\n$ echo 'Etag: 1'; echo more\nEtag: …\n" + fence + "\n",
			"the command printed:\n\tEtag: 1\n\tmore"},
		{"extra output", "<!-- docs-test: run -->\n" + fence + "console\n$ printf 'a\\nb\\n'\na\n" + fence + "\n",
			"the command printed:\n\ta\n\tb"},
		{"error not shown", "<!-- docs-test: run -->\n" + fence + "console\n$ echo 'wsca: error: no' >&2; exit 1\n" + fence + "\n",
			"exit status 1, but the page shows success"},
		{"success shown as error", "<!-- docs-test: run -->\n" + fence + "console\n$ echo 'wsca: error: x'\nwsca: error: x\n" + fence + "\n",
			"succeeded, but the page shows an error"},
		{"unknown command", "<!-- docs-test: run -->\n" + fence + "sh\nwsca-no-such-command --help\n" + fence + "\n",
			"command not found"},
		{"server never says it is up", "<!-- docs-test: background -->\n" + fence + "console\n$ sleep 30\nlistening\n" + fence + "\n",
			"$ sleep 30: after 1s the page shows:\n\tlistening"},
		{"background output differs", "<!-- docs-test: background -->\n" + fence + "sh\necho one; echo two\n" + fence +
			"\n<!-- docs-test: output-of: 1 -->\n" + fence + "console\none\nthree\n" + fence + "\n", "snippet.md:6: $ echo one; echo two: the page shows:\n\tone\n\tthree"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runSnippet(t, tc.page)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestExtractorRunsGoodExamples: state carries from block to block as in a reader's terminal (cd, export,
// umask), console output is compared with serials, times and ports as wildcards, "…" stands for any lines,
// the page's /etc and ports are the sandbox's, and a background command's output is checked when it ends.
func TestExtractorRunsGoodExamples(t *testing.T) {
	page := strings.Join([]string{
		"<!-- docs-test: run -->", fence + "sh", "mkdir -p /etc/wsca/x && cd /etc/wsca/x", "export GREETING=hi", "umask 077", fence,
		"<!-- docs-test: run -->", fence + "console",
		"$ pwd; echo $GREETING; umask", "/etc/wsca/x", "hi", "0077",
		"$ echo serial 5fb4078773125d248a17448a04204c1 at 2026-11-26T16:39:30.428Z on 127.0.0.1:8443", "serial 0123456789abcdef0123456789abcdef at 2027-01-01T00:00:00Z on 127.0.0.1:9999",
		"$ seq 1 5", "1", "…", "5",
		"$ echo 'Etag: \"3f0c9a\"'", "Etag: \"3f0c…\"",
		fence,
		"<!-- docs-test: run -->", fence + "sh", "$ echo an sh block pasted with its prompt", "an sh block pasted with its prompt", fence,
		"<!-- docs-test: background -->", fence + "sh", "sh -c 'echo up; sleep 1; echo done'", fence,
		"<!-- docs-test: run -->", fence + "sh", "cd /", "export LATER=1", fence,
		"<!-- docs-test: output-of: 1 -->", fence + "console", "up", "done", fence,
		"<!-- docs-test: run -->", fence + "console", "$ pwd; echo $LATER", "/", "1", fence,
		"<!-- docs-test: skip: needs a browser -->", fence + "sh", "chromium --no-such-flag", fence,
		fence + "yaml", "not: a command", fence,
	}, "\n")
	if err := runSnippet(t, page); err != nil {
		t.Fatal(err)
	}
}

// TestExtractorRefusesUnmarkedBlocks: a shell block must say whether it runs, so a new example cannot slip in
// untested; marks are checked for typos and missing reasons.
func TestExtractorRefusesUnmarkedBlocks(t *testing.T) {
	for _, tc := range []struct{ name, page, want string }{
		{"unmarked sh", "# T\n\n" + fence + "sh\nwsca init\n" + fence + "\n", "snippet.md:3: sh block has no docs-test marker"},
		{"unmarked console", fence + "console\n$ wsca list\n" + fence + "\n", "console block has no docs-test marker"},
		{"unlabelled session", "text\n" + fence + "\n$ wsca list\n" + fence + "\n", "snippet.md:2: unlabelled block has no docs-test marker"},
		{"skip without reason", "<!-- docs-test: skip -->\n" + fence + "sh\nx\n" + fence + "\n", "skip needs a reason"},
		{"typo", "<!-- docs-test: runn -->\n" + fence + "sh\nx\n" + fence + "\n", `unknown docs-test mark "runn"`},
		{"marker astray", "<!-- docs-test: run -->\nsome prose\n", "snippet.md:1: docs-test marker is not followed"},
		{"unclosed", "<!-- docs-test: run -->\n" + fence + "sh\nx\n", "fence is never closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := extract("snippet.md", tc.page)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat("../README.md"); err != nil {
		t.Fatal(err)
	}
}

// TestExtractorAfter: a page that continues another runs the other's run blocks first, in the same sandbox, and
// fails with the other page's line when one of them breaks.
func TestExtractorAfter(t *testing.T) {
	dir := t.TempDir()
	first := filepath.Join(dir, "first.md")
	write := func(page string) {
		if err := os.WriteFile(first, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("<!-- docs-test: run -->\n" + fence + "sh\nexport CA=/etc/wsca\n" + fence + "\n")
	page := "<!-- docs-test: after: " + first + " -->\n<!-- docs-test: run -->\n" + fence + "console\n$ echo $CA\n/etc/wsca\n" + fence + "\n"
	if err := runSnippet(t, page); err != nil {
		t.Fatal(err)
	}
	write("text\n<!-- docs-test: run -->\n" + fence + "sh\nfalse\n" + fence + "\n")
	if err := runSnippet(t, page); err == nil || !strings.Contains(err.Error(), "snippet.md:1: after: "+first+":3:") {
		t.Fatalf("got %v, want the failure at %s:3", err, first)
	}
}
