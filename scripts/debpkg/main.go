// Command debpkg builds wsca's Debian package from this repository and checks a built package against what
// the repository says it must hold.
//
//	go run ./scripts/debpkg [-out DIR] [-version V] [-z gzip|xz|none]   build DIR/wsca_V_ARCH.deb, then check it
//	go run ./scripts/debpkg -check FILE.deb                             check a package's file list
//	go run ./scripts/debpkg -expected                                   print the paths the package must hold
//
// The package holds /usr/bin/wsca (static, CGO_ENABLED=0), the man pages of docs/man gzipped, the bash, zsh
// and fish completions that `wsca completion` writes, every unit file in docs/systemd (so a unit added there is
// packed without touching this program), docs/*.md and README.md under /usr/share/doc/wsca (the units'
// Documentation= point there), and maintainer scripts that create the users the units' User= and Group= lines
// name and the directories they read (see maint/).
//
// Why dpkg-deb and not nfpm: dpkg-deb is part of dpkg, present on every machine that installs the package, and it
// is the reference implementation of the format, so there is no second writer of .deb files to trust;
// --root-owner-group gives root ownership without fakeroot. nfpm as a library would add its module graph to
// go.mod (and to every CI download) for one 40-file archive whose staging tree is a few functions here.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("debpkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	repo := fs.String("repo", ".", "the repository's root (where go.mod is)")
	out := fs.String("out", "dist", "directory for the .deb")
	version := fs.String("version", "", "Debian version (default: from the built binary's module version, or git)")
	// gzip, not Debian's default xz: xz takes ~25 s more for the 12 MB binary on a 2-core CI machine and
	// saves 1 MB; dpkg reads both.
	compress := fs.String("z", "gzip", "dpkg-deb compression: gzip, xz or none")
	check := fs.String("check", "", "only check this .deb's file list against the repository")
	expected := fs.Bool("expected", false, "only print the absolute paths the package must hold")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "debpkg: error: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := dispatch(*repo, *out, *version, *compress, *check, *expected, stdout); err != nil {
		fmt.Fprintf(stderr, "debpkg: error: %v\n", err)
		return 1
	}
	return 0
}

func dispatch(repo, out, version, compress, check string, expected bool, stdout io.Writer) error {
	if _, err := os.Stat(filepath.Join(repo, "go.mod")); err != nil {
		return fmt.Errorf("-repo %s is not the repository's root: %w", repo, err)
	}
	want, err := expectedPaths(repo)
	if err != nil {
		return err
	}
	switch {
	case expected:
		for _, p := range want {
			fmt.Fprintln(stdout, p)
		}
		return nil
	case check != "":
		if err := checkDeb(check, want); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: all %d expected files present\n", check, len(want))
		return nil
	}
	deb, err := build(repo, out, version, compress)
	if err != nil {
		return err
	}
	if err := checkDeb(deb, want); err != nil {
		return err
	}
	fmt.Fprintln(stdout, deb)
	return nil
}
