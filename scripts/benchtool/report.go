//go:build linux

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// describeMachine records what the numbers depend on: CPUs, model, memory, kernel, Go, the affinity the
// peers run with, the load at the start (the machine may be shared), and the exact peer versions.
func describeMachine(ctx context.Context, wsca string) Machine {
	first := func(s string) string { return strings.TrimSpace(strings.SplitN(s, "\n", 2)[0]) }
	cmd := func(args ...string) string {
		out, err := output(ctx, "", args...)
		if err != nil {
			return "unavailable"
		}
		return first(out)
	}
	m := Machine{
		CPUs:   cmd("nproc", "--all"),
		Kernel: cmd("uname", "-r"),
		Go:     runtime.Version(),
		Versions: map[string]string{
			"openssl": cmd("openssl", "version"),
		},
	}
	if v := cmd(wsca, "--version"); v != "unavailable" {
		m.Versions["wsca"] = v
	}
	if out, err := output(ctx, "", "lscpu"); err == nil {
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "Model name" {
				m.Model = strings.TrimSpace(v)
			}
		}
	}
	if m.Model == "" {
		m.Model = cpuinfoModel()
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = strings.Join(strings.Fields(first(string(data)))[1:], " ")
	}
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
				m.Pinning = "CPUs " + strings.TrimSpace(v) + " (benchtool and every process it starts)"
			}
		}
	}
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.Load = first(string(data))
	}
	return m
}

// writeReport prints the table and writes results.md and results.png next to results.json.
func writeReport(r *Results, dir string, stdout io.Writer) error {
	if err := r.save(filepath.Join(dir, "results.json")); err != nil {
		return err
	}
	md := r.Markdown()
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	png := filepath.Join(dir, "results.png")
	if err := writePlot(r, png); err != nil {
		return fmt.Errorf("drawing %s: %w", png, err)
	}
	_, err := io.WriteString(stdout, md)
	return err
}

// Markdown is the machine description, the table and the notes.
func (r *Results) Markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "## %s run, %s (%d repetitions, %.0f s)\n\n", r.Mode, r.Started, r.Reps, r.Seconds)
	fmt.Fprintf(&b, "- machine: %s CPUs, %s, %s RAM, kernel %s, %s\n", m.CPUs, m.Model, m.MemTotal, m.Kernel, m.Go)
	fmt.Fprintf(&b, "- pinning: %s; load average at start: %s\n", m.Pinning, m.Load)
	for _, l := range m.Layouts {
		fmt.Fprintf(&b, "- relay %s\n", l)
	}
	for _, k := range sortedKeys(m.Versions) {
		fmt.Fprintf(&b, "- %s: %s\n", k, m.Versions[k])
	}
	b.WriteString("\n")
	b.WriteString(r.Table())
	var notes []string
	for _, mt := range r.Metrics {
		for _, n := range mt.Notes {
			notes = append(notes, mt.Workload+", "+mt.Name+": "+n)
		}
	}
	notes = append(notes, r.Notes...)
	if len(notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

func runReport(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	in := fs.String("in", "", "results.json, or several separated by commas (merged: machine and mode of the first)")
	png := fs.String("png", "", "also draw the plot here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var r *Results
	for _, f := range strings.Split(*in, ",") {
		next, err := loadResults(f)
		if err != nil {
			return err
		}
		if r == nil {
			r = next
			continue
		}
		r.Metrics = append(r.Metrics, next.Metrics...)
		r.Notes = append(r.Notes, next.Notes...)
		r.Seconds += next.Seconds
		r.Machine.Versions = mergeVersions(r.Machine.Versions, next.Machine.Versions)
	}
	if *png != "" {
		if err := writePlot(r, *png); err != nil {
			return err
		}
	}
	_, err := io.WriteString(stdout, r.Markdown())
	return err
}

// cpuinfoModel is the first "model name" of /proc/cpuinfo: the CPU model where lscpu is missing or names none.
func cpuinfoModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
