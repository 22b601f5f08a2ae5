//go:build linux

package main

import (
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// sessionsResult is what measureSessions found.
type sessionsResult struct {
	perSessionKiB       float64
	rttAlone, rttLoaded RTTResult
	cut, crlReload      time.Duration // valid when cutOK, reloadOK
	crlCut              time.Duration // valid when crlCutOK
	cutOK, reloadOK     bool
	crlCutOK            bool
	open                time.Duration // to open every session
}

// measureSessions runs the sessions workload against wsca serve alone (once, after the repetitions of the peers)
// and adds its metrics to the results. It fails, naming the limit, before opening anything the machine cannot hold.
func (b *relayBench) measureSessions(n, crlN int) error {
	lo, hi, hard, nrOpen, fileMax, avail, err := readSessionLimits()
	if err != nil {
		return fmt.Errorf("reading the machine's limits: %w", err)
	}
	plan, err := planSessions(n, lo, hi, hard, nrOpen, fileMax, avail, capSysResource())
	if err != nil {
		return err
	}
	if err := raiseNofile(plan.relayFDs); err != nil {
		return err
	}
	dir, err := b.peerDir("sessions")
	if err != nil {
		return err
	}
	port, err := freeAddr()
	if err != nil {
		return err
	}
	_, p, _ := net.SplitHostPort(port)
	var backends []string
	for k := range plan.backends {
		backends = append(backends, fmt.Sprintf("127.0.0.%d:%s", k+2, p))
	}
	echo, err := startProcess("sessions-backend", dir, b.backendCPUs, b.self, "echo", "-listen", strings.Join(backends, ","))
	if err != nil {
		return err
	}
	defer echo.stop()
	if err := echo.waitListening(backends[len(backends)-1]); err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	metrics, err := freeAddr()
	if err != nil {
		return err
	}
	conf := filepath.Join(dir, "relay.yaml")
	if err := writeConf(conf, relayYAML(addr, metrics, b.pki, backends)); err != nil {
		return err
	}
	srv, err := startProcess("sessions-wsca", dir, b.peerCPUs, b.wsca, "serve", "--config", conf)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := srv.waitListening(addr); err != nil {
		return err
	}
	b.logf("sessions: %d sessions from %d source addresses over %d backend addresses (the relay needs %d descriptors; its max_connections: 0, unlimited, the default)",
		n, plan.sources, plan.backends, plan.relayFDs)
	r, err := b.runSessions(srv, plan, "http://"+metrics+"/metrics", crlN)
	if err != nil {
		return err
	}
	b.recordSessions(plan, r, crlN)
	return nil
}

func (b *relayBench) runSessions(srv *server, plan sessionPlan, metricsURL string, crlN int) (sessionsResult, error) {
	var r sessionsResult
	c := b.cfg
	var err error
	if r.rttAlone, err = runRTT(srv.addr, b.valid, c.rttConns, c.rttTrips, c.rttSize, 2*time.Minute, nil); err != nil {
		return r, fmt.Errorf("rtt with no sessions open: %w", err)
	}
	time.Sleep(300 * time.Millisecond)
	before, err := rssKiB(srv.cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	perAddr := (plan.n + plan.sources - 1) / plan.sources
	source := func(i int) net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(1+i/perAddr))} }
	path := func(i int) string { return sessionPath(i % plan.backends) }
	// Bounded: a generous 10 ms per session on top of a minute (about 17 minutes for 100,000).
	limit := time.Minute + time.Duration(plan.n)*10*time.Millisecond
	t0 := time.Now()
	ws, err := openSessions(srv.addr, b.valid, plan.n, 8, limit, path, source)
	if err != nil {
		return r, err
	}
	defer closeAll(ws)
	r.open = time.Since(t0)
	b.logf("sessions: %d open after %s", plan.n, r.open.Round(time.Second))
	time.Sleep(idleSettle) // the last sessions opened have parked

	after, err := rssKiB(srv.cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	if r.perSessionKiB, err = perSessionKiB(before, after, plan.n); err != nil {
		return r, err
	}
	if r.rttLoaded, err = runRTT(srv.addr, b.valid, c.rttConns, c.rttTrips, c.rttSize, 2*time.Minute, nil); err != nil {
		return r, fmt.Errorf("rtt with %d sessions open: %w", plan.n, err)
	}
	if r.cut, r.cutOK, err = b.sessionsCut(srv); err != nil {
		return r, err
	}
	if err := b.sessionsCRL(srv, metricsURL, crlN, &r); err != nil {
		return r, err
	}
	// Every idle session is still there: the cut and the reload touched only the revoked users.
	alive, err := active(metricsURL, plan.n)
	if err != nil {
		return r, err
	}
	b.logf("sessions: %.1f KiB each; rtt p50 %.2f → %.2f ms; cut %s; %d-entry CRL reload %s, its victim cut %s; %s",
		r.perSessionKiB, ms(r.rttAlone.P50), ms(r.rttLoaded.P50), okString(r.cut, r.cutOK), crlN, okString(r.crlReload, r.reloadOK),
		okString(r.crlCut, r.crlCutOK), alive)
	return r, nil
}

