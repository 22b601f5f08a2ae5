package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pages are the Markdown files whose shell examples must run or say why they cannot. The generated pages under
// docs/cli and docs/man are checked by cmd/wsca's TestDocsUpToDate instead.
func pages(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no docs/*.md found (%v)", err)
	}
	return append([]string{"../README.md"}, files...)
}

// goEnv is the Go environment of the developer or CI job, passed on so that the sandbox's HOME does not make
// `go install` start from a cold build cache.
func goEnv(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOPATH", "GOFLAGS", "GOTOOLCHAIN").Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	v := strings.Split(string(out), "\n")
	return map[string]string{"GOCACHE": v[0], "GOMODCACHE": v[1], "GOPATH": v[2], "GOFLAGS": v[3], "GOTOOLCHAIN": v[4]}
}

// TestDocsMarked fails on a shell block of README.md or docs/*.md that does not say whether it runs: a new
// example cannot slip in untested. It is fast and runs in -short mode too.
func TestDocsMarked(t *testing.T) {
	for _, f := range pages(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := extract(f, string(src)); err != nil {
			t.Error(err)
		}
	}
}

// TestDocsRun runs every page's marked blocks in order, each page in its own sandbox, and fails when a command
// fails or prints something the page does not show.
func TestDocsRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsca and runs the documented commands")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	env := goEnv(t)
	for _, f := range pages(t) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks, err := extract(f, string(src))
		if err != nil {
			continue // reported by TestDocsMarked
		}
		if !runs(blocks) {
			continue
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			if err := runPage(pageSandbox(t, repo, env), blocks); err != nil {
				t.Error(err)
			}
		})
	}
}

// pageSandbox returns a fresh sandbox in which wsca is on PATH and at /usr/bin/wsca, as after the install steps
// of the quick start.
func pageSandbox(t *testing.T, repo string, env map[string]string) *sandbox {
	t.Helper()
	s, err := newSandbox(t.TempDir(), repo, env)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.runBlock(block{lang: "sh", body: []string{"go install ./cmd/wsca"}}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDocsRunCatchesBrokenQuickstart breaks one command of the real quick start (a reason wsca does not know)
// and one output line (another CRL number) and checks that the run fails at that block, with the relay and
// clients it started stopped.
func TestDocsRunCatchesBrokenQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wsca and runs the quick start")
	}
	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("quickstart.md")
	if err != nil {
		t.Fatal(err)
	}
	env := goEnv(t)
	for _, tc := range []struct{ old, new, want string }{
		{"$ wsca revoke bob --reason keyCompromise\n", "$ wsca revoke bob --reason keyCompromised\n",
			"$ wsca revoke bob --reason keyCompromised: exit status 2, but the page shows success"},
		{"published CRL number 2 in", "published CRL number 3 in", "published CRL number 3 in"},
	} {
		if !strings.Contains(string(src), tc.old) {
			t.Fatalf("quickstart.md no longer has %q: update this test", tc.old)
		}
		broken := strings.Replace(string(src), tc.old, tc.new, 1)
		blocks, err := extract("quickstart.md", broken)
		if err != nil {
			t.Fatal(err)
		}
		err = runPage(pageSandbox(t, repo, env), blocks)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "quickstart.md:") {
			t.Errorf("broken quick start (%q): got %v, want an error at its line containing %q", tc.new, err, tc.want)
		}
	}
}

func runs(blocks []block) bool {
	for _, b := range blocks {
		if b.mark != "" && b.mark != markSkip {
			return true
		}
	}
	return false
}
