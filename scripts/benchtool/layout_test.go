//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wsca/wsca/relay"
)

func TestParseLayout(t *testing.T) {
	for _, tt := range []struct {
		in, backend string
		err         bool
	}{
		{"isolated", "0", false}, // the backend with the load generator
		{"shared", "1", false},   // the backend with the proxy
		{"", "", true},
		{"Isolated", "", true},
		{"both", "", true}, // scripts/bench expands both; benchtool runs one layout at a time
	} {
		l, err := parseLayout(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("parseLayout(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if err == nil && l.backendCPUs("1", "0") != tt.backend {
			t.Errorf("layout %s: backend on CPUs %q, want %q", l, l.backendCPUs("1", "0"), tt.backend)
		}
	}
}

func TestStatCPUTicks(t *testing.T) {
	// The command name may hold spaces and parentheses; utime and stime are fields 14 and 15.
	line := "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 567 0 0 20 0 9 0 100 0 0\n"
	u, s, err := statCPUTicks([]byte(line))
	if err != nil || u != 1234 || s != 567 {
		t.Errorf("statCPUTicks = %d, %d, %v; want 1234, 567", u, s, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 x 2"} {
		if _, _, err := statCPUTicks([]byte(bad)); err == nil {
			t.Errorf("statCPUTicks(%q): no error", bad)
		}
	}
}

// TestCPUTimeOfABusyChild checks the accounting against a real process that burns CPU in a shell loop (no
// children) and then sleeps: the reading must be well above zero and match the kernel's own figure for it.
func TestCPUTimeOfABusyChild(t *testing.T) {
	cmd := exec.Command("sh", "-c", `i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo done; sleep 5`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{name: "busy", cmd: cmd, done: make(chan struct{})}
	defer s.stop()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(out, buf); err != nil { // the loop is over
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	tick := clockTick()
	if tick <= 0 || tick > time.Second {
		t.Fatalf("clockTick = %s", tick)
	}
	times, err := s.cpuTime(tick)
	if err != nil {
		t.Fatal(err)
	}
	if got := times.total(); got < 5*tick || got > 30*time.Second {
		t.Errorf("cpuTime of a shell that counted to 400,000 = %s, want ≥ 5 ticks (%s)", got, 5*tick)
	}
	if times.user < times.sys {
		t.Errorf("a shell counting in a loop spent %s in user space and %s in the kernel: user and system swapped?", times.user, times.sys)
	}
	again, err := s.cpuTime(tick)
	if err != nil || again.total()-times.total() > 2*tick {
		t.Errorf("a sleeping process's CPU grew from %s to %s (%v)", times.total(), again.total(), err)
	}
}

func TestPerUnit(t *testing.T) {
	if got := perUnit(time.Second, 3*time.Second, 1000, time.Microsecond); got != 2000 {
		t.Errorf("2 s over 1000 messages = %v µs, want 2000", got)
	}
	if got := perUnit(0, 500*time.Millisecond, 250, time.Millisecond); got != 2 {
		t.Errorf("500 ms over 250 MB = %v ms, want 2", got)
	}
	for _, tt := range []struct {
		before, after time.Duration
		work          float64
	}{{0, time.Second, 0}, {2 * time.Second, time.Second, 10}} {
		if got := perUnit(tt.before, tt.after, tt.work, time.Microsecond); !missing(got) {
			t.Errorf("perUnit(%s, %s, %v) = %v, want not measured", tt.before, tt.after, tt.work, got)
		}
	}
}

func TestPerSessionKiB(t *testing.T) {
	got, err := perSessionKiB(50_000, 1_650_000, 100_000)
	if err != nil || got != 16 {
		t.Errorf("perSessionKiB = %v, %v; want 16", got, err)
	}
	if _, err := perSessionKiB(10, 20, 0); err == nil {
		t.Error("no sessions: no error")
	}
	if _, err := perSessionKiB(2000, 1000, 10); err == nil || !strings.Contains(err.Error(), "fell") {
		t.Errorf("RSS falling: error %v, want one saying so", err)
	}
	kib, err := rssKiB(os.Getpid())
	if err != nil || kib <= 0 {
		t.Errorf("rssKiB(self) = %d, %v", kib, err)
	}
}

func TestPlanSessionsNamesTheLimit(t *testing.T) {
	const gib = 1 << 20 // KiB
	ok := func(n int, root bool) (sessionPlan, error) {
		return planSessions(n, 32768, 60999, 20000, 1<<20, 1<<22, 20*gib, root)
	}
	p, err := ok(100_000, true)
	if err != nil {
		t.Fatalf("100,000 sessions as root: %v", err)
	}
	// 28,232 ports × 0.9 = 25,408 per address: 4 addresses each side; 2 descriptors per session in the relay.
	if p.backends != 4 || p.sources != 4 || p.relayFDs != 201_024 {
		t.Errorf("plan = %+v, want 4 backends, 4 sources, 201024 descriptors", p)
	}
	if p, err := ok(5000, false); err != nil || p.backends != 1 {
		t.Errorf("5,000 sessions, not root, hard limit 20,000: %+v, %v", p, err)
	}
	for _, tt := range []struct {
		name string
		err  func() error
		want string
	}{
		{"hard limit, no CAP_SYS_RESOURCE", func() error { _, err := ok(100_000, false); return err }, "at most 9488 sessions"},
		{"nr_open", func() error {
			_, err := planSessions(100_000, 32768, 60999, 20000, 100_000, 1<<22, 20*gib, true)
			return err
		}, "fs.nr_open"},
		{"file-max", func() error {
			_, err := planSessions(100_000, 32768, 60999, 1<<20, 1<<20, 300_000, 20*gib, true)
			return err
		}, "fs.file-max"},
		{"memory", func() error {
			_, err := planSessions(100_000, 32768, 60999, 1<<20, 1<<20, 1<<22, gib, true)
			return err
		}, "MemAvailable"},
		{"ports", func() error {
			_, err := planSessions(100_000, 40000, 40010, 1<<20, 1<<20, 1<<22, 20*gib, true)
			return err
		}, "ip_local_port_range"},
		{"none", func() error { _, err := ok(0, true); return err }, "at least one"},
	} {
		if err := tt.err(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.want)
		}
	}
}

func TestReadSessionLimits(t *testing.T) {
	lo, hi, hard, nrOpen, fileMax, avail, err := readSessionLimits()
	if err != nil {
		t.Fatal(err)
	}
	if lo <= 0 || hi < lo || hard <= 0 || nrOpen <= 0 || fileMax <= 0 || avail <= 0 {
		t.Errorf("limits: ports %d-%d, nofile hard %d, nr_open %d, file-max %d, MemAvailable %d KiB", lo, hi, hard, nrOpen, fileMax, avail)
	}
}

// TestRelayYAMLIsAValidConfig parses the sessions relay's configuration with the relay's own parser.
func TestRelayYAMLIsAValidConfig(t *testing.T) {
	dir := t.TempDir()
	pki := pkiFiles{serverCert: dir + "/relay.crt", serverKey: dir + "/relay.key", caBundle: dir + "/ca.crt", crl: dir + "/crl.pem"}
	y := relayYAML("127.0.0.1:9443", "127.0.0.1:9090", pki, []string{"127.0.0.2:8080", "127.0.0.3:8080", "127.0.0.4:8080"})
	cfg, err := relay.ParseConfig([]byte(y), dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if len(cfg.Routes) != 3 || cfg.MaxConnections != 0 || cfg.MetricsListen != "127.0.0.1:9090" {
		t.Errorf("routes %d, max_connections %d, metrics %q", len(cfg.Routes), cfg.MaxConnections, cfg.MetricsListen)
	}
	for k, want := range []string{"/", "/b1", "/b2"} {
		if cfg.Routes[k].Path != want || !strings.Contains(cfg.Routes[k].Backend, fmt.Sprintf("127.0.0.%d", k+2)) {
			t.Errorf("route %d = %+v, want %s to 127.0.0.%d", k, cfg.Routes[k], want, k+2)
		}
	}
}

// TestEchoFromSpreadSources serves the echo on two loopback addresses and reaches the second from 127.0.1.7:
// what the sessions workload relies on to have ports enough.
func TestEchoFromSpreadSources(t *testing.T) {
	var lns []net.Listener
	for _, a := range []string{"127.0.0.1:0", "127.0.0.2:0"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Skipf("loopback address %s: %v", a, err)
		}
		defer ln.Close()
		go func() { _ = serveEcho(ln, os.Stderr) }()
		lns = append(lns, ln)
	}
	raw, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 1, 7)}, Timeout: 5 * time.Second}).Dial("tcp", lns[1].Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if got := raw.LocalAddr().(*net.TCPAddr).IP.String(); got != "127.0.1.7" {
		t.Errorf("source address %s, want 127.0.1.7", got)
	}
	raw.Close()
	if err := runEcho([]string{"-listen", "127.0.0.1:1,10.0.0.1:2"}, os.Stderr); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a non-loopback address in -listen: %v", err)
	}
}

