//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// idlePolls: the publisher's CPU and memory with the given number of relays held in a long-poll, against the
// same publisher with none. The pollers are HTTP clients in this process (each its own connection), doing what
// `wsca serve --crl URL` does: GET /crl.pem?wait=60s with If-None-Match.
func (b *publishBench) idlePolls() error {
	pub, url, err := b.startPublish(b.cpus)
	if err != nil {
		return err
	}
	defer pub.stop()
	time.Sleep(time.Second)
	mem0, err := pub.memKiB()
	if err != nil {
		return err
	}
	cpu0, err := b.cpuOver(pub, b.cfg.idleWindow)
	if err != nil {
		return err
	}
	resp, err := http.Get(url + "/crl.pem")
	if err != nil {
		return err
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	ctx, cancel := context.WithCancel(b.ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range b.cfg.idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			for n := 0; n < 100 && ctx.Err() == nil; n++ {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/crl.pem?wait=60s", nil)
				req.Header.Set("If-None-Match", etag)
				r, err := tr.RoundTrip(req)
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, r.Body)
				r.Body.Close()
			}
		}()
	}
	if err := waitWaiting(url, b.cfg.idle, 30*time.Second); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	mem1, err := pub.memKiB()
	if err != nil {
		return err
	}
	cpu1, err := b.cpuOver(pub, b.cfg.idleWindow)
	if err != nil {
		return err
	}
	if n, err := waiting(url); err != nil || n != b.cfg.idle {
		return fmt.Errorf("after the window %d long-polls held (%v), want %d", n, err, b.cfg.idle)
	}
	per := float64(mem1-mem0) / float64(b.cfg.idle)
	fmt.Fprintf(&b.report, "### Publisher cost with %d long-polling relays idle\n\n"+
		"| | CPU (%% of one core, %v window) | memory (Pss) |\n|---|---|---|\n"+
		"| no relay waiting | %.2f %% | %.1f MiB |\n| %d relays waiting | %.2f %% | %.1f MiB |\n\n"+
		"Memory per waiting relay: **%.1f KiB**. CPU with the relays waiting: %s (target ≈ 0: the only work is "+
		"the 50 ms stat of the CA directory, which runs with or without relays).\n\n",
		b.cfg.idle, b.cfg.idleWindow, cpu0, mib(mem0), b.cfg.idle, cpu1, mib(mem1), per, verdict(cpu1 < 1))
	b.logf("publish: idle %d: cpu %.2f%% (none: %.2f%%), %.1f KiB per relay", b.cfg.idle, cpu1, cpu0, per)
	return nil
}

// cpuOver returns the CPU the server's processes used during d, in percent of one core.
func (b *publishBench) cpuOver(s *server, d time.Duration) (float64, error) {
	t0, err := cpuTicks(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	time.Sleep(d)
	t1, err := cpuTicks(s.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	return float64(t1-t0) / 100 / d.Seconds() * 100, nil // USER_HZ is 100 on Linux
}

// cpuTicks is utime + stime of pid (taskset execs the server: same pid), from /proc/PID/stat, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	u, s, err := cpuTicksSplit(pid)
	return u + s, err
}

// cpuTicksSplit is utime and stime of pid, from /proc/PID/stat, in clock ticks (USER_HZ, 100 on Linux).
func cpuTicksSplit(pid int) (user, sys int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, errors.New("short /proc stat")
	}
	user, _ = strconv.ParseInt(f[11], 10, 64)
	sys, _ = strconv.ParseInt(f[12], 10, 64)
	return user, sys, nil
}
