//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run is what one child process cost: wall time from start to exit, CPU time (user + system) and peak
// resident set size — the same ru_maxrss that `/usr/bin/time -v` prints as "Maximum resident set size".
type Run struct {
	Wall      time.Duration
	CPU       time.Duration
	MaxRSSKiB int64
	Stdout    []byte
}

// add sums two sequential runs (a pipeline of commands measured as one operation); peak RSS is the larger.
func (r Run) add(o Run) Run {
	return Run{Wall: r.Wall + o.Wall, CPU: r.CPU + o.CPU, MaxRSSKiB: max(r.MaxRSSKiB, o.MaxRSSKiB)}
}

func ms(d time.Duration) float64  { return float64(d) / float64(time.Millisecond) }
func sec(d time.Duration) float64 { return d.Seconds() }
func mib(kib int64) float64       { return float64(kib) / 1024 }

// timeBin is GNU time. Every measured command runs under `/usr/bin/time -f %M` because the ru_maxrss that
// wait4 returns for a child started by a large parent is wrong: Go starts children with vfork semantics
// (CLONE_VM), and execve records the old address space's high-water mark in the child's maxrss — the
// parent's peak. GNU time is small and forks normally, so its child's figure is the child's own; it is
// the "Maximum resident set size" of `/usr/bin/time -v`.
const timeBin = "/usr/bin/time"

// Cmd is a child process to measure. Processes inherit benchtool's CPU affinity: scripts/bench starts
// benchtool under taskset, so every peer runs pinned the same way, with no taskset exec in the timing.
type Cmd struct {
	Dir     string
	Env     []string // added to the environment
	Stdin   io.Reader
	Timeout time.Duration // default 10 minutes
	Args    []string
}

// meter measures child processes. overhead is what wrapping a process in GNU time adds to its wall time
// (one more fork and exec), found by calibrate and subtracted from every measurement, so a command of two
// processes is not charged twice for the harness.
type meter struct{ overhead time.Duration }

// measure runs c and returns its cost. A non-zero exit is an error carrying the tail of stderr.
func (m meter) measure(ctx context.Context, c Cmd) (Run, error) {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	rssFile, err := os.CreateTemp("", "benchtool-rss-")
	if err != nil {
		return Run{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	args := append([]string{timeBin, "-f", "%M", "-o", rssFile.Name()}, c.Args...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	cmd.Stdin = c.Stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &limitedWriter{w: &stderr, n: 64 << 10}
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start) - m.overhead
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %s", c.Timeout)
		}
		return Run{}, fmt.Errorf("%s: %w: %s", strings.Join(c.Args, " "), err, tail(stderr.String(), 600))
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return Run{}, errors.New("no rusage for child process")
	}
	// GNU time's rusage includes the child it waited for.
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	rss, err := readRSS(rssFile.Name())
	if err != nil {
		return Run{}, fmt.Errorf("%s: %w", strings.Join(c.Args, " "), err)
	}
	return Run{Wall: wall, CPU: cpu, MaxRSSKiB: rss, Stdout: stdout.Bytes()}, nil
}

// readRSS reads the %M figure GNU time wrote: the last line of its output file.
func readRSS(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Fields(strings.TrimSpace(string(data)))
	if len(lines) == 0 {
		return 0, errors.New("GNU time wrote no peak RSS")
	}
	n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("GNU time output %q: %w", data, err)
	}
	return n, nil
}

// calibrate returns a meter whose overhead is the median wall of /bin/true under GNU time minus that of /bin/true
// started directly, over 21 runs each, interleaved.
func calibrate(ctx context.Context) (meter, error) {
	var wrapped, direct []float64
	for range 21 {
		r, err := meter{}.measure(ctx, Cmd{Args: []string{"/bin/true"}})
		if err != nil {
			return meter{}, err
		}
		wrapped = append(wrapped, float64(r.Wall))
		start := time.Now()
		if err := exec.CommandContext(ctx, "/bin/true").Run(); err != nil {
			return meter{}, err
		}
		direct = append(direct, float64(time.Since(start)))
	}
	d := time.Duration(summarize(wrapped).Median - summarize(direct).Median)
	return meter{overhead: max(d, 0)}, nil
}

// limitedWriter keeps the first n bytes written to it and discards the rest.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		if _, err := l.w.Write(p[:k]); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// output runs a setup command (not measured) and returns its standard output.
func output(ctx context.Context, dir string, args ...string) (string, error) {
	r, err := meter{}.measure(ctx, Cmd{Dir: dir, Args: args, Timeout: 10 * time.Minute})
	return string(r.Stdout), err
}

// runCombined runs a setup command and returns its standard output and error together.
func runCombined(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	return string(out), err
}
