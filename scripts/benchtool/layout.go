//go:build linux

package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// layout is how the relay workloads share the machine's cores (issue 15). The load generator (benchtool) always
// runs on the "other" CPUs and the proxy on its own; what moves is the echo backend:
//   - isolated: the backend with the load generator, the proxy alone on its core: the proxy's own cost;
//   - shared: the backend on the proxy's core, as when a relay and its application share a small machine.
type layout string

const (
	layoutIsolated layout = "isolated"
	layoutShared   layout = "shared"
)

var layouts = []layout{layoutIsolated, layoutShared}

func parseLayout(s string) (layout, error) {
	for _, l := range layouts {
		if s == string(l) {
			return l, nil
		}
	}
	return "", fmt.Errorf("-layout %q: want isolated or shared", s)
}

// backendCPUs is the CPU list the echo backend is pinned to, given the proxy's and the load generator's.
func (l layout) backendCPUs(peerCPUs, otherCPUs string) string {
	if l == layoutShared {
		return peerCPUs
	}
	return otherCPUs
}

func (l layout) describe(peerCPUs, otherCPUs string) string {
	if l == layoutShared {
		return fmt.Sprintf("layout shared: load generator on CPUs %s; the proxy and the echo backend on CPUs %s", otherCPUs, peerCPUs)
	}
	return fmt.Sprintf("layout isolated: the proxy alone on CPUs %s; the load generator and the echo backend on CPUs %s", peerCPUs, otherCPUs)
}

// statCPUTicks returns utime and stime, in clock ticks, from the text of /proc/PID/stat: the CPU the process's
// threads have used in user space and in the kernel, those that exited included (not its children's).
func statCPUTicks(stat []byte) (user, sys int64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, errors.New("/proc/PID/stat: no command name")
	}
	// After the command name: state (field 3) … utime (14), stime (15).
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/PID/stat: %d fields after the command name, want ≥ 13", len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("/proc/PID/stat: %w", err)
	}
	return u, s, nil
}

// cpuTimes is CPU time used, in user space and in the kernel (system calls, and the softirq work they run: on
// loopback a send also runs the receiver's TCP input).
type cpuTimes struct{ user, sys time.Duration }

func (c cpuTimes) total() time.Duration { return c.user + c.sys }

// clockTick is the length of one /proc clock tick (getconf CLK_TCK; 100 Hz when that fails, Linux's USER_HZ).
func clockTick() time.Duration {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if hz, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && hz > 0 {
			return time.Second / time.Duration(hz)
		}
	}
	return 10 * time.Millisecond
}

// cpuTime sums the CPU time of the peer's processes (the main one and every descendant alive now). A worker
// that exits between two readings takes its ticks with it: the peers here keep their workers for the run.
func (s *server) cpuTime(tick time.Duration) (cpuTimes, error) {
	return treeCPUTime(s.cmd.Process.Pid, tick)
}

// treeCPUTime sums the CPU time of root and its descendants alive now.
func treeCPUTime(root int, tick time.Duration) (cpuTimes, error) {
	var user, sys int64
	n := 0
	for _, pid := range processTree(root) {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // exited meanwhile
		}
		u, s, err := statCPUTicks(data)
		if err != nil {
			return cpuTimes{}, err
		}
		user += u
		sys += s
		n++
	}
	if n == 0 {
		return cpuTimes{}, errors.New("no CPU figures in /proc")
	}
	return cpuTimes{user: time.Duration(user) * tick, sys: time.Duration(sys) * tick}, nil
}

// perUnit is the CPU used between two readings per unit of work, in unit (µs per message, ms per MB …), or
// notMeasured when there was no work or the clock went backwards (a worker exited).
func perUnit(before, after time.Duration, work float64, unit time.Duration) float64 {
	if work <= 0 || after < before || math.IsNaN(work) {
		return notMeasured
	}
	return float64(after-before) / float64(unit) / work
}

// perSessionKiB is the memory growth per open session: the RSS delta over the sessions, in KiB.
func perSessionKiB(beforeKiB, afterKiB int64, sessions int) (float64, error) {
	if sessions <= 0 {
		return 0, errors.New("no sessions open")
	}
	if afterKiB < beforeKiB {
		return 0, fmt.Errorf("RSS fell from %d to %d KiB while %d sessions opened: the measurement is not usable", beforeKiB, afterKiB, sessions)
	}
	return float64(afterKiB-beforeKiB) / float64(sessions), nil
}

// rssKiB is VmRSS of pid from /proc/PID/status.
func rssKiB(pid int) (int64, error) { return procKiB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS") }

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	return strings.Join(f[:min(3, len(f))], " ")
}

// runRTTCmd is `benchtool rtt`: one rtt workload against a relay started by hand (under perf or strace), with
// the client certificate given; it prints msgs/s, p50 and p99.
func runRTTCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("rtt", flag.ContinueOnError)
	addr := fs.String("addr", "", "the relay's loopback address")
	cert := fs.String("cert", "", "client certificate")
	key := fs.String("key", "", "client key")
	root := fs.String("root", "", "root certificate the relay's server certificate chains to")
	conns := fs.Int("conns", 50, "connections")
	trips := fs.Int("trips", 100, "round trips per connection")
	size := fs.Int("size", 128, "message size in bytes")
	pid := fs.Int("pid", 0, "the relay's process ID: print its CPU (and its children's) per round trip, the round trips only")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !strings.HasPrefix(host, "127.") {
		return fmt.Errorf("-addr %q: a loopback address and port", *addr)
	}
	if *conns < 1 || *trips < 1 || *size < 1 || *trips > 1_000_000 {
		return errors.New("-conns, -trips (≤ 1,000,000) and -size must be positive")
	}
	pemData, err := os.ReadFile(*root)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		return fmt.Errorf("-root %s: no certificate", *root)
	}
	pair, err := tls.LoadX509KeyPair(*cert, *key)
	if err != nil {
		return err
	}
	conf := &tls.Config{RootCAs: pool, ServerName: host, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}
	tick := clockTick()
	var before cpuTimes
	var cpuErr error
	opened := func() {
		if *pid > 0 {
			before, cpuErr = treeCPUTime(*pid, tick)
		}
	}
	r, err := runRTT(*addr, conf, *conns, *trips, *size, 10*time.Minute, opened)
	if err = errors.Join(err, cpuErr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d round trips: %.0f msgs/s, p50 %.3f ms, p99 %.3f ms", *conns**trips, r.MsgsPerSec, ms(r.P50), ms(r.P99))
	if *pid > 0 {
		after, err := treeCPUTime(*pid, tick)
		if err != nil {
			return err
		}
		n := float64(*conns * *trips)
		fmt.Fprintf(stdout, ", proxy CPU %.1f µs per round trip (user %.1f, system %.1f)",
			perUnit(before.total(), after.total(), n, time.Microsecond), perUnit(before.user, after.user, n, time.Microsecond),
			perUnit(before.sys, after.sys, n, time.Microsecond))
	}
	fmt.Fprintln(stdout)
	return nil
}
