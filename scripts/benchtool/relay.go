//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// relayConfig sizes the relay workloads (issue #5); quick mode keeps them to a few seconds per peer.
type relayConfig struct {
	reps                int
	rttConns, rttTrips  int
	rttSize             int
	hsWorkers           int
	hsDur               time.Duration
	bulkConns, bulkSize int
	bulkDur             time.Duration
	idleN, idlePar      int
	idleLimit           time.Duration
	revokeLimit         time.Duration
	crlEntries          int
}

func relayDefaults(quick bool) relayConfig {
	if quick {
		return relayConfig{reps: 3, rttConns: 50, rttTrips: 100, rttSize: 128, hsWorkers: 4, hsDur: 1500 * time.Millisecond,
			bulkConns: 2, bulkSize: 1 << 20, bulkDur: 1500 * time.Millisecond, idleN: 300, idlePar: 8, idleLimit: 60 * time.Second,
			revokeLimit: 1500 * time.Millisecond, crlEntries: 10_000}
	}
	return relayConfig{reps: 3, rttConns: 50, rttTrips: 2000, rttSize: 128, hsWorkers: 4, hsDur: 10 * time.Second,
		bulkConns: 4, bulkSize: 1 << 20, bulkDur: 10 * time.Second, idleN: 9000, idlePar: 8, idleLimit: 5 * time.Minute,
		revokeLimit: 5 * time.Second, crlEntries: 10_000}
}

// relayBench holds the state of one relay run.
type relayBench struct {
	cfg      relayConfig
	wsca     string
	self     string
	work     string
	pass     string
	peerCPUs string
	// backendCPUs is where the echo backend runs: with the load generator (layout isolated) or with the peer (shared).
	backendCPUs string
	layout      layout
	otherCPUs   string        // the load generator's
	tick        time.Duration // /proc clock tick, for the peers' CPU time
	pki         pkiFiles
	certs       string // client certificates
	valid       *tls.Config
	noCert      *tls.Config
	revoked     *tls.Config
	log         io.Writer
	res         *Results
	ctx         context.Context
	cleanup     []string
	peerN       int
	out         string
	// doProfile adds, for wsca in the first repetition, an rtt and a handshake run under perf (profile-relay-*.txt).
	doProfile bool
}

// relayPeerNames are the peers in the order of the first repetition; wsca first, the subject of every ratio.
var relayPeerNames = []string{"wsca", "direct", "nginx", "haproxy", "apache"}

func relayStarter(name string) peerStarter {
	return map[string]peerStarter{"wsca": startWsca, "direct": startDirect, "nginx": startNginx,
		"haproxy": startHAProxy, "apache": startApache}[name]
}

