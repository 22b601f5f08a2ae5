package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// Where the package puts things: Debian's paths (the completions' are those bash-completion, zsh and fish read
// for packaged commands; /usr/lib/systemd/system is in systemd's unit path on Debian 12 and later).
const (
	binPath      = "/usr/bin/wsca"
	manDir       = "/usr/share/man/man1"
	docDir       = "/usr/share/doc/wsca"
	unitDir      = "/usr/lib/systemd/system"
	bashComplete = "/usr/share/bash-completion/completions/wsca"
	zshComplete  = "/usr/share/zsh/vendor-completions/_wsca"
	fishComplete = "/usr/share/fish/vendor_completions.d/wsca.fish"
)

// expectedPaths lists, sorted, every file the package must hold, derived from the repository alone (not from
// the staging code): a page in docs/man, a unit in docs/systemd or a page in docs/ that the package lacks is
// caught by checkDeb.
func expectedPaths(repo string) ([]string, error) {
	want := []string{binPath, bashComplete, zshComplete, fishComplete, docDir + "/README.md"}
	add := func(pattern string, to func(base string) string) error {
		files, err := filepath.Glob(filepath.Join(repo, pattern))
		if err != nil {
			return err
		}
		if len(files) == 0 {
			return fmt.Errorf("no %s in %s", pattern, repo)
		}
		for _, f := range files {
			want = append(want, to(filepath.Base(f)))
		}
		return nil
	}
	if err := add("docs/man/*.1", func(b string) string { return manDir + "/" + b + ".gz" }); err != nil {
		return nil, err
	}
	units, err := unitFiles(repo)
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		want = append(want, unitDir+"/"+filepath.Base(u))
	}
	if err := add("docs/*.md", func(b string) string { return docDir + "/" + b }); err != nil {
		return nil, err
	}
	slices.Sort(want)
	return want, nil
}

// debEntry is one line of `dpkg-deb --contents`.
type debEntry struct {
	mode, owner, path string
}

func listDeb(deb string) ([]debEntry, error) {
	out, err := exec.Command("dpkg-deb", "--contents", deb).Output()
	if err != nil {
		return nil, fmt.Errorf("dpkg-deb --contents %s: %w%s", deb, err, stderrOf(err))
	}
	var entries []debEntry
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		// drwxr-xr-x root/root         0 2026-12-06 04:40 ./usr/bin/
		f := strings.Fields(line)
		if len(f) < 6 {
			return nil, fmt.Errorf("dpkg-deb --contents %s: cannot parse %q", deb, line)
		}
		p := strings.TrimPrefix(strings.Join(f[5:], " "), ".")
		entries = append(entries, debEntry{mode: f[0], owner: f[1], path: strings.TrimSuffix(p, "/")})
	}
	return entries, nil
}

// checkDeb compares a package's files with want: every missing file and every unexpected one is named, every
// entry must belong to root, the binary must be executable, and every Documentation=file:// of a packed unit
// must be a packed file.
func checkDeb(deb string, want []string) error {
	entries, err := listDeb(deb)
	if err != nil {
		return err
	}
	have := map[string]debEntry{}
	var problems []string
	for _, e := range entries {
		if e.owner != "root/root" {
			problems = append(problems, fmt.Sprintf("%s is owned by %s, not root/root", e.path, e.owner))
		}
		if !strings.HasPrefix(e.mode, "d") {
			have[e.path] = e
		}
	}
	for _, p := range want {
		if _, ok := have[p]; !ok {
			problems = append(problems, "missing "+p)
		}
	}
	for p := range have {
		if !slices.Contains(want, p) {
			problems = append(problems, "unexpected "+p+" (add it to expectedPaths or stop packing it)")
		}
	}
	if e, ok := have[binPath]; ok && e.mode != "-rwxr-xr-x" {
		problems = append(problems, fmt.Sprintf("%s has mode %s, want -rwxr-xr-x", binPath, e.mode))
	}
	docs, err := debDocRefs(deb)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if _, ok := have[d]; !ok {
			problems = append(problems, "a unit's Documentation= names "+d+", which the package does not hold")
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("%s does not hold what it must:\n  %s", deb, strings.Join(problems, "\n  "))
	}
	return nil
}

// debDocRefs extracts the packed units and returns their Documentation=file:// paths.
func debDocRefs(deb string) ([]string, error) {
	tmp, err := os.MkdirTemp("", "debpkg-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "--extract", deb, tmp).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("dpkg-deb --extract %s: %w: %s", deb, err, bytes.TrimSpace(out))
	}
	units, err := filepath.Glob(filepath.Join(tmp, unitDir, "*"))
	if err != nil {
		return nil, err
	}
	var refs []string
	for _, u := range units {
		parsed, err := parseUnit(u)
		if err != nil {
			return nil, err
		}
		for _, d := range parsed.docs {
			if p, ok := strings.CutPrefix(d, "file://"); ok {
				refs = append(refs, p)
			}
		}
	}
	return refs, nil
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}
