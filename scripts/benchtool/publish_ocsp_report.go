//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// ocspReport writes the OCSP table: for each case the medians over the repetitions, the ratio of every
// repetition (wsca against the openssl run next to it) for throughput and for CPU per response, and two
// verdicts: issue #10's (throughput ratio and p99) and the same ratio per unit of CPU, which a shared
// machine disturbs far less than a rate.
func (b *publishBench) ocspReport(cases []*ocspCase) {
	fmt.Fprintf(&b.report, "### OCSP: `wsca publish` vs `openssl ocsp -index … -port …`\n\n"+
		"Both responders pinned to CPUs %s and signing with the same delegated P-256 signer; the load generator "+
		"(benchtool, Go HTTP clients) on CPUs %s. POST of one request about a good certificate, %v per run, %d "+
		"repetitions with the responders interleaved (the order turning each repetition); HTTP keep-alive where the responder allows it. Medians, "+
		"then every repetition's ratio wsca/openssl. CPU per response: the responder process's user + system "+
		"time over the run (`/proc/PID/stat`, 10 ms ticks) divided by the responses answered, with the kernel's share (system time) in parentheses. Load generator: "+
		"benchtool's own CPU during the wsca runs, in %% of one core (at ~100%% the rate is the generator's, not "+
		"wsca's). Floor: the least any HTTP/1.1 responder can do (read the request, write wsca's response bytes; with a "+
		"nonce, one P-256 signature with Go's crypto) in a Go process pinned like the responders: its ratio to openssl "+
		"is the most this harness can show on this machine.\n\n"+
		"| request | clients | wsca resp/s | openssl resp/s | ratio (runs) | wsca CPU/resp | openssl CPU/resp | "+
		"CPU ratio (runs) | wsca p50 / p99 | openssl p50 / p99 | load generator | target ≥ 10×, p99 ≤ 2 ms | per CPU ≥ 10× | "+
		"floor resp/s, ratio to openssl (runs) | floor CPU/resp, p99, load generator |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", b.cpus, cpuList(), b.cfg.ocspDur, b.cfg.ocspReps)
	for _, c := range cases {
		wr, or, fr := c.runs["wsca"], c.runs["openssl"], c.runs[floorName(c.kind)]
		ratios, cpuRatios, floorRatios := perRun(wr, or), cpuPerRun(wr, or), perRun(fr, or)
		w, o, f := medianOCSP(wr), medianOCSP(or), medianOCSP(fr)
		ratio, cpuRatio := medianF(ratios), medianF(cpuRatios)
		fmt.Fprintf(&b.report, "| %s | %d | %.0f | %.0f | **%.1f×** (%s) | %s | %s | **%.1f×** (%s) | %s / %s | %s / %s | %.0f %% | %s | %s | %.0f, %.1f× (%s) | %s, %s, %.0f %% |\n",
			c.kind, c.conc, w.rps, o.rps, ratio, fmtRatios(ratios), fmtCPUSys(w), fmtCPUSys(o),
			cpuRatio, fmtRatios(cpuRatios), fmtDur(w.p50), fmtDur(w.p99), fmtDur(o.p50), fmtDur(o.p99), w.load,
			verdict(ratio >= ocspTargetRatio && w.p99 <= ocspTargetP99), verdict(cpuRatio >= ocspTargetRatio),
			f.rps, medianF(floorRatios), fmtRatios(floorRatios), fmtCPUSys(f), fmtDur(f.p99), f.load)
		if w.errors+o.errors+f.errors > 0 {
			fmt.Fprintf(&b.report, "| | | %d errors | %d errors | | | | | | | | | | %d errors | |\n", w.errors, o.errors, f.errors)
		}
	}
	b.report.WriteString("\n")
}

// perRun is the throughput ratio a/b of each repetition.
func perRun(a, b []ocspResult) []float64 {
	v := make([]float64, min(len(a), len(b)))
	for i := range v {
		v[i] = a[i].rps / max(b[i].rps, 1e-9)
	}
	return v
}

// cpuPerRun is the CPU-per-response ratio b/a of each repetition (how many times a's cost b pays).
func cpuPerRun(a, b []ocspResult) []float64 {
	v := make([]float64, min(len(a), len(b)))
	for i := range v {
		v[i] = float64(b[i].cpuPer) / max(float64(a[i].cpuPer), 1)
	}
	return v
}

// medianOCSP is the field-wise median of rs (each figure's own median, not one run's).
func medianOCSP(rs []ocspResult) ocspResult {
	var m ocspResult
	pick := func(f func(ocspResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		return medianF(v)
	}
	m.rps = pick(func(r ocspResult) float64 { return r.rps })
	m.p50 = time.Duration(pick(func(r ocspResult) float64 { return float64(r.p50) }))
	m.p99 = time.Duration(pick(func(r ocspResult) float64 { return float64(r.p99) }))
	m.cpuPer = time.Duration(pick(func(r ocspResult) float64 { return float64(r.cpuPer) }))
	m.sysPer = time.Duration(pick(func(r ocspResult) float64 { return float64(r.sysPer) }))
	m.load = pick(func(r ocspResult) float64 { return r.load })
	for _, r := range rs {
		m.errors += r.errors
	}
	return m
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fmtRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, r := range v {
		parts[i] = fmt.Sprintf("%.1f", r)
	}
	return strings.Join(parts, ", ")
}

func fmtCPUSys(r ocspResult) string {
	return fmt.Sprintf("%.0f µs (%.0f sys)", float64(r.cpuPer)/float64(time.Microsecond), float64(r.sysPer)/float64(time.Microsecond))
}