func TestMetricValue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# HELP relay_crl_entries x\nrelay_crl_entries_total 9\nrelay_crl_entries{ca=\"root\"} 1\nrelay_crl_entries{ca=\"int\"} 1e+06\n")
	}))
	defer srv.Close()
	if v, err := metricValue(srv.URL, "relay_crl_entries"); err != nil || v != 1e6 {
		t.Errorf("metricValue = %v, %v; want 1e6 (the largest series, not relay_crl_entries_total)", v, err)
	}
	if _, err := metricValue(srv.URL, "relay_active_sessions"); err == nil {
		t.Error("a missing series: no error")
	}
}

func TestCPUModelAndLayoutInReport(t *testing.T) {
	if m := cpuinfoModel(); m == "" {
		t.Error("cpuinfoModel: empty")
	}
	res := &Results{Mode: "quick", Reps: 1, Machine: Machine{Model: "AMD EPYC", Layouts: []string{
		layoutIsolated.describe("1", "0") + "; CPU AMD EPYC"}}}
	dir := t.TempDir()
	var out strings.Builder
	if err := writeReport(res, dir, &out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(dir + "/results.md")
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(dir + "/results.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"results.md": string(md), "results.json": string(js)} {
		if !strings.Contains(data, "layout isolated: the proxy alone on CPUs 1") || !strings.Contains(data, "AMD EPYC") {
			t.Errorf("%s does not name the layout and the CPU:\n%s", name, data)
		}
	}
}

// TestCapSysResourceMatchesTheKernel checks capSysResource against what the kernel allows: raising the hard
// RLIMIT_NOFILE by one succeeds exactly when the capability is held (tested in a child, so this process's limit
// stays as it was).
func TestCapSysResourceMatchesTheKernel(t *testing.T) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max >= 1<<20 {
		t.Skipf("hard RLIMIT_NOFILE %d: at fs.nr_open's default, raising it fails for another reason", rl.Max)
	}
	err := exec.Command("sh", "-c", fmt.Sprintf("ulimit -Hn %d", rl.Max+1)).Run()
	if got, want := capSysResource(), err == nil; got != want {
		t.Errorf("capSysResource = %v, but raising the hard limit in a child: %v", got, err)
	}
}

// TestWatchCutStalledIsNotCut: a session that stops answering (the peer reads and never writes back) until the
// limit is reported as not cut; one the peer closes is cut, at about the time it closed.
func TestWatchCutStalledIsNotCut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closeAfter := make(chan time.Duration, 2)
	go func() {
		for range 2 {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d := <-closeAfter
			go func() {
				defer c.Close()
				end := time.Now().Add(d)
				buf := make([]byte, 512)
				for time.Now().Before(end) {
					_ = c.SetReadDeadline(end)
					if _, err := c.Read(buf); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
						return
					}
				}
			}()
		}
	}()
	for _, tt := range []struct {
		serverCloses time.Duration
		wantCut      bool
	}{{5 * time.Second, false}, {300 * time.Millisecond, true}} {
		closeAfter <- tt.serverCloses
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		w := newWSConn(c, bufio.NewReader(c), true)
		d, cut := watchCut(w, time.Now(), time.Second)
		c.Close()
		if cut != tt.wantCut || (cut && (d < 250*time.Millisecond || d > 900*time.Millisecond)) {
			t.Errorf("server closes after %s: watchCut = %s, %v; want cut %v", tt.serverCloses, d, cut, tt.wantCut)
		}
	}
}