func okString(d time.Duration, ok bool) string {
	if !ok {
		return "NOT within the limit"
	}
	return fmt.Sprintf("%.0f ms", ms(d))
}

// active reports the relay's open sessions (relay_active_sessions) against those the workload holds.
func active(metricsURL string, want int) (string, error) {
	v, err := metricValue(metricsURL, "relay_active_sessions")
	if err != nil {
		return "", err
	}
	if int(v) < want {
		return "", fmt.Errorf("relay_active_sessions is %.0f after the cut and the reload, want ≥ %d: idle sessions were lost", v, want)
	}
	return fmt.Sprintf("%.0f sessions still open", v), nil
}

// sessionsCut opens a session as sessionsCutVictim, revokes it with wsca revoke + wsca crl, and times the cut.
func (b *relayBench) sessionsCut(srv *server) (time.Duration, bool, error) {
	w, err := b.victimSession(srv, sessionsCutVictim)
	if err != nil {
		return 0, false, err
	}
	defer w.c.Close()
	t0 := time.Now()
	if err := b.run(b.wscaCmd("revoke", sessionsCutVictim, "--reason", "keyCompromise")...); err != nil {
		return 0, false, err
	}
	if err := b.run(b.wscaCmd("crl")...); err != nil {
		return 0, false, err
	}
	d, ok := watchCut(w, t0, 10*time.Second)
	return d, ok, nil
}

func (b *relayBench) victimSession(srv *server, name string) (*wsConn, error) {
	conf, err := b.clientTLS(b.noCert, name)
	if err != nil {
		return nil, err
	}
	w, err := dialWS(srv.addr, "/", conf, dialTimeout)
	if err != nil {
		return nil, fmt.Errorf("%s session: %w", name, err)
	}
	_ = w.c.SetDeadline(time.Now().Add(dialTimeout))
	if err := echoOnce(w, []byte("before")); err != nil {
		w.c.Close()
		return nil, fmt.Errorf("%s session: %w", name, err)
	}
	return w, nil
}

