package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"debug/buildinfo"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	wscabuild "github.com/wsca/wsca/internal/buildinfo"
)

//go:embed maint/postinst maint/prerm maint/postrm
var maintScripts embed.FS

// build stages the package in a temporary directory and packs it into out; it returns the .deb's path.
func build(repo, out, version, compress string) (string, error) {
	stage, err := os.MkdirTemp("", "debpkg-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	if err := buildBinary(repo, filepath.Join(stage, binPath)); err != nil {
		return "", err
	}
	ctl, err := stageTree(repo, stage, version)
	if err != nil {
		return "", err
	}
	return pack(stage, out, ctl, compress)
}

// buildBinary builds a stripped, static wsca (CGO_ENABLED=0: the package then depends on no C library) with the VCS
// revision stamped where the go command can see it (-buildvcs=auto overrides a GOFLAGS=-buildvcs=false; Go
// records no revision in a git worktree, whose .git is a file, and the version then falls back to git).
func buildBinary(repo, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// -s -w: no symbol table or DWARF (Debian strips binaries too); the build info stays.
	c := exec.Command("go", "build", "-trimpath", "-buildvcs=auto", "-ldflags=-s -w", "-o", dst, "./cmd/wsca")
	c.Dir = repo
	c.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/wsca: %w\n%s", err, out)
	}
	return nil
}

// control is what the DEBIAN/control file says.
type control struct {
	version, arch, maintainer string
}

// stageTree fills stage (which already holds the binary at binPath) with everything else the package holds
// and the DEBIAN directory except control, and returns the control fields.
func stageTree(repo, stage, version string) (control, error) {
	bin := filepath.Join(stage, binPath)
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return control{}, fmt.Errorf("reading the build info of %s: %w", bin, err)
	}
	info := wscabuild.FromBuildInfo(bi)
	ctl := control{version: version, maintainer: gitMaintainer(repo)}
	if ctl.arch, err = debianArch(info.Platform); err != nil {
		return control{}, err
	}
	if ctl.version == "" {
		if ctl.version, err = debianVersion(info.Version, repo); err != nil {
			return control{}, err
		}
	}
	if !validDebianVersion.MatchString(ctl.version) {
		return control{}, fmt.Errorf("-version %q is not a Debian version (digits first; letters, digits, . + ~)", ctl.version)
	}
	steps := []func(repo, stage string) error{stageCompletions, stageMan, stageUnits, stageDocs, stageMaint}
	for _, step := range steps {
		if err := step(repo, stage); err != nil {
			return control{}, err
		}
	}
	return ctl, nil
}

