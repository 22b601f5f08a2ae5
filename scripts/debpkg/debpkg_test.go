package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const repoRoot = "../.."

func TestDebianVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":                                   "1.2.0",
		"v1.2.0-rc.1":                              "1.2.0~rc.1",
		"v0.0.0-20261206044000-ce1a4ea1b2c3":       "0.0.0~20261206044000.ce1a4ea1b2c3",
		"v1.2.1-0.20261206044000-ce1a4ea1b2c3":     "1.2.1~0.20261206044000.ce1a4ea1b2c3",
		"v0.0.0-20261206044000-ce1a4ea1b2c3+dirty": "0.0.0~20261206044000.ce1a4ea1b2c3+dirty",
	} {
		got, err := debianVersion(in, repoRoot)
		if err != nil || got != want {
			t.Errorf("debianVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// Without a recorded version, git names HEAD in the same shape.
	got, err := debianVersion("(devel)", repoRoot)
	if err != nil || !regexp.MustCompile(`^0\.0\.0~\d{14}\.[0-9a-f]{12}(\+dirty)?$`).MatchString(got) {
		t.Errorf("debianVersion((devel)) = %q, %v", got, err)
	}
	// Versions must sort as Go's do: a pre-release before its release.
	out, err := exec.Command("dpkg", "--compare-versions", "1.2.0~rc.1", "lt", "1.2.0").CombinedOutput()
	if err != nil {
		t.Errorf("dpkg says 1.2.0~rc.1 is not before 1.2.0: %v %s", err, out)
	}
}

// TestUnitAccounts: the users come from the units' User= lines, and templates are reached with a pattern.
func TestUnitAccounts(t *testing.T) {
	units, err := unitFiles(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	users, groups, err := accounts(units)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"wsca", "wsca-relay"} {
		if !slices.Contains(users, u) {
			t.Errorf("users %v lack %s", users, u)
		}
	}
	if len(groups) != 0 {
		t.Errorf("extra groups %v: every Group= of the shipped units is a user's own group", groups)
	}
	if p := unitPatterns(units); !slices.Contains(p, "wsca-serve@*.service") || !slices.Contains(p, "wsca-crl.timer") {
		t.Errorf("unit patterns %v", p)
	}
}

// TestPostinstMakesUnitPaths: systemd refuses to start a unit whose ReadWritePaths= or ReadOnlyPaths= (without
// "-") does not exist, so postinst must create each one.
func TestPostinstMakesUnitPaths(t *testing.T) {
	postinst, err := os.ReadFile("maint/postinst")
	if err != nil {
		t.Fatal(err)
	}
	units, err := unitFiles(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range units {
		u, err := parseUnit(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range u.paths {
			if !regexp.MustCompile(`(?m)^\s*make_dir ` + regexp.QuoteMeta(p) + ` `).Match(postinst) {
				t.Errorf("%s needs %s to exist; maint/postinst does not make_dir it", filepath.Base(path), p)
			}
		}
	}
}

// TestNewUnitIsPacked: a unit added to docs/systemd (wsca-publish.service, say) is expected, packed, and its
// user created, with no change here.
func TestNewUnitIsPacked(t *testing.T) {
	repo := t.TempDir()
	for _, d := range []string{"docs/systemd", "docs/man"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"docs/systemd/wsca-publish.service": "[Service]\nUser=wsca-publish\nGroup=wsca\nExecStart=/usr/bin/wsca publish\n",
		"docs/man/wsca.1":                   ".TH WSCA 1\n",
		"docs/operations.md":                "# ops\n",
		"README.md":                         "# wsca\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := expectedPaths(repo)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(want, unitDir+"/wsca-publish.service") {
		t.Errorf("expected paths %v lack the new unit", want)
	}
	stage := t.TempDir()
	if err := stageUnits(repo, stage); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(stage, unitDir, "wsca-publish.service")); err != nil {
		t.Errorf("the new unit was not staged: %v", err)
	}
	if err := stageMaint(repo, stage); err != nil {
		t.Fatal(err)
	}
	postinst, _ := os.ReadFile(filepath.Join(stage, "DEBIAN", "postinst"))
	if !strings.Contains(string(postinst), `USERS="wsca-publish"`) || !strings.Contains(string(postinst), `EXTRA_GROUPS="wsca"`) {
		t.Errorf("postinst does not create the new unit's user and group:\n%s", postinst)
	}
}

// TestPackageHoldsWhatItMust builds the real package and checks it; then takes files out of it (a unit, a man
// page, a page a unit's Documentation= names) and adds a stray one, and the check must name each.
func TestPackageHoldsWhatItMust(t *testing.T) {
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Fatalf("dpkg-deb is needed to build the package (apt-get install dpkg): %v", err)
	}
	want, err := expectedPaths(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	stage, out := t.TempDir(), t.TempDir()
	if err := buildBinary(repoRoot, filepath.Join(stage, binPath)); err != nil {
		t.Fatal(err)
	}
	ctl, err := stageTree(repoRoot, stage, "")
	if err != nil {
		t.Fatal(err)
	}
	deb, err := pack(stage, out, ctl, "none")
	if err != nil {
		t.Fatal(err)
	}
	if err := checkDeb(deb, want); err != nil {
		t.Fatalf("the package as built fails its check: %v", err)
	}
	var stdout, stderr strings.Builder
	if code := run([]string{"-repo", repoRoot, "-check", deb}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "expected files present") {
		t.Errorf("debpkg -check on the built package: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, sh := range []string{"postinst", "prerm", "postrm"} {
		p := filepath.Join(stage, "DEBIAN", sh)
		if o, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: %v %s", sh, err, o)
		}
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "@") && regexp.MustCompile(`@[A-Z_]+@`).Match(b) {
			t.Errorf("%s has an unfilled placeholder", sh)
		}
	}

	for _, rm := range []string{unitDir + "/wsca-crl.timer", manDir + "/wsca-init.1.gz", docDir + "/operations.md"} {
		if err := os.Remove(filepath.Join(stage, rm)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(stage, "usr/bin/stray"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	deb, err = pack(stage, out, ctl, "none")
	if err != nil {
		t.Fatal(err)
	}
	err = checkDeb(deb, want)
	if err == nil {
		t.Fatal("a package without wsca-crl.timer, wsca-init.1.gz and operations.md passed its check")
	}
	for _, s := range []string{"missing " + unitDir + "/wsca-crl.timer", "missing " + manDir + "/wsca-init.1.gz",
		"missing " + docDir + "/operations.md", "Documentation= names " + docDir + "/operations.md", "unexpected /usr/bin/stray"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("the check's error does not say %q:\n%v", s, err)
		}
	}
}

func TestRunUsage(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"extra"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unexpected arguments") {
		t.Errorf("run(extra) = %d, %q", code, errb.String())
	}
	if code := run([]string{"-repo", t.TempDir(), "-expected"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not the repository's root") {
		t.Errorf("run(-repo EMPTY) = %d, %q", code, errb.String())
	}
}
