//go:build linux

package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// The sessions workload of issue 15: N concurrent idle WebSocket sessions through one wsca serve, on loopback,
// and with all of them open the relay's memory per session, the cut of one revoked user's session, the reload
// of a large CRL, and the round-trip time of active sessions against the same figure with none open.

// Victims of the sessions workload, issued in setup.
const (
	sessionsCutVictim = "sessions-cut"
	sessionsCRLVictim = "sessions-crl"
)

// sessionPlan is what N sessions need of the machine.
type sessionPlan struct {
	n        int
	backends int   // echo backend addresses (127.0.0.2, .3, …): the relay dials each from 127.0.0.1
	sources  int   // client source addresses (127.0.1.1, .2, …)
	relayFDs int64 // the relay holds 2 descriptors per session (client and backend side)
}

// sessionKiBEstimate bounds the memory one session costs all three processes together (client TLS state
// and buffers, relay, echo backend), to refuse a run the machine's RAM cannot hold before it swaps or is killed.
const sessionKiBEstimate = 96

// planSessions checks n sessions against the limits that bind on loopback and says which one hits: ephemeral
// ports (one connection per port per source/destination address pair: ip_local_port_range), descriptors
// (RLIMIT_NOFILE, whose hard limit only a process with CAP_SYS_RESOURCE raises, up to fs.nr_open; fs.file-max
// for the whole system) and memory.
func planSessions(n, portLo, portHi int, nofileHard, nrOpen, fileMax, memAvailKiB int64, canRaise bool) (sessionPlan, error) {
	if n <= 0 {
		return sessionPlan{}, errors.New("-sessions: need at least one session")
	}
	perAddr := (portHi - portLo + 1) * 9 / 10 // headroom for other connections on the machine
	if perAddr < 1 {
		return sessionPlan{}, fmt.Errorf("net.ipv4.ip_local_port_range %d %d leaves no ephemeral ports", portLo, portHi)
	}
	p := sessionPlan{n: n, backends: (n + perAddr - 1) / perAddr, sources: (n + perAddr - 1) / perAddr,
		relayFDs: 2*int64(n) + 1024}
	if p.backends > 200 {
		return p, fmt.Errorf("%d sessions need %d backend addresses of %d ephemeral ports each (net.ipv4.ip_local_port_range %d %d): too many",
			n, p.backends, perAddr, portLo, portHi)
	}
	switch {
	case p.relayFDs > nofileHard && !canRaise:
		return p, fmt.Errorf("RLIMIT_NOFILE: the relay needs %d file descriptors (2 per session + 1024), the hard limit is %d and this process cannot raise it (no CAP_SYS_RESOURCE: not root, or a container without it): raise it outside (ulimit -Hn, LimitNOFILE=, docker --ulimit nofile=) or run at most %d sessions",
			p.relayFDs, nofileHard, max(0, (nofileHard-1024)/2))
	case p.relayFDs > nrOpen:
		return p, fmt.Errorf("fs.nr_open is %d: the relay needs %d file descriptors (2 per session + 1024): sysctl -w fs.nr_open=%d",
			nrOpen, p.relayFDs, p.relayFDs)
	}
	if total := 4*int64(n) + 10_000; total > fileMax {
		return p, fmt.Errorf("fs.file-max is %d: %d sessions hold %d descriptors in all (client, relay ×2, backend): sysctl -w fs.file-max=%d",
			fileMax, n, total, total)
	}
	if need := int64(n) * sessionKiBEstimate; need > memAvailKiB {
		return p, fmt.Errorf("MemAvailable is %d MiB: %d sessions need about %d MiB (≈%d KiB each for client, relay and backend together)",
			memAvailKiB>>10, n, need>>10, sessionKiBEstimate)
	}
	return p, nil
}

// readSessionLimits reads the machine's figures for planSessions from /proc and getrlimit.
func readSessionLimits() (portLo, portHi int, nofileHard, nrOpen, fileMax, memAvail int64, err error) {
	num := func(path string) []int64 {
		data, e := os.ReadFile(path)
		if e != nil {
			err = errors.Join(err, e)
			return []int64{0, 0}
		}
		var out []int64
		for _, f := range strings.Fields(string(data)) {
			v, e := strconv.ParseInt(f, 10, 64)
			if e != nil {
				err = errors.Join(err, fmt.Errorf("%s: %w", path, e))
			}
			out = append(out, v)
		}
		return append(out, 0, 0)
	}
	ports := num("/proc/sys/net/ipv4/ip_local_port_range")
	portLo, portHi = int(ports[0]), int(ports[1])
	nrOpen = num("/proc/sys/fs/nr_open")[0]
	fileMax = num("/proc/sys/fs/file-max")[0]
	memAvail, e := procKiB("/proc/meminfo", "MemAvailable")
	err = errors.Join(err, e)
	var rl syscall.Rlimit
	err = errors.Join(err, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	return portLo, portHi, int64(rl.Max), nrOpen, fileMax, memAvail, err
}

// procKiB reads "field: N kB" from a /proc file.
func procKiB(path, field string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, field)
}

