//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// Results is everything one benchmark run measured, as saved in results.json.
type Results struct {
	Mode    string    `json:"mode"` // "quick" or "full"
	Reps    int       `json:"reps"`
	Started string    `json:"started"`
	Seconds float64   `json:"seconds"` // wall time of the whole run
	Machine Machine   `json:"machine"`
	Metrics []*Metric `json:"metrics"`
	Notes   []string  `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPUs     string `json:"cpus"` // nproc
	Model    string `json:"model"`
	MemTotal string `json:"mem_total"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Pinning  string `json:"pinning"`
	// Layouts are the relay runs' core layouts (issue 15), one line each, with the load average at their start.
	Layouts  []string          `json:"relay_layouts,omitempty"`
	Load     string            `json:"load"` // /proc/loadavg at the start: the machine is shared
	Versions map[string]string `json:"versions"`
}

// Metric is one measured quantity of a workload: one value per repetition for every peer. Peers[0] is
// the subject (wsca); every other peer's ratio is peer/subject within the same repetition.
type Metric struct {
	Workload string `json:"workload"` // "issue-1", "crl-1M", …
	Name     string `json:"name"`     // "wall", "peak RSS", …
	Unit     string `json:"unit"`
	Lower    bool   `json:"lower_is_better"`
	// Context marks a figure that explains the others (how busy the load generator was) rather than one where
	// wsca is ahead or behind: it is tabled but not plotted.
	Context bool                 `json:"context,omitempty"`
	Peers   []string             `json:"peers"`
	Values  map[string][]float64 `json:"values"` // peer → value per repetition (negative: not measured)
	Targets []*Target            `json:"targets,omitempty"`
	Notes   []string             `json:"notes,omitempty"`
}

// Target is an issue-5 goal for a metric: either an absolute bound on the subject's median (Kind "max"),
// or a bound on the median ratio peer/subject (Kind "ratio-min" / "ratio-max"). Peer "*" means every peer
// but "direct" (the physical limit, not a competitor): the worst of their ratios decides.
type Target struct {
	Text  string  `json:"text"`
	Kind  string  `json:"kind"`
	Value float64 `json:"value"`
	Peer  string  `json:"peer,omitempty"`
}

func newMetric(workload, name, unit string, lower bool, peers ...string) *Metric {
	m := &Metric{Workload: workload, Name: name, Unit: unit, Lower: lower, Peers: peers, Values: map[string][]float64{}}
	return m
}

// add records one repetition's value for peer.
func (m *Metric) add(peer string, v float64) { m.Values[peer] = append(m.Values[peer], v) }

// notMeasured marks a repetition in which a peer could not be measured (JSON has no NaN).
const notMeasured = -1

func missing(v float64) bool { return v < 0 || math.IsNaN(v) }

// Summary is the median and range of a series of repetitions.
type Summary struct{ Median, Min, Max float64 }

func summarize(xs []float64) Summary {
	var v []float64
	for _, x := range xs {
		if !missing(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Summary{med, v[0], v[len(v)-1]}
}

// ratios returns peer/subject for every repetition where both were measured.
func (m *Metric) ratios(peer string) []float64 {
	a, b := m.Values[m.Peers[0]], m.Values[peer]
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] > 0 && !missing(b[i]) {
			out = append(out, b[i]/a[i])
		}
	}
	return out
}

// target adds a goal to the metric.
func (m *Metric) target(t *Target) { m.Targets = append(m.Targets, t) }

// verdict says whether the metric meets t, with the number that decided it.
func (m *Metric) verdict(t *Target) (met bool, detail string) {
	switch t.Kind {
	case "max":
		s := summarize(m.Values[m.Peers[0]])
		if missing(s.Median) {
			return false, "not measured"
		}
		if s.Median <= t.Value {
			return true, fmt.Sprintf("%s %s ≤ %s", fmtNum(s.Median), m.Unit, fmtNum(t.Value))
		}
		return false, fmt.Sprintf("%s %s, %.2f× the bound", fmtNum(s.Median), m.Unit, s.Median/t.Value)
	case "ratio-min", "ratio-max":
		peers := []string{t.Peer}
		if t.Peer == "*" {
			peers = nil
			for _, p := range m.Peers[1:] {
				if p != "direct" {
					peers = append(peers, p)
				}
			}
		}
		worst, worstPeer := math.NaN(), ""
		for _, p := range peers {
			r := summarize(m.ratios(p)).Median
			if missing(r) {
				continue
			}
			if math.IsNaN(worst) || (t.Kind == "ratio-min" && r < worst) || (t.Kind == "ratio-max" && r > worst) {
				worst, worstPeer = r, p
			}
		}
		if math.IsNaN(worst) {
			return false, "not measured"
		}
		met := worst >= t.Value
		if t.Kind == "ratio-max" {
			met = worst <= t.Value
		}
		if met {
			return true, fmt.Sprintf("%s/wsca %.2f×", worstPeer, worst)
		}
		return false, fmt.Sprintf("%s/wsca %.2f×, goal %.2f×", worstPeer, worst, t.Value)
	}
	return false, "unknown target kind " + t.Kind
}

// Verdict combines the metric's targets: met only if all are, with one detail per target. ok is false for
// a metric without targets.
func (m *Metric) Verdict() (met bool, detail string, ok bool) {
	if len(m.Targets) == 0 {
		return false, "", false
	}
	met = true
	var details []string
	for _, t := range m.Targets {
		tm, d := m.verdict(t)
		met = met && tm
		details = append(details, d)
	}
	return met, strings.Join(details, "; "), true
}

func fmtNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v == 0:
		return "0"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func fmtSummary(s Summary) string {
	if math.IsNaN(s.Median) {
		return "–"
	}
	return fmt.Sprintf("%s [%s–%s]", fmtNum(s.Median), fmtNum(s.Min), fmtNum(s.Max))
}

func fmtRatio(s Summary) string {
	if math.IsNaN(s.Median) {
		return "–"
	}
	return fmt.Sprintf("%.2f× [%.2f–%.2f]", s.Median, s.Min, s.Max)
}

// Table renders the results as a Markdown table (also readable on a terminal): one row per metric and
// peer, the subject's row first.
func (r *Results) Table() string {
	var b strings.Builder
	b.WriteString("| workload | metric | peer | median [min–max] | ratio peer/wsca [min–max] | target | status |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, m := range r.Metrics {
		met, detail, hasTarget := m.Verdict()
		status := ""
		if hasTarget {
			status = "**missed** (" + detail + ")"
			if met {
				status = "met (" + detail + ")"
			}
		}
		var texts []string
		for _, t := range m.Targets {
			texts = append(texts, t.Text)
		}
		target := strings.Join(texts, "; ")
		for i, p := range m.Peers {
			ratio := ""
			if i > 0 {
				ratio = fmtRatio(summarize(m.ratios(p)))
			}
			row := []string{m.Workload, m.Name + " (" + m.Unit + ")", p, fmtSummary(summarize(m.Values[p])), ratio, "", ""}
			if i > 0 {
				row[0], row[1] = "", ""
			} else {
				row[5], row[6] = target, status
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
	}
	return b.String()
}

func (r *Results) save(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding results: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}
	return nil
}

func loadResults(path string) (*Results, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading results: %w", err)
	}
	var r Results
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", path, err)
	}
	return &r, nil
}
