package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/wsca/wsca/internal/buildinfo"
)

type versionOptions struct {
	json bool
}

func newVersionCmd(g *globals) *cobra.Command {
	o := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "print the version, VCS revision and Go version of this binary",
		Long: `Print what this binary was built from, as the Go toolchain recorded it: the module version (a
release tag, or a pseudo-version naming the commit, +dirty when the tree had uncommitted changes), the
VCS revision and its time, and the Go version and platform. "wsca --version" prints the same. Put it in
every bug report. --json prints one object with the fields version, revision, time, modified, go and
platform ("" for what was not recorded).`,
		Example: `  $ wsca version
  wsca v0.0.0-20261206044000-ce1a4ea1b2c3
  revision: ce1a4ea1b2c3d4e5f60718293a4b5c6d7e8f9012
  time:     2026-12-06T04:40:00Z
  go:       go1.26.8 linux/amd64
  $ wsca version --json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error { return runVersion(g, o) },
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runVersion(g *globals, o *versionOptions) error {
	info := buildinfo.Read()
	if !o.json {
		_, err := g.env.stdout.Write([]byte(info.String()))
		return err
	}
	enc := json.NewEncoder(g.env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(info)
}
