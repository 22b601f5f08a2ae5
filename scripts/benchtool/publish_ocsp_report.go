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
		"repetitions with the responders interleaved; HTTP keep-alive where the responder allows it. Medians, "+
		"then every repetition's ratio wsca/openssl. CPU per response: the responder process's user + system "+
		"time over the run (`/proc/PID/stat`, 10 ms ticks) divided by the responses answered, with the kernel's share (system time) in parentheses. Load generator: "+
		"benchtool's own CPU during the wsca runs, in %% of one core (at ~100%% the rate is the generator's, not "+
		"wsca's).\n\n"+
		"| request | clients | wsca resp/s | openssl resp/s | ratio (runs) | wsca CPU/resp | openssl CPU/resp | "+
		"CPU ratio (runs) | wsca p50 / p99 | openssl p50 / p99 | load generator | target ≥ 10×, p99 ≤ 2 ms | per CPU ≥ 10× |\n"+
		"|---|---|---|---|---|---|---|---|---|---|---|---|---|\n", b.cpus, cpuList(), b.cfg.ocspDur, b.cfg.ocspReps)
	for _, c := range cases {
		var ratios, cpuRatios []float64
		for i := range c.wsca {
			ratios = append(ratios, c.wsca[i].rps/max(c.openssl[i].rps, 1e-9))
			cpuRatios = append(cpuRatios, float64(c.openssl[i].cpuPer)/max(float64(c.wsca[i].cpuPer), 1))
		}
		w, o := medianOCSP(c.wsca), medianOCSP(c.openssl)
		ratio, cpuRatio := medianF(ratios), medianF(cpuRatios)
		fmt.Fprintf(&b.report, "| %s | %d | %.0f | %.0f | **%.1f×** (%s) | %s | %s | **%.1f×** (%s) | %s / %s | %s / %s | %.0f %% | %s | %s |\n",
			c.kind, c.conc, w.rps, o.rps, ratio, fmtRatios(ratios), fmtCPUSys(w), fmtCPUSys(o),
			cpuRatio, fmtRatios(cpuRatios), fmtDur(w.p50), fmtDur(w.p99), fmtDur(o.p50), fmtDur(o.p99), w.load,
			verdict(ratio >= ocspTargetRatio && w.p99 <= ocspTargetP99), verdict(cpuRatio >= ocspTargetRatio))
		if w.errors+o.errors > 0 {
			fmt.Fprintf(&b.report, "| | | %d errors | %d errors | | | | | | | | | |\n", w.errors, o.errors)
		}
	}
	b.report.WriteString("\n")
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
