package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// updateDocs rewrites docs/cli and docs/man instead of comparing them: the usual golden-file switch.
var updateDocs = flag.Bool("update", false, "rewrite docs/cli/*.md and docs/man/*.1 from the command tree")

// docsManDate is the date in the man pages' header. It is fixed so that regenerating the pages changes them only
// when the commands change; move it when cutting a release.
var docsManDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// docsDirs are the generated directories under docs/ and the one file extension each holds. Everything with that
// extension in them is generated: a page of a removed command is stale too.
var docsDirs = map[string]string{"cli": ".md", "man": ".1"}

const docsStaleHint = "docs are stale: run go test ./cmd/wsca -run TestDocsUpToDate -update"

// docsRoot returns the command tree as a user sees it, built with an empty environment so that defaults taken
// from WSCA_DIR or WSCA_PASSPHRASE_FILE on the developer's machine do not leak into the pages.
func docsRoot() *cobra.Command {
	e := &env{
		stdin:  strings.NewReader(""),
		stdout: io.Discard, stderr: io.Discard,
		getenv: func(string) string { return "" },
		now:    func() time.Time { return docsManDate },
		rand:   strings.NewReader(""),
		tty:    func() (*os.File, error) { return nil, os.ErrNotExist },
	}
	root := newRootCmd(e)
	// Cobra adds "completion" and "help" only when executing; add them now so they are documented.
	root.InitDefaultCompletionCmd()
	root.InitDefaultHelpCmd()
	return root
}

// visibleCommands returns c and its documented descendants, depth first, in name order.
func visibleCommands(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, child := range c.Commands() {
		if !child.IsAvailableCommand() || child.IsAdditionalHelpTopicCommand() {
			continue
		}
		out = append(out, visibleCommands(child)...)
	}
	return out
}

