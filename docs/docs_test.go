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
			s, err := newSandbox(t.TempDir(), repo, env)
			if err != nil {
				t.Fatal(err)
			}
			// Every page finds wsca on PATH and at /usr/bin/wsca, as after the install steps of the quick start.
			if err := s.runBlock(block{lang: "sh", body: []string{"go install ./cmd/wsca"}}); err != nil {
				t.Fatal(err)
			}
			if err := runPage(s, blocks); err != nil {
				t.Error(err)
			}
		})
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