func runRelay(args []string, stdout, stderr io.Writer) error {
	o, err := parseRelayFlags(args)
	if err != nil {
		return err
	}
	l, err := parseLayout(o.layout)
	if err != nil {
		return err
	}
	if o.sessions < 0 || o.sessionsCRL < 1 {
		return errors.New("-sessions must be ≥ 0 and -sessions-crl ≥ 1")
	}
	if o.other == "" {
		o.other = cpuList()
	}
	cfg := relayDefaults(o.quick)
	if o.reps > 0 {
		cfg.reps = o.reps
	}
	if o.idle > 0 {
		cfg.idleN = o.idle
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	names, err := parsePeers(o.peers)
	if err != nil {
		return err
	}
	res := relayResults(o, cfg)
	b := &relayBench{cfg: cfg, wsca: o.wsca, self: self, work: filepath.Join(o.work, "relay-"+string(l)), peerCPUs: o.cpus,
		backendCPUs: l.backendCPUs(o.cpus, o.other), otherCPUs: o.other, layout: l, tick: clockTick(),
		log: stderr, res: res, ctx: context.Background(), out: o.out, doProfile: o.profile}
	defer func() {
		for _, d := range b.cleanup {
			os.RemoveAll(d)
		}
	}()
	start := time.Now()
	if err := b.setup(); err != nil {
		return fmt.Errorf("relay setup: %w", err)
	}
	b.res.Machine.Versions = mergeVersions(b.res.Machine.Versions, peerVersions(b.ctx, o.wsca))
	b.res.Notes = append(b.res.Notes, fmt.Sprintf("relay, %s (benchtool runs on CPUs %s)", l.describe(b.peerCPUs, o.other), cpuList()))
	b.res.Machine.Layouts = append(b.res.Machine.Layouts, fmt.Sprintf("%s; CPU %s; load average at its start: %s (the machine may be shared: compare ratios within one run)",
		l.describe(b.peerCPUs, o.other), b.res.Machine.Model, loadAvg()))
	if err := b.measure(names); err != nil {
		return err
	}
	var sessErr error
	if o.sessions > 0 {
		// A machine that cannot hold the sessions fails this workload, named in the report, not the peers' figures.
		if sessErr = b.measureSessions(o.sessions, o.sessionsCRL); sessErr != nil {
			sessErr = fmt.Errorf("sessions workload (%d sessions): %w", o.sessions, sessErr)
			b.res.Notes = append(b.res.Notes, "FAILED: "+sessErr.Error())
		}
	}
	b.res.Seconds += time.Since(start).Seconds()
	return errors.Join(writeReport(b.res, o.out, stdout), sessErr)
}

// measureRTTHandshake runs the rtt and the handshake workloads against one started peer and records them in m.
func (b *relayBench) measureRTTHandshake(m relayMetrics, meter *cpuMeter, addr string) (RTTResult, HandshakeResult, error) {
	c, name := b.cfg, meter.name
	var openErr error
	r, err := runRTT(addr, b.valid, c.rttConns, c.rttTrips, c.rttSize, 2*time.Minute, func() { openErr = meter.reset() })
	if err = errors.Join(err, openErr); err != nil {
		return r, HandshakeResult{}, err
	}
	m.rtt.add(name, r.MsgsPerSec)
	m.p50.add(name, ms(r.P50))
	m.p99.add(name, ms(r.P99))
	if err := errors.Join(meter.charge(m.rttCPU, m.rttSys, float64(c.rttConns*c.rttTrips), time.Microsecond),
		meter.chargeLoad(m.rttLoad)); err != nil {
		return r, HandshakeResult{}, err
	}
	hs, err := runHandshake(addr, b.valid, c.hsWorkers, c.hsDur)
	if err != nil {
		return r, hs, err
	}
	m.hs.add(name, hs.PerSec)
	m.hsP99.add(name, ms(hs.P99))
	err = errors.Join(meter.charge(m.hsCPU, nil, float64(hs.Count+hs.Errors), time.Microsecond), meter.chargeLoad(m.hsLoad))
	return r, hs, err
}

// cpuMeter charges a peer's CPU per unit of work, and notes how busy the load generator's cores were, between
// one reading and the next: near 100% busy, a rate is the generator's (and, in layout isolated, the echo
// backend's, which shares those cores), not the proxy's.
type cpuMeter struct {
	b    *relayBench
	srv  *server
	name string
	cpu  cpuTimes
	cpus map[int]bool // the load generator's CPUs
	load coreTicks
}

func (b *relayBench) newMeter(srv *server, name string) (*cpuMeter, error) {
	cpus, err := parseCPUList(b.otherCPUs)
	if err != nil {
		return nil, err
	}
	mt := &cpuMeter{b: b, srv: srv, name: name, cpus: cpus}
	return mt, mt.reset()
}

// reset starts a new reading: the next charge counts from here.
func (mt *cpuMeter) reset() error {
	cpu, err := mt.srv.cpuTime(mt.b.tick)
	if err != nil {
		return err
	}
	load, err := readCoreTicks(mt.cpus)
	if err != nil {
		return err
	}
	mt.cpu, mt.load = cpu, load
	return nil
}

// charge adds to m the peer's CPU since the last reading per unit of work — and to sys, when not nil, the kernel's
// share of it — and starts the next CPU reading.
func (mt *cpuMeter) charge(m, sys *Metric, work float64, unit time.Duration) error {
	now, err := mt.srv.cpuTime(mt.b.tick)
	if err != nil {
		return err
	}
	m.add(mt.name, perUnit(mt.cpu.total(), now.total(), work, unit))
	if sys != nil {
		sys.add(mt.name, perUnit(mt.cpu.sys, now.sys, work, unit))
	}
	mt.cpu = now
	return nil
}

// chargeLoad adds to m how busy the load generator's cores were since the last reading, and starts the next one.
func (mt *cpuMeter) chargeLoad(m *Metric) error {
	now, err := readCoreTicks(mt.cpus)
	if err != nil {
		return err
	}
	m.add(mt.name, busyPercent(mt.load, now))
	mt.load = now
	return nil
}

// relayOptions are the flags of `benchtool relay`.
type relayOptions struct {
	wsca, out, work       string
	peers, cpus, other    string
	layout                string
	quick, profile        bool
	reps, idle            int
	sessions, sessionsCRL int
}

// parseRelayFlags parses the flags of `benchtool relay`. It returns the flag package's error (usage on
// stderr) or an error if -wsca, -out or -work is missing; the other values are checked by runRelay.
func parseRelayFlags(args []string) (relayOptions, error) {
	var o relayOptions
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.StringVar(&o.wsca, "wsca", "", "wsca binary (with wsca serve)")
	fs.StringVar(&o.out, "out", "", "results directory (results.json there is extended)")
	fs.StringVar(&o.work, "work", "", "scratch directory")
	fs.BoolVar(&o.quick, "quick", false, "small sizes")
	fs.IntVar(&o.reps, "reps", 0, "repetitions (default 3)")
	fs.StringVar(&o.peers, "peers", strings.Join(relayPeerNames, ","), "peers to measure (wsca is always first)")
	fs.StringVar(&o.cpus, "peer-cpus", "1", "CPU list the peer (and, in layout shared, the echo backend) is pinned to; benchtool's own affinity is the load generator's")
	fs.IntVar(&o.idle, "idle", 0, "idle connections (default 9,000; quick 300)")
	fs.BoolVar(&o.profile, "profile", false, "profile wsca serve with perf during an extra rtt and handshake run")
	fs.StringVar(&o.layout, "layout", string(layoutShared), "isolated (the peer alone on -peer-cpus, the echo backend with the load generator on -other-cpus) or shared (the backend on -peer-cpus too)")
	fs.StringVar(&o.other, "other-cpus", "", "the load generator's CPU list (default: benchtool's own affinity)")
	fs.IntVar(&o.sessions, "sessions", 0, "concurrent idle WebSocket sessions through one wsca serve, after the peers (0: skip)")
	fs.IntVar(&o.sessionsCRL, "sessions-crl", 1_000_000, "entries of the CRL reloaded while the sessions are open")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.wsca == "" || o.out == "" || o.work == "" {
		return o, errors.New("-wsca, -out and -work are required")
	}
	return o, nil
}

// relayResults returns the results.json in o.out to extend, or, when there is none (or it does not
// load), new results for this mode with the machine described.
func relayResults(o relayOptions, cfg relayConfig) *Results {
	res, err := loadResults(filepath.Join(o.out, "results.json"))
	if err != nil {
		mode := "full"
		if o.quick {
			mode = "quick"
		}
		res = &Results{Mode: mode, Reps: cfg.reps, Started: time.Now().UTC().Format(time.RFC3339)}
		res.Machine = describeMachine(context.Background(), o.wsca)
	}
	return res
}

// parsePeers turns -peers into the peers to measure, wsca first.
func parsePeers(list string) ([]string, error) {
	names := []string{"wsca"}
	for _, p := range strings.Split(list, ",") {
		p = strings.TrimSpace(p)
		if p == "" || p == "wsca" {
			continue
		}
		if relayStarter(p) == nil {
			return nil, fmt.Errorf("-peers: unknown peer %q (known: %s)", p, strings.Join(relayPeerNames, ", "))
		}
		names = append(names, p)
	}
	return names, nil
}

// cpuList is this process's CPU affinity, from /proc/self/status.
func cpuList() string {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func mergeVersions(a, b map[string]string) map[string]string {
	if a == nil {
		a = map[string]string{}
	}
	for k, v := range b {
		a[k] = v
	}
	return a
}

// peerVersions records the exact versions of the relay peers.
func peerVersions(ctx context.Context, wsca string) map[string]string {
	v := map[string]string{}
	get := func(name string, args ...string) {
		r, err := meter{}.measure(ctx, Cmd{Args: args, Timeout: 10 * time.Second})
		if err == nil {
			out := strings.TrimSpace(string(r.Stdout))
			if out == "" {
				out = "(version on stderr)"
			}
			v[name] = strings.SplitN(out, "\n", 2)[0]
		}
	}
	get("haproxy", "haproxy", "-v")
	get("apache", "apache2", "-v")
	// nginx prints its version on stderr.
	if out, err := runCombined(ctx, "nginx", "-v"); err == nil {
		v["nginx"] = strings.TrimSpace(out)
	}
	return v
}

func (b *relayBench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *relayBench) wscaCmd(args ...string) []string {
	return append([]string{b.wsca, "--dir", b.pki.dir, "--passphrase-file", b.pass}, args...)
}

func (b *relayBench) run(args ...string) error {
	_, err := output(b.ctx, b.work, args...)
	return err
}

func (b *relayBench) peerDir(name string) (string, error) {
	b.peerN++
	dir := filepath.Join(b.work, fmt.Sprintf("%s-%d", name, b.peerN))
	return dir, os.MkdirAll(dir, 0o700)
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// measure runs every workload against every peer, repetition after repetition, the order of the peers
// rotating between repetitions (A B C, B C A, …), with the peer and the echo backend pinned to peerCPUs
// and the load generated here.
func (b *relayBench) measure(names []string) error {
	backendAddr, err := freeAddr()
	if err != nil {
		return err
	}
	backend, err := startProcess("backend", b.work, b.backendCPUs, b.self, "echo", "-listen", backendAddr)
	if err != nil {
		return err
	}
	defer backend.stop()
	if err := backend.waitListening(backendAddr); err != nil {
		return err
	}
	m := newRelayMetrics(b.layout, names)
	b.res.Metrics = append(b.res.Metrics, m.all()...)
	for rep := range b.cfg.reps {
		for k := range names {
			name := names[(k+rep)%len(names)]
			if err := b.measurePeer(m, name, rep, backendAddr); err != nil {
				return fmt.Errorf("%s, repetition %d: %w", name, rep+1, err)
			}
		}
	}
	for _, mt := range m.all() {
		for _, p := range mt.Peers {
			for len(mt.Values[p]) < b.cfg.reps {
				mt.add(p, notMeasured)
			}
		}
	}
	c := b.cfg
	m.rtt.Notes = append(m.rtt.Notes, fmt.Sprintf("%d connections × %d echo round trips of %d bytes, all at once", c.rttConns, c.rttTrips, c.rttSize))
	m.hs.Notes = append(m.hs.Notes, fmt.Sprintf("%d workers opening TCP + full TLS 1.3 handshake with client certificate (no resumption) + WebSocket upgrade, back to back for %s", c.hsWorkers, c.hsDur))
	m.bulk.Notes = append(m.bulk.Notes, fmt.Sprintf("%d connections streaming %d-byte messages both ways for %s", c.bulkConns, c.bulkSize, c.bulkDur))
	cpuNote := fmt.Sprintf("utime+stime of all the peer's processes (/proc/PID/stat, %s ticks), divided by the work; %s", b.tick, b.layout.describe(b.peerCPUs, b.otherCPUs))
	m.rttCPU.Notes = append(m.rttCPU.Notes, cpuNote+"; counted over the round trips only (from the moment every connection is open); one round trip is two relayed messages (there and back)")
	m.hsCPU.Notes = append(m.hsCPU.Notes, cpuNote+"; counted over the whole workload, failed handshakes included in the count")
	m.bulkCPU.Notes = append(m.bulkCPU.Notes, cpuNote+"; counted over the whole workload (its dials included); each MB echoed crosses the proxy twice (once each way)")
	m.idle.Notes = append(m.idle.Notes, fmt.Sprintf("%d open WebSockets: growth of the summed Pss (/proc/PID/smaps_rollup) of all the peer's processes, per connection; the echo backend is not counted", c.idleN))
	m.cut.Notes = append(m.cut.Notes, "time from `wsca revoke` + `wsca crl` (plus the peer's reload: nginx -s reload, HAProxy SIGUSR2, apache2 -k graceful) to the open session failing; – = not cut within "+c.revokeLimit.String())
	return nil
}

func (b *relayBench) measurePeer(m relayMetrics, name string, rep int, backend string) error {
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	srv, err := relayStarter(name)(b, addr, backend)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := checkPeer(addr, b.valid, b.noCert, b.revoked); err != nil {
		return fmt.Errorf("correctness pre-check: %w", err)
	}
	if rep == 0 {
		b.res.Notes = append(b.res.Notes, name+": pre-check passed (valid client relayed; no certificate and revoked client refused)")
	}
	c := b.cfg
	meter, err := b.newMeter(srv, name)
	if err != nil {
		return err
	}
	r, hs, err := b.measureRTTHandshake(m, meter, addr)
	if err != nil {
		return err
	}
	mbps, err := runBulk(addr, b.valid, c.bulkConns, c.bulkSize, c.bulkDur)
	if err != nil {
		return err
	}
	m.bulk.add(name, mbps)
	if err := meter.charge(m.bulkCPU, nil, mbps*c.bulkDur.Seconds(), time.Millisecond); err != nil {
		return err
	}
	perConn, err := b.idle(srv)
	if err != nil {
		return err
	}
	m.idle.add(name, perConn)
	cut, err := b.revoke(srv, name, rep)
	if err != nil {
		return err
	}
	m.cut.add(name, cut)
	if name == "wsca" && rep == 0 && b.doProfile {
		b.profileWsca(srv)
	}
	b.logf("relay %s %s rep %d: rtt %.0f msg/s (p99 %.2f ms, %.1f µs CPU each, load cores %.0f%% busy), handshake %.0f/s (%.0f µs CPU each, load cores %.0f%%), bulk %.0f MB/s (%.2f ms CPU/MB), idle %.1f KiB/conn, revoke %s",
		name, b.layout, rep+1, r.MsgsPerSec, ms(r.P99), last(m.rttCPU, name), last(m.rttLoad, name), hs.PerSec,
		last(m.hsCPU, name), last(m.hsLoad, name), mbps, last(m.bulkCPU, name), perConn, cutString(cut))
	return nil
}
