// Package buildinfo reports what a wsca binary was built from: the module version, the VCS revision and
// its time, whether the work tree had uncommitted changes, and the Go toolchain. It reads what the Go
// linker recorded (runtime/debug.ReadBuildInfo), so a binary cannot claim a version it was not built from,
// and needs no -ldflags -X at build time.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Info is the build of one binary. Its JSON form is the stable output of `wsca version --json`.
type Info struct {
	// Version is the main module's version: a release tag (v1.2.0), a pseudo-version that names the
	// commit (v0.0.0-20261206044000-ce1a4ea1b2c3, +dirty when the tree had changes), or "(devel)" when
	// the toolchain recorded none (go test binaries, builds outside a repository).
	Version string `json:"version"`
	// Revision is the full VCS commit hash, "" when unknown.
	Revision string `json:"revision"`
	// Time is the commit time, RFC 3339, "" when unknown.
	Time string `json:"time"`
	// Modified reports uncommitted changes in the tree the binary was built from.
	Modified bool `json:"modified"`
	// GoVersion is the toolchain that built the binary (go1.26.8).
	GoVersion string `json:"go"`
	// Platform is GOOS/GOARCH of the binary.
	Platform string `json:"platform"`
}

// Read returns the running binary's build. A binary built without module support (never the case for
// wsca built with the go command) yields Version "(devel)" and empty fields.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	}
	i := FromBuildInfo(bi)
	if i.Platform == "" {
		i.Platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	return i
}

// FromBuildInfo extracts the Info from a recorded build (runtime/debug.ReadBuildInfo for the running
// binary, debug/buildinfo.ReadFile for another one).
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		i.Platform = goos + "/" + goarch
	}
	return i
}

// String is the human form printed by `wsca version` and `wsca --version`: the version on the first line
// (what a bug report needs), then revision, time and toolchain, with "unknown" for what was not recorded.
func (i Info) String() string {
	unknown := func(s string) string {
		if s == "" {
			return "unknown"
		}
		return s
	}
	rev := unknown(i.Revision)
	if i.Modified {
		rev += " (modified: built with uncommitted changes)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wsca %s\n", i.Version)
	fmt.Fprintf(&b, "revision: %s\n", rev)
	fmt.Fprintf(&b, "time:     %s\n", unknown(i.Time))
	fmt.Fprintf(&b, "go:       %s\n", strings.TrimSpace(unknown(i.GoVersion)+" "+i.Platform))
	return b.String()
}
