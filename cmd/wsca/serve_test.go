package main

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeSignals runs wsca serve as a child process: a client echoes through it, SIGHUP reloads without
// dropping the listener, and SIGTERM drains and exits 0.
func TestServeSignals(t *testing.T) {
	if testing.Short() {
		t.Skip("runs child processes; skipped with -short")
	}
	dir, pass := setupCA(t)
	work := filepath.Dir(dir)
	for _, args := range [][]string{
		{"issue", "relay", "--server", "--ip", "127.0.0.1", "--out", work, "--passphrase-file", pass},
		{"issue", "alice", "--out", work, "--passphrase-file", pass},
	} {
		if out, err := wscaRun(dir, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	serve := exec.Command(wscaExe(t), "serve", "--listen", "127.0.0.1:0", "--demo-backend",
		"--cert", filepath.Join(work, "relay.crt"), "--key", filepath.Join(work, "relay.key"))
	serve.Env = childEnv(dir)
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer serve.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	addrRE := regexp.MustCompile(`msg="relay listening" addr=(\S+)`)
	var addr string
	waitFor := func(what string, re *regexp.Regexp) []string {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("wsca serve exited before logging %s", what)
				}
				if m := re.FindStringSubmatch(l); m != nil {
					return m
				}
			case <-deadline:
				t.Fatalf("wsca serve did not log %s within 10s", what)
			}
		}
	}
	addr = waitFor("its address", addrRE)[1]

	client := func() (string, error) {
		out, err := wscaRun(dir, "client", "wss://"+addr+"/", "--cert", filepath.Join(work, "alice.crt"),
			"--key", filepath.Join(work, "alice.key"), "--ca", filepath.Join(dir, "ca.crt"), "--send", "ping")
		return string(out), err
	}
	if out, err := client(); err != nil || !strings.Contains(out, "< ping") {
		t.Fatalf("echo through the relay: %v\n%s", err, out)
	}
	serve.Process.Signal(syscall.SIGHUP)
	waitFor("the reload", regexp.MustCompile(`relay reloaded`))
	if out, err := client(); err != nil || !strings.Contains(out, "< ping") {
		t.Fatalf("echo after SIGHUP: %v\n%s", err, out)
	}
	serve.Process.Signal(syscall.SIGTERM)
	waitFor("the shutdown", regexp.MustCompile(`msg=stopped`))
	done := make(chan error, 1)
	go func() {
		for range lines {
		}
		done <- serve.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("wsca serve exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wsca serve did not exit after SIGTERM")
	}
}
