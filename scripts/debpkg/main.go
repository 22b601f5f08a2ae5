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

// options are the command line.
type options struct {
	repo, out, version, compress string
	check                        string // a .deb to check instead of building
	expected                     bool   // print the expected paths instead of building
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("debpkg", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repo, "repo", ".", "the repository's root (where go.mod is)")
	fs.StringVar(&o.out, "out", "dist", "directory for the .deb")
	fs.StringVar(&o.version, "version", "", "Debian version (default: from the built binary's module version, or git)")
	// gzip, not Debian's default xz: xz takes ~25 s more for the 12 MB binary on a 2-core CI machine and
	// saves 1 MB; dpkg reads both.
	fs.StringVar(&o.compress, "z", "gzip", "dpkg-deb compression: gzip, xz or none")
	fs.StringVar(&o.check, "check", "", "only check this .deb's file list against the repository")
	fs.BoolVar(&o.expected, "expected", false, "only print the absolute paths the package must hold")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "debpkg: error: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := dispatch(o, stdout); err != nil {
		fmt.Fprintf(stderr, "debpkg: error: %v\n", err)
		return 1
	}
	return 0
}

func dispatch(o options, stdout io.Writer) error {
	if _, err := os.Stat(filepath.Join(o.repo, "go.mod")); err != nil {
		return fmt.Errorf("-repo %s is not the repository's root: %w", o.repo, err)
	}
	want, err := expectedPaths(o.repo)
	if err != nil {
		return err
	}
	switch {
	case o.expected:
		for _, p := range want {
			fmt.Fprintln(stdout, p)
		}
		return nil
	case o.check != "":
		if err := checkDeb(o.check, want); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: all %d expected files present\n", o.check, len(want))
		return nil
	}
	deb, err := build(o.repo, o.out, o.version, o.compress)
	if err != nil {
		return err
	}
	if err := checkDeb(deb, want); err != nil {
		return err
	}
	fmt.Fprintln(stdout, deb)
	return nil
}