// stageCompletions writes the completion scripts that the packed binary itself generates.
func stageCompletions(_, stage string) error {
	for shell, dst := range map[string]string{"bash": bashComplete, "zsh": zshComplete, "fish": fishComplete} {
		out, err := exec.Command(filepath.Join(stage, binPath), "completion", shell).Output()
		if err != nil {
			return fmt.Errorf("wsca completion %s: %w%s", shell, err, stderrOf(err))
		}
		if !bytes.Contains(out, []byte("wsca")) {
			return fmt.Errorf("wsca completion %s wrote no completion for wsca", shell)
		}
		if err := writeFile(filepath.Join(stage, dst), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stageMan gzips docs/man/*.1 as Debian does (gzip -9n: best compression, no name or time in the header, so
// the same page always gives the same bytes).
func stageMan(repo, stage string) error {
	pages, err := filepath.Glob(filepath.Join(repo, "docs", "man", "*.1"))
	if err != nil {
		return err
	}
	for _, p := range pages {
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if _, err := zw.Write(src); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(stage, manDir, filepath.Base(p)+".gz"), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func stageUnits(repo, stage string) error {
	units, err := unitFiles(repo)
	if err != nil {
		return err
	}
	return copyFiles(units, filepath.Join(stage, unitDir))
}

// stageDocs copies docs/*.md and README.md uncompressed: the units' Documentation=file:// lines name them.
func stageDocs(repo, stage string) error {
	docs, err := filepath.Glob(filepath.Join(repo, "docs", "*.md"))
	if err != nil {
		return err
	}
	return copyFiles(append(docs, filepath.Join(repo, "README.md")), filepath.Join(stage, docDir))
}

// stageMaint writes the maintainer scripts with the units' users, groups and names filled in.
func stageMaint(repo, stage string) error {
	units, err := unitFiles(repo)
	if err != nil {
		return err
	}
	users, groups, err := accounts(units)
	if err != nil {
		return err
	}
	var names []string
	for _, u := range units {
		names = append(names, filepath.Base(u))
	}
	r := strings.NewReplacer("@USERS@", strings.Join(users, " "), "@GROUPS@", strings.Join(groups, " "),
		"@UNITS@", strings.Join(unitPatterns(units), " "), "@UNIT_FILES@", strings.Join(names, " "))
	return fs.WalkDir(maintScripts, "maint", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		src, err := maintScripts.ReadFile(p)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(stage, "DEBIAN", d.Name()), []byte(r.Replace(string(src))), 0o755)
	})
}

// pack writes DEBIAN/md5sums and DEBIAN/control and runs dpkg-deb.
func pack(stage, out string, ctl control, compress string) (string, error) {
	if err := normalizeDirs(stage); err != nil {
		return "", err
	}
	sums, kib, err := md5sums(stage)
	if err != nil {
		return "", err
	}
	if err := writeFile(filepath.Join(stage, "DEBIAN", "md5sums"), sums, 0o644); err != nil {
		return "", err
	}
	var c strings.Builder
	fmt.Fprintf(&c, "Package: wsca\nVersion: %s\nArchitecture: %s\n", ctl.version, ctl.arch)
	if ctl.maintainer != "" {
		fmt.Fprintf(&c, "Maintainer: %s\n", ctl.maintainer)
	}
	fmt.Fprintf(&c, "Installed-Size: %d\nDepends: passwd\nSuggests: openssl\nSection: admin\nPriority: optional\n", kib)
	c.WriteString(`Description: private CA for client certificates, with an mTLS-gated WebSocket relay
 wsca runs a private certificate authority for client certificates (a root and an
 intermediate CA, an issuance database, CRLs) and a relay that admits WebSocket
 clients by certificate and cuts revoked sessions live. It replaces openssl
 ca/req/x509/pkcs12 and Apache mod_ssl + mod_proxy_wstunnel.
 .
 The package installs the wsca command, its man pages and shell completions,
 and the systemd units of /usr/share/doc/wsca/operations.md (not enabled).
`)
	if err := writeFile(filepath.Join(stage, "DEBIAN", "control"), []byte(c.String()), 0o644); err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	deb := filepath.Join(out, fmt.Sprintf("wsca_%s_%s.deb", ctl.version, ctl.arch))
	cmd := exec.Command("dpkg-deb", "--root-owner-group", "-Z"+compress, "--build", stage, deb)
	if o, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb --build: %w\n%s", err, o)
	}
	return deb, nil
}

// md5sums returns DEBIAN/md5sums for every file outside DEBIAN, and the Installed-Size in KiB (each file
// and directory rounded up to a KiB, as dpkg-gencontrol counts).
func md5sums(stage string) ([]byte, int64, error) {
	var lines []string
	var kib int64
	err := filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(stage, p)
		if rel == "DEBIAN" && d.IsDir() {
			return filepath.SkipDir
		}
		if d.IsDir() {
			kib++
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		kib += (int64(len(data)) + 1023) / 1024
		lines = append(lines, fmt.Sprintf("%x  %s\n", md5.Sum(data), rel))
		return nil
	})
	slices.Sort(lines)
	return []byte(strings.Join(lines, "")), kib, err
}

func copyFiles(files []string, dir string) error {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := writeFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes data with exactly mode perm, whatever the umask (pack sets the directories' modes).
func writeFile(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(path, data, perm); err != nil {
		return err
	}
	return os.Chmod(path, perm)
}

// normalizeDirs makes every staged directory 0755: the archive records the modes as they are on disk, and
// MkdirTemp (0700) or a strict umask would otherwise make /usr/share/... unreadable once installed.
func normalizeDirs(stage string) error {
	return filepath.WalkDir(stage, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return os.Chmod(p, 0o755)
	})
}

var validDebianVersion = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// debianVersion maps the module version Go recorded to a Debian version that sorts the same way: v1.2.0 →
// 1.2.0; a pre-release or pseudo-version v1.2.1-0.20261206044000-ce1a4ea1b2c3 → 1.2.1~0.20261206044000.ce1a4ea1b2c3
// ("~" sorts before the release, as "-" does in semver); +dirty stays. Without a recorded version ("(devel)":
// a git worktree, or no VCS) it asks git for the same pseudo-version shape.
func debianVersion(goVersion, repo string) (string, error) {
	if goVersion == "" || goVersion == "(devel)" {
		v, err := gitPseudoVersion(repo)
		if err != nil {
			return "", fmt.Errorf("the binary records no module version and git cannot name one (%w): pass -version", err)
		}
		goVersion = v
	}
	v := strings.TrimPrefix(goVersion, "v")
	base, meta, _ := strings.Cut(v, "+")
	rel, pre, hasPre := strings.Cut(base, "-")
	out := rel
	if hasPre {
		out += "~" + strings.ReplaceAll(pre, "-", ".")
	}
	if meta != "" {
		out += "+" + meta
	}
	if !validDebianVersion.MatchString(out) {
		return "", fmt.Errorf("module version %q does not map to a Debian version (got %q): pass -version", goVersion, out)
	}
	return out, nil
}

// gitPseudoVersion names HEAD as Go would: v0.0.0-YYYYMMDDhhmmss-REV12, +dirty with uncommitted changes.
func gitPseudoVersion(repo string) (string, error) {
	c := exec.Command("git", "-C", repo, "log", "-1", "--format=%cd %H", "--date=format-local:%Y%m%d%H%M%S")
	c.Env = append(os.Environ(), "TZ=UTC") // Go's pseudo-versions are in UTC
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("git log: %w%s", err, stderrOf(err))
	}
	date, rev, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || len(rev) < 12 {
		return "", fmt.Errorf("git log printed %q", out)
	}
	v := "v0.0.0-" + date + "-" + rev[:12]
	status, err := exec.Command("git", "-C", repo, "status", "--porcelain").Output()
	if err != nil {
		return "", fmt.Errorf("git status: %w", err)
	}
	if len(bytes.TrimSpace(status)) > 0 {
		v += "+dirty"
	}
	return v, nil
}

// debianArch maps GOOS/GOARCH to Debian's architecture name.
func debianArch(platform string) (string, error) {
	arch := map[string]string{"linux/amd64": "amd64", "linux/arm64": "arm64", "linux/386": "i386", "linux/arm": "armhf",
		"linux/ppc64le": "ppc64el", "linux/riscv64": "riscv64", "linux/s390x": "s390x"}[platform]
	if arch == "" {
		return "", fmt.Errorf("no Debian architecture for %q", platform)
	}
	return arch, nil
}

// gitMaintainer is the author of HEAD, for the Maintainer field (the repository names no other contact).
func gitMaintainer(repo string) string {
	out, err := exec.Command("git", "-C", repo, "log", "-1", "--format=%an <%ae>").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