// renderDocs renders one Markdown page and one man page per command, keyed by their path under docs/
// ("cli/wsca_serve.md", "man/wsca-serve.1"). The file names are those of cobra's GenMarkdownTree and GenManTree.
func renderDocs() (map[string][]byte, error) {
	root := docsRoot()
	cmds := visibleCommands(root)
	for _, c := range cmds {
		// No "Auto generated on DATE" footer: the pages must not change from one day to the next.
		c.DisableAutoGenTag = true
	}
	serveMD, err := readServeMD()
	if err != nil {
		return nil, err
	}
	files := make(map[string][]byte)
	for _, c := range cmds {
		var err error
		withUnusedGlobalsHidden(c, func() { err = renderPages(c, serveMD, files) })
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// renderPages adds c's Markdown page and man page to files.
func renderPages(c *cobra.Command, serveMD []byte, files map[string][]byte) error {
	var md bytes.Buffer
	md.WriteString("<!-- Generated from the command tree by `go test ./cmd/wsca -run TestDocsUpToDate -update`. Do not edit. -->\n\n")
	if err := doc.GenMarkdownCustom(c, &md, func(s string) string { return s }); err != nil {
		return fmt.Errorf("markdown for %q: %w", c.CommandPath(), err)
	}
	files["cli/"+strings.ReplaceAll(c.CommandPath(), " ", "_")+".md"] = md.Bytes()

	date := docsManDate
	hdr := &doc.GenManHeader{Section: "1", Date: &date, Source: "wsca", Manual: "wsca manual"}
	var man bytes.Buffer
	if err := doc.GenMan(c, hdr, &man); err != nil {
		return fmt.Errorf("man page for %q: %w", c.CommandPath(), err)
	}
	extra, err := manExtras(c, serveMD)
	if err != nil {
		return err
	}
	files["man/"+strings.ReplaceAll(c.CommandPath(), " ", "-")+".1"] = insertManSections(man.Bytes(), extra)
	return nil
}

// readGeneratedDocs reads every generated-kind file now under docsDir, keyed like renderDocs.
func readGeneratedDocs(docsDir string) (map[string][]byte, error) {
	files := make(map[string][]byte)
	for sub, ext := range docsDirs {
		matches, err := filepath.Glob(filepath.Join(docsDir, sub, "*"+ext))
		if err != nil {
			return nil, err
		}
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			files[sub+"/"+filepath.Base(m)] = data
		}
	}
	return files, nil
}

// diffDocs lists the differences between the wanted and the present files, one line each, sorted.
func diffDocs(want, have map[string][]byte) []string {
	var diffs []string
	for name, w := range want {
		h, ok := have[name]
		switch {
		case !ok:
			diffs = append(diffs, "missing "+name)
		case !bytes.Equal(w, h):
			diffs = append(diffs, "changed "+name)
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			diffs = append(diffs, "extra "+name+" (no such command)")
		}
	}
	slices.Sort(diffs)
	return diffs
}

// writeDocs makes docsDir hold exactly want: generated files are written, stale generated files removed.
func writeDocs(docsDir string, want, have map[string][]byte) error {
	for sub := range docsDirs {
		if err := os.MkdirAll(filepath.Join(docsDir, sub), 0o755); err != nil {
			return err
		}
	}
	for name, data := range want {
		if h, ok := have[name]; ok && bytes.Equal(h, data) {
			continue
		}
		if err := os.WriteFile(filepath.Join(docsDir, filepath.FromSlash(name)), data, 0o644); err != nil {
			return err
		}
	}
	for name := range have {
		if _, ok := want[name]; !ok {
			if err := os.Remove(filepath.Join(docsDir, filepath.FromSlash(name))); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestDocsUpToDate fails when docs/cli or docs/man no longer match the command tree (a flag, a help text or a
// command changed without regenerating them); with -update it regenerates them.
func TestDocsUpToDate(t *testing.T) {
	docsDir := filepath.Join("..", "..", "docs")
	want, err := renderDocs()
	if err != nil {
		t.Fatal(err)
	}
	have, err := readGeneratedDocs(docsDir)
	if err != nil {
		t.Fatal(err)
	}
	if *updateDocs {
		if err := writeDocs(docsDir, want, have); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d files under %s", len(want), docsDir)
		return
	}
	if diffs := diffDocs(want, have); len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], fmt.Sprintf("… and %d more", len(diffs)-10))
		}
		t.Fatalf("%s\n  %s", docsStaleHint, strings.Join(diffs, "\n  "))
	}
}

// TestDocsDeterministic renders the pages twice and checks that they are identical and cover the commands a user
// needs, so that TestDocsUpToDate cannot flap or pass on an empty tree.
func TestDocsDeterministic(t *testing.T) {
	a, err := renderDocs()
	if err != nil {
		t.Fatal(err)
	}
	b, err := renderDocs()
	if err != nil {
		t.Fatal(err)
	}
	if d := diffDocs(a, b); len(d) > 0 {
		t.Fatalf("two renderings differ: %v", d)
	}
	for _, name := range []string{
		"cli/wsca.md", "cli/wsca_serve.md", "cli/wsca_doctor.md", "cli/wsca_completion_bash.md",
		"man/wsca.1", "man/wsca-serve.1", "man/wsca-completion-zsh.1",
	} {
		if _, ok := a[name]; !ok {
			t.Errorf("no page %s", name)
		}
	}
	for name, data := range a {
		for _, leak := range []string{"Auto generated", time.Now().Format("2-Jan-2006")} {
			if bytes.Contains(data, []byte(leak)) {
				t.Errorf("%s contains %q: the page would change from day to day", name, leak)
			}
		}
	}
	if !bytes.Contains(a["man/wsca-serve.1"], []byte(`.TH "WSCA-SERVE" "1" "Nov 2026" "wsca" "wsca manual"`)) {
		t.Errorf("man/wsca-serve.1 header is not the fixed one:\n%s", firstLines(a["man/wsca-serve.1"], 3))
	}
}

func firstLines(b []byte, n int) string {
	lines := strings.SplitN(string(b), "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// TestCompletionScripts checks that wsca completion prints a script each shell accepts, and that the bash script,
// loaded with bash-completion as a user's shell does, really completes commands and flags by calling wsca.
func TestCompletionScripts(t *testing.T) {
	shells := []struct {
		shell     string
		checkArgs []string // syntax check of the script file, appended last
		marker    string
	}{
		{"bash", []string{"bash", "-n"}, "__start_wsca"},
		{"zsh", []string{"zsh", "-n"}, "#compdef wsca"},
		{"fish", []string{"fish", "--no-execute"}, "complete -c wsca"},
		{"powershell", nil, "Register-ArgumentCompleter"},
	}
	dir := t.TempDir()
	for _, sh := range shells {
		t.Run(sh.shell, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			e := testEnv(&stdout, &stderr)
			if code := run(e, []string{"completion", sh.shell}); code != 0 {
				t.Fatalf("wsca completion %s: exit %d: %s", sh.shell, code, stderr.String())
			}
			if !strings.Contains(stdout.String(), sh.marker) {
				t.Fatalf("wsca completion %s: output lacks %q", sh.shell, sh.marker)
			}
			if sh.checkArgs == nil {
				return // no PowerShell here: not syntax-checked
			}
			if _, err := exec.LookPath(sh.checkArgs[0]); err != nil {
				t.Skipf("%s is not installed: the %s script is not syntax-checked", sh.checkArgs[0], sh.shell)
			}
			file := filepath.Join(dir, "wsca."+sh.shell)
			if err := os.WriteFile(file, stdout.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append(slices.Clone(sh.checkArgs[1:]), file)
			if out, err := exec.Command(sh.checkArgs[0], args...).CombinedOutput(); err != nil {
				t.Fatalf("%s rejects the script: %v\n%s", strings.Join(sh.checkArgs, " "), err, out)
			}
		})
	}

	t.Run("bash completes", func(t *testing.T) {
		const bashCompletion = "/usr/share/bash-completion/bash_completion"
		if _, err := os.Stat(bashCompletion); err != nil {
			t.Skip("the bash-completion package is not installed: the bash script is not exercised")
		}
		// The script runs "wsca __complete …": put a wsca on PATH that is this test binary in main mode.
		bin := filepath.Join(dir, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		wrapper := fmt.Sprintf("#!/bin/sh\n%s=1 exec %q \"$@\"\n", asMainEnv, wscaExe(t))
		if err := os.WriteFile(filepath.Join(bin, "wsca"), []byte(wrapper), 0o755); err != nil {
			t.Fatal(err)
		}
		var script bytes.Buffer
		if code := run(testEnv(&script, io.Discard), []string{"completion", "bash"}); code != 0 {
			t.Fatal("wsca completion bash failed")
		}
		scriptFile := filepath.Join(dir, "complete.bash")
		if err := os.WriteFile(scriptFile, script.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			line string
			want []string
		}{
			{"wsca se", []string{"serve"}},
			{"wsca re", []string{"renew", "restore", "revoke"}},
			{"wsca serve --con", []string{"--config"}},
			{"wsca doctor --con", []string{"--connect"}},
			{"wsca completion ", []string{"bash", "fish", "powershell", "zsh"}},
		} {
			words := strings.Fields(tc.line)
			if strings.HasSuffix(tc.line, " ") {
				words = append(words, "")
			}
			quoted := make([]string, len(words))
			for i, w := range words {
				quoted[i] = fmt.Sprintf("%q", w)
			}
			prog := fmt.Sprintf(`source %q; source %q
COMP_WORDS=(%s); COMP_CWORD=%d; COMP_LINE=%q; COMP_POINT=${#COMP_LINE}
__start_wsca 2>/dev/null; printf '%%s\n' "${COMPREPLY[@]}"`,
				bashCompletion, scriptFile, strings.Join(quoted, " "), len(words)-1, tc.line)
			cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%q: bash: %v", tc.line, err)
			}
			got := strings.Fields(string(out))
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("completing %q: got %q, want %q", tc.line, got, tc.want)
			}
		}
	})
}

// testEnv is an env for in-process runs that print to the given writers and have no environment.
func testEnv(stdout, stderr io.Writer) *env {
	return &env{
		stdin: strings.NewReader(""), stdout: stdout, stderr: stderr,
		getenv: func(string) string { return "" },
		now:    time.Now,
		rand:   strings.NewReader(""),
		tty:    func() (*os.File, error) { return nil, os.ErrNotExist },
	}
}
