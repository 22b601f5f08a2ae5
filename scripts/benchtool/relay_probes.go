//go:build linux

package main

// The relay run's passes after the throughput workloads: idle memory, the live cut on revocation, and the
// profile of wsca serve.

import (
	"fmt"
	"path/filepath"
	"time"
)

// last is the value of peer's latest repetition in mt.
func last(mt *Metric, peer string) float64 {
	v := mt.Values[peer]
	if len(v) == 0 {
		return notMeasured
	}
	return v[len(v)-1]
}

func cutString(v float64) string {
	if missing(v) {
		return "not cut"
	}
	return fmt.Sprintf("%.0f ms", v)
}

// idleSettle is how long idle connections are left before their memory is read, in the idle and the sessions
// workloads: what an idle connection costs once settled. Every peer gets the same time; wsca serve parks an idle
// direction, ending its goroutine, after 1–2 s without data.
const idleSettle = 3 * time.Second

// idle opens the idle connections and returns the peer's memory growth per connection in KiB.
func (b *relayBench) idle(srv *server) (float64, error) {
	time.Sleep(300 * time.Millisecond) // let the previous workloads' connections close
	before, err := srv.memKiB()
	if err != nil {
		return 0, err
	}
	ws, err := openIdle(srv.addr, b.valid, b.cfg.idleN, b.cfg.idlePar, b.cfg.idleLimit)
	if err != nil {
		return 0, err
	}
	defer closeAll(ws)
	time.Sleep(idleSettle)
	after, err := srv.memKiB()
	if err != nil {
		return 0, err
	}
	return float64(after-before) / float64(len(ws)), nil
}

// revoke opens a session as this peer's victim, revokes the victim with wsca and publishes the CRL (then
// reloads the peer the way its admin would), and returns how long until the open session failed, in ms,
// or notMeasured if it was not cut within the limit. The direct peer has no reload: it is skipped.
func (b *relayBench) revoke(srv *server, name string, rep int) (float64, error) {
	if name == "direct" {
		return notMeasured, nil
	}
	victim := fmt.Sprintf("victim-%s-%d", name, rep)
	conf, err := b.clientTLS(b.noCert, victim)
	if err != nil {
		return 0, err
	}
	w, err := dialWS(srv.addr, "/", conf, dialTimeout)
	if err != nil {
		return 0, fmt.Errorf("victim session: %w", err)
	}
	defer w.c.Close()
	_ = w.c.SetDeadline(time.Now().Add(dialTimeout))
	if err := echoOnce(w, []byte("before")); err != nil {
		return 0, fmt.Errorf("victim session: %w", err)
	}
	t0 := time.Now()
	if err := b.run(b.wscaCmd("revoke", victim, "--reason", "keyCompromise")...); err != nil {
		return 0, err
	}
	if err := b.run(b.wscaCmd("crl")...); err != nil {
		return 0, err
	}
	if srv.reload != nil {
		if err := srv.reload(); err != nil {
			return 0, fmt.Errorf("reloading %s: %w", name, err)
		}
	}
	d, cut := watchCut(w, t0, b.cfg.revokeLimit)
	// The reload did take: a new session of the victim is refused.
	refused := false
	for range 20 {
		nw, err := dialWS(srv.addr, "/", conf, dialTimeout)
		if err != nil {
			refused = true
			break
		}
		_ = nw.c.SetDeadline(time.Now().Add(dialTimeout))
		err = echoOnce(nw, []byte("after"))
		nw.close()
		if err != nil {
			refused = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep == 0 {
		b.res.Notes = append(b.res.Notes, fmt.Sprintf("%s revoke: open session %s; new session of the revoked client refused after the CRL update: %v",
			name, map[bool]string{true: fmt.Sprintf("cut after %.0f ms", ms(d)), false: "NOT cut within " + b.cfg.revokeLimit.String()}[cut], refused))
	}
	if !refused {
		return 0, fmt.Errorf("%s still accepts a new session of the revoked client %s after the CRL update", name, victim)
	}
	if !cut {
		return notMeasured, nil
	}
	return ms(d), nil
}

// profileWsca runs the rtt and handshake workloads once more against wsca serve under perf, outside the
// measurements: the evidence docs/benchmarks.md cites for the relay targets.
func (b *relayBench) profileWsca(srv *server) {
	c := b.cfg
	runs := []struct {
		name string
		fn   func() error
	}{
		{"rtt", func() error {
			_, err := runRTT(srv.addr, b.valid, c.rttConns, c.rttTrips/2, c.rttSize, 2*time.Minute, nil)
			return err
		}},
		{"handshake", func() error {
			_, err := runHandshake(srv.addr, b.valid, c.hsWorkers, 3*time.Second)
			return err
		}},
	}
	for _, r := range runs {
		path := filepath.Join(b.out, "profile-relay-"+r.name+"-"+string(b.layout)+".txt")
		title := "wsca serve during " + r.name + " (perf -p, load from benchtool on CPUs " + cpuList() + ", layout " + string(b.layout) + ")"
		if err := profilePID(b.ctx, srv.cmd.Process.Pid, path, title, r.fn); err != nil {
			b.logf("profile relay %s: %v", r.name, err)
		}
	}
}
