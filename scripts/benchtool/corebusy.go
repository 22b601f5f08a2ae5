//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// coreTicks is what /proc/stat says of a set of CPUs: jiffies spent busy and in all.
type coreTicks struct{ busy, total int64 }

// readCoreTicks sums the /proc/stat lines of the CPUs in want (parseCPUList). Idle and iowait count as not busy;
// everything else (user, nice, system, irq, softirq, steal) as busy.
func readCoreTicks(want map[int]bool) (coreTicks, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreTicks{}, err
	}
	return sumCoreTicks(data, want)
}

func sumCoreTicks(stat []byte, want map[int]bool) (coreTicks, error) {
	var t coreTicks
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(stat))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil || !want[n] {
			continue
		}
		found++
		for i, s := range f[1:] {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return coreTicks{}, fmt.Errorf("/proc/stat %s: %w", f[0], err)
			}
			t.total += v
			if i != 3 && i != 4 { // idle, iowait
				t.busy += v
			}
		}
	}
	if found != len(want) {
		return coreTicks{}, fmt.Errorf("/proc/stat: %d of the %d CPUs asked for", found, len(want))
	}
	return t, nil
}

// busyPercent is how busy the CPUs were between two readings, in percent of their time (notMeasured when no time
// passed).
func busyPercent(a, b coreTicks) float64 {
	if b.total <= a.total {
		return notMeasured
	}
	return 100 * float64(b.busy-a.busy) / float64(b.total-a.total)
}

// parseCPUList parses a Linux CPU list such as "0", "0-1" or "0,2-3".
func parseCPUList(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("CPU list %q: %q is not a CPU number", s, lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b-a > 4096 {
				return nil, fmt.Errorf("CPU list %q: bad range %q", s, part)
			}
		}
		for c := a; c <= b; c++ {
			out[c] = true
		}
	}
	return out, nil
}