// sessionsCRL replaces crl.pem (rename, as wsca crl does) with a crlN-entry CRL that revokes sessionsCRLVictim,
// and times until the relay reports the new CRL loaded (relay_crl_entries) and until the victim's session is cut.
func (b *relayBench) sessionsCRL(srv *server, metricsURL string, crlN int, r *sessionsResult) error {
	w, err := b.victimSession(srv, sessionsCRLVictim)
	if err != nil {
		return err
	}
	defer w.c.Close()
	certs, err := readCerts(filepath.Join(b.certs, sessionsCRLVictim+".crt"))
	if err != nil {
		return err
	}
	pass, err := os.ReadFile(b.pass)
	if err != nil {
		return err
	}
	tmp := b.pki.crl + ".big"
	number := new(big.Int).Lsh(big.NewInt(1), 40) // above every number wsca crl gave
	if err := bigCRL(b.pki.dir, []byte(strings.TrimRight(string(pass), "\r\n")), crlN, certs[0].SerialNumber, number, tmp, time.Now()); err != nil {
		return fmt.Errorf("building the %d-entry CRL: %w", crlN, err)
	}
	// The new CRL is recognised by its size: it must differ from the current one's.
	if cur, err := metricValue(metricsURL, "relay_crl_entries"); err != nil {
		return err
	} else if int(cur) == crlN {
		return fmt.Errorf("-sessions-crl %d: the relay's CRL has that many entries already; pick another size", crlN)
	}
	const limit = time.Minute
	t0 := time.Now()
	if err := os.Rename(tmp, b.pki.crl); err != nil {
		return err
	}
	for n := 0; n < 6000 && time.Since(t0) < limit; n++ {
		if v, err := metricValue(metricsURL, "relay_crl_entries"); err == nil && int(v) == crlN {
			r.crlReload, r.reloadOK = time.Since(t0), true
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.crlCut, r.crlCutOK = watchCut(w, t0, limit)
	return nil
}

// recordSessions adds the sessions workload's figures to the results, wsca alone, with the targets of issue 15.
func (b *relayBench) recordSessions(plan sessionPlan, r sessionsResult, crlN int) {
	w := fmt.Sprintf("sessions %d %s", plan.n, b.layout)
	val := func(d time.Duration, ok bool) float64 {
		if !ok {
			return notMeasured
		}
		return ms(d)
	}
	mem := newMetric(w, "relay memory per session", "KiB", true, "wsca")
	mem.add("wsca", r.perSessionKiB)
	mem.target(&Target{Text: "≤ 16 KiB", Kind: "max", Value: 16})
	cut := newMetric(w, "revoked session cut", "ms", true, "wsca")
	cut.add("wsca", val(r.cut, r.cutOK))
	cut.target(&Target{Text: "≤ 1 s", Kind: "max", Value: 1000})
	reload := newMetric(w, fmt.Sprintf("%d-entry CRL reload", crlN), "ms", true, "wsca")
	reload.add("wsca", val(r.crlReload, r.reloadOK))
	reload.target(&Target{Text: "≤ 1 s", Kind: "max", Value: 1000})
	crlCut := newMetric(w, fmt.Sprintf("cut by the %d-entry CRL", crlN), "ms", true, "wsca")
	crlCut.add("wsca", val(r.crlCut, r.crlCutOK))
	rtt := newMetric(w, "active rtt p50, % of no-idle", "%", true, "wsca")
	rtt.add("wsca", 100*float64(r.rttLoaded.P50)/float64(r.rttAlone.P50))
	rtt.target(&Target{Text: "≤ 110%", Kind: "max", Value: 110})
	mem.Notes = append(mem.Notes, fmt.Sprintf("VmRSS growth of wsca serve over %d idle WebSockets (opened in %s from %d source addresses 127.0.1.x, relayed to %d echo addresses 127.0.0.x); %s",
		plan.n, r.open.Round(time.Second), plan.sources, plan.backends, b.layout.describe(b.peerCPUs, b.otherCPUs)))
	rtt.Notes = append(rtt.Notes, fmt.Sprintf("p50 of %d connections × %d round trips of %d bytes with the sessions open (%.2f ms, %.0f msgs/s) against none open (%.2f ms, %.0f msgs/s)",
		b.cfg.rttConns, b.cfg.rttTrips, b.cfg.rttSize, ms(r.rttLoaded.P50), r.rttLoaded.MsgsPerSec, ms(r.rttAlone.P50), r.rttAlone.MsgsPerSec))
	reload.Notes = append(reload.Notes, "from the rename of crl.pem to relay_crl_entries reporting it (polled every 10 ms); the cut row: to the session it revokes failing")
	b.res.Metrics = append(b.res.Metrics, mem, cut, reload, crlCut, rtt)
}