// capSysResource tells whether this process holds CAP_SYS_RESOURCE (bit 24 of CapEff): what raising a hard
// RLIMIT_NOFILE takes. Root in a container often lacks it.
func capSysResource() bool {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && caps&(1<<24) != 0
		}
	}
	return false
}

// raiseNofile raises this process's RLIMIT_NOFILE (soft, and hard when root) to at least need; the relay and
// the echo backend started afterwards inherit it. An explicit setrlimit also stops Go from restoring the
// original soft limit in the children it starts.
func raiseNofile(need int64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	if int64(rl.Cur) >= need {
		return nil
	}
	rl.Cur = uint64(need)
	rl.Max = max(rl.Max, rl.Cur)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("raising RLIMIT_NOFILE to %d: %w", need, err)
	}
	return nil
}

// relayYAML is the sessions relay's configuration: route "/" to the first backend address and "/bK" to the
// K-th, so that the relay's own connections to the backend spread over as many destination addresses.
func relayYAML(listen, metrics string, pki pkiFiles, backends []string) string {
	var c strings.Builder
	fmt.Fprintf(&c, "listen: %s\ntls: {cert: %s, key: %s}\nclient_ca: %s\ncrl: %s\nmetrics_listen: %s\nroutes:\n",
		listen, pki.serverCert, pki.serverKey, pki.caBundle, pki.crl, metrics)
	for k, be := range backends {
		fmt.Fprintf(&c, "  - {path: %s, backend: \"ws://%s\"}\n", sessionPath(k), be)
	}
	return c.String()
}

func sessionPath(k int) string {
	if k == 0 {
		return "/"
	}
	return "/b" + strconv.Itoa(k)
}

// metricValue returns the largest value of the Prometheus series name at url (all label sets), or an error.
func metricValue(url, name string) (float64, error) {
	cl := http.Client{Timeout: 5 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	found, best := false, 0.0
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 1<<20))
	for sc.Scan() {
		l := sc.Text()
		if !strings.HasPrefix(l, name) || (len(l) > len(name) && l[len(name)] != ' ' && l[len(name)] != '{') {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil && (!found || v > best) {
			found, best = true, v
		}
	}
	if !found {
		return 0, fmt.Errorf("%s: no %s", url, name)
	}
	return best, nil
}

// openSessions opens n WebSockets, parallel at a time, session i to path(i) from source(i), each checked with
// one small echo; all of them or an error within limit.
func openSessions(addr string, conf *tls.Config, n, parallel int, limit time.Duration, path func(int) string, source func(int) net.Addr) ([]*wsConn, error) {
	out := make([]*wsConn, n)
	errs := make([]error, parallel)
	var wg sync.WaitGroup
	end := time.Now().Add(limit)
	for p := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += parallel {
				if time.Now().After(end) {
					errs[p] = fmt.Errorf("only part of %d sessions opened within %s", n, limit)
					return
				}
				w, err := dialWSFrom(source(i), addr, path(i), conf, dialTimeout)
				if err == nil {
					_ = w.c.SetDeadline(time.Now().Add(dialTimeout))
					if err = echoOnce(w, []byte("idle")); err != nil {
						w.c.Close()
					}
					_ = w.c.SetDeadline(time.Time{})
				}
				if err != nil {
					errs[p] = fmt.Errorf("session %d: %w", i, err)
					return
				}
				out[i] = w
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		closeAll(out)
		return nil, err
	}
	return out, nil
}

// bigCRL writes to out a crl.pem like wsca crl's, its intermediate CRL holding n entries, the last of them
// victim's serial, numbered number (above every CRL the relay has seen: it refuses a rollback).
func bigCRL(pkiDir string, pass []byte, n int, victim *big.Int, number *big.Int, out string, now time.Time) error {
	certs, err := readCerts(filepath.Join(pkiDir, "intermediate.crt"))
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(filepath.Join(pkiDir, "intermediate.key"))
	if err != nil {
		return err
	}
	key, err := ca.ParseKey(keyPEM, pass)
	if err != nil {
		return fmt.Errorf("opening the intermediate key: %w", err)
	}
	all := func(yield func(crl.Entry) bool) {
		for e := range entries(n-1, now.Add(-time.Hour)) {
			if !yield(e) {
				return
			}
		}
		yield(crl.Entry{Serial: victim, RevokedAt: now.Add(-time.Minute), Reason: 1})
	}
	der, err := crl.Build(crl.Template{Number: number, ThisUpdate: now, NextUpdate: now.Add(7 * 24 * time.Hour),
		Issuer: certs[0], Signer: key}, all)
	if err != nil {
		return err
	}
	rootCRL, err := os.ReadFile(filepath.Join(pkiDir, "root-crl.pem"))
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(crl.EncodePEM(der), rootCRL...), 0o644)
}

func readCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ca.ParseCertificates(data)
}
