package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// unitFiles returns every unit file in docs/systemd: the package packs them all, so a unit added there by
// another change is installed without touching this program.
func unitFiles(repo string) ([]string, error) {
	var units []string
	for _, ext := range []string{"service", "timer", "socket", "path", "target"} {
		m, err := filepath.Glob(filepath.Join(repo, "docs", "systemd", "*."+ext))
		if err != nil {
			return nil, err
		}
		units = append(units, m...)
	}
	if len(units) == 0 {
		return nil, fmt.Errorf("no unit files in %s", filepath.Join(repo, "docs", "systemd"))
	}
	slices.Sort(units)
	return units, nil
}

// unitInfo is what the package needs from a unit file.
type unitInfo struct {
	users, groups []string // User=, Group=
	docs          []string // Documentation=, split on spaces
	paths         []string // ReadWritePaths= and ReadOnlyPaths= that must exist (no "-" prefix)
}

func parseUnit(path string) (unitInfo, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return unitInfo{}, err
	}
	var u unitInfo
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") || strings.HasPrefix(k, ";") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "User":
			u.users = append(u.users, strings.TrimSpace(v))
		case "Group":
			u.groups = append(u.groups, strings.TrimSpace(v))
		case "Documentation":
			u.docs = append(u.docs, strings.Fields(v)...)
		case "ReadWritePaths", "ReadOnlyPaths":
			for _, p := range strings.Fields(v) {
				if !strings.HasPrefix(p, "-") {
					u.paths = append(u.paths, strings.TrimPrefix(p, "+"))
				}
			}
		}
	}
	return u, nil
}

// accounts returns the users and the extra groups (named by Group= but not a user's own group) that the units
// run as, sorted and without duplicates.
func accounts(units []string) (users, groups []string, err error) {
	for _, path := range units {
		u, err := parseUnit(path)
		if err != nil {
			return nil, nil, err
		}
		users = append(users, u.users...)
		groups = append(groups, u.groups...)
	}
	slices.Sort(users)
	users = slices.Compact(users)
	groups = slices.DeleteFunc(groups, func(g string) bool { return slices.Contains(users, g) })
	slices.Sort(groups)
	return users, slices.Compact(groups), nil
}

// unitPatterns returns the names systemctl takes for the units: NAME@*.service for a template, so that
// stopping or restarting reaches every running instance.
func unitPatterns(units []string) []string {
	var out []string
	for _, u := range units {
		out = append(out, strings.Replace(filepath.Base(u), "@.", "@*.", 1))
	}
	return out
}
