//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// profileLine keeps the perf report lines worth reading: wsca's own functions, the crypto, the runtime's
// allocator, copies and scheduler, the network and TLS stacks, and the kernel's file-system, network and
// page-fault paths.
var profileLine = regexp.MustCompile(`wsca/wsca|crypto/|bbolt|net/http|internal/poll|runtime\.(mallocgc|memmove|gcBgMarkWorker|main|schedule|findRunnable|netpoll|futex|goexit)|\[k\] (do_fsync|ext4|jbd2|do_sys_open|exc_page_fault|do_syscall_64|tcp_sendmsg|tcp_recvmsg|__x64_sys_futex|__x64_sys_epoll_wait|schedule)|syscall\.`)

// profile runs cmd once more, outside the measurements, under `perf record -g` (where CPU time goes,
// inclusive per function) and `strace -f -c -w` (wall time per system call), and writes both summaries to
// out/profile-NAME.txt: the evidence docs/benchmarks.md cites where a target is missed. setup, if not nil,
// prepares a fresh state before each of the two runs. Missing tools are noted, not fatal.
func (b *caBench) profile(name string, setup func() error, cmd []string) {
	if !b.doProfile {
		return
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# %s\n# %s\n\n", name, strings.Join(cmd, " "))
	perfData := filepath.Join(b.work, "perf-"+name+".data")
	run := func(args ...string) (string, error) {
		if setup != nil {
			if err := setup(); err != nil {
				return "", err
			}
		}
		c := exec.CommandContext(b.ctx, args[0], args[1:]...)
		data, err := c.CombinedOutput()
		return string(data), err
	}
	if _, err := exec.LookPath("perf"); err != nil {
		out.WriteString("perf: not installed\n")
	} else if msg, err := run(append([]string{"perf", "record", "-F", "1999", "-g", "-o", perfData, "--"}, cmd...)...); err != nil {
		fmt.Fprintf(&out, "perf record failed: %v: %s\n", err, tail(msg, 400))
	} else {
		out.WriteString(perfReport(b.ctx, perfData))
	}
	os.Remove(perfData)
	straceOut := filepath.Join(b.work, "strace-"+name+".txt")
	if _, err := exec.LookPath("strace"); err != nil {
		out.WriteString("\nstrace: not installed\n")
	} else if msg, err := run(append([]string{"strace", "-f", "-c", "-w", "-o", straceOut}, cmd...)...); err != nil {
		fmt.Fprintf(&out, "\nstrace failed: %v: %s\n", err, tail(msg, 400))
	} else if data, err := os.ReadFile(straceOut); err == nil {
		out.WriteString("\n## strace -f -c -w: wall time in system calls (strace itself slows each call)\n")
		// Waits of idle runtime threads (futex, nanosleep, …) are not the command's work.
		idle := regexp.MustCompile(`futex|nanosleep|sched_yield|epoll_|rt_sig|sigaltstack`)
		kept := 0
		for _, l := range strings.Split(string(data), "\n") {
			if idle.MatchString(l) || kept >= 16 {
				continue
			}
			out.WriteString(l + "\n")
			kept++
		}
	}
	path := filepath.Join(b.out, "profile-"+name+".txt")
	if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
		b.logf("profile %s: %v", name, err)
		return
	}
	b.logf("profile %s written to %s (%s)", name, path, time.Now().Format("15:04:05"))
}

// perfReport is the filtered inclusive perf report of data.
func perfReport(ctx context.Context, data string) string {
	rep, err := exec.CommandContext(ctx, "perf", "report", "-i", data, "--stdio", "--children", "--sort", "symbol",
		"-g", "none", "--percent-limit", "1.5").Output()
	if err != nil {
		return fmt.Sprintf("perf report failed: %v\n", err)
	}
	var out strings.Builder
	out.WriteString("## perf: CPU samples, inclusive (children) and self %, filtered\n")
	for _, l := range strings.Split(string(rep), "\n") {
		if strings.HasPrefix(l, "#") && strings.Contains(l, "Samples") {
			out.WriteString(l + "\n")
		}
		if profileLine.MatchString(l) {
			out.WriteString(strings.TrimRight(shorten(l, 150), " -") + "\n")
		}
	}
	return out.String()
}

// profilePID records pid with perf while during runs, and writes the filtered report to path.
func profilePID(ctx context.Context, pid int, path, title string, during func() error) error {
	if _, err := exec.LookPath("perf"); err != nil {
		return os.WriteFile(path, []byte("perf: not installed\n"), 0o644)
	}
	data := path + ".data"
	defer os.Remove(data)
	perf := exec.CommandContext(ctx, "perf", "record", "-F", "1999", "-g", "-p", strconv.Itoa(pid), "-o", data)
	if err := perf.Start(); err != nil {
		return err
	}
	time.Sleep(300 * time.Millisecond) // perf attaches
	runErr := during()
	_ = perf.Process.Signal(os.Interrupt)
	_ = perf.Wait()
	if runErr != nil {
		return runErr
	}
	return os.WriteFile(path, []byte("# "+title+"\n\n"+perfReport(ctx, data)), 0o644)
}

func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
