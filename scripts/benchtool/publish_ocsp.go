//go:build linux

package main

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/wsca/wsca/ca"
)

// ocspResult is one OCSP load run against one responder.
type ocspResult struct {
	rps      float64
	p50, p99 time.Duration
	n        int // answered requests
	errors   int
	// cpuPer is the responder process's user + system CPU per answered request (/proc/PID/stat over the
	// run); load is the load generator's (benchtool's own) CPU over the run, in percent of one core.
	cpuPer time.Duration
	sysPer time.Duration // the kernel's share of cpuPer (system time)
	load   float64
}

// ocspCase is one row of the OCSP table: a request kind and a client count, with every repetition of each
// responder ("wsca", "openssl" and the floor, publish_floor.go); index i of each ran back to back.
type ocspCase struct {
	kind string
	conc int
	runs map[string][]ocspResult
}

// floorName is the floor responder for a request kind: with a nonce it signs every answer.
func floorName(kind string) string {
	if kind == "nonce" {
		return "floor+sign"
	}
	return "floor"
}

// ocspTarget is issue #10's target: ≥ 10× openssl's responses/s with a p99 ≤ 2 ms.
const ocspTargetRatio, ocspTargetP99 = 10, 2 * time.Millisecond

// ocspRequests has `openssl ocsp` write two requests for alice's status, issued by inter: one without a
// nonce and one with. It returns their paths keyed "no nonce" and "nonce", or openssl's error.
func (b *publishBench) ocspRequests(inter string) (map[string]string, error) {
	alice := filepath.Join(b.certs, "alice.crt")
	reqs := map[string]string{"no nonce": filepath.Join(b.work, "req.der"), "nonce": filepath.Join(b.work, "req-nonce.der")}
	if _, err := output(b.ctx, b.work, "openssl", "ocsp", "-issuer", inter, "-cert", alice, "-no_nonce", "-reqout", reqs["no nonce"]); err != nil {
		return nil, err
	}
	if _, err := output(b.ctx, b.work, "openssl", "ocsp", "-issuer", inter, "-cert", alice, "-reqout", reqs["nonce"]); err != nil {
		return nil, err
	}
	return reqs, nil
}

// ocsp: responses/s, latency and CPU per response of `wsca publish` against `openssl ocsp -index … -port …`
// (what an Apache admin would run), same CA, same delegated signer, both pinned to the same CPUs, the same
// Go client load, repeated with the two responders interleaved. Requests about alice (good), with and without
// a nonce (Apache sends one by default; nginx does not).
func (b *publishBench) ocsp() error {
	inter := filepath.Join(b.pki, "intermediate.crt")
	reqs, err := b.ocspRequests(inter)
	if err != nil {
		return err
	}
	issuer, err := readCert(inter)
	if err != nil {
		return err
	}
	ossl, osslURL, err := b.startOpensslOCSP(inter, reqs["no nonce"], issuer)
	if err != nil {
		return err
	}
	defer ossl.stop()
	pub, url, err := b.startPublish(b.cpus)
	if err != nil {
		return err
	}
	defer pub.stop()
	type target struct {
		s   *server
		url string
	}
	targets := map[string]target{"wsca": {pub, url + "/ocsp"}, "openssl": {ossl, osslURL}}
	var cases []*ocspCase
	bodies := map[string][]byte{}
	for _, kind := range []string{"no nonce", "nonce"} {
		body, err := os.ReadFile(reqs[kind])
		if err != nil {
			return err
		}
		bodies[kind] = body
		var resp []byte
		for _, name := range []string{"wsca", "openssl"} {
			der, err := checkOCSP(targets[name].url, body, issuer)
			if err != nil {
				return fmt.Errorf("%s (%s): %w\n%s%s", name, kind, err, ossl.logTail(), pub.logTail())
			}
			if name == "wsca" {
				resp = der
			}
		}
		// The floor answers with wsca's own response bytes, so every responder sends the same size.
		fl, flURL, err := b.startFloor("floor-"+strings.ReplaceAll(kind, " ", "-"), resp, kind == "nonce")
		if err != nil {
			return err
		}
		defer fl.stop()
		targets[floorName(kind)] = target{fl, flURL}
		for _, conc := range b.cfg.ocspConc {
			cases = append(cases, &ocspCase{kind: kind, conc: conc, runs: map[string][]ocspResult{}})
		}
	}
	for rep := range b.cfg.ocspReps {
		for _, c := range cases {
			// Interleaved, and the order turns every repetition, so no responder always runs on a machine
			// another just warmed (or that another engineer just loaded).
			order := []string{"wsca", "openssl", floorName(c.kind)}
			for range rep % len(order) {
				order = append(order[1:], order[0])
			}
			for _, name := range order {
				t := targets[name]
				r, err := ocspMeasure(t.url, t.s.cmd.Process.Pid, bodies[c.kind], c.conc, b.cfg.ocspDur)
				if err != nil {
					return err
				}
				c.runs[name] = append(c.runs[name], r)
				b.logf("publish: ocsp rep %d %s x%d %s: %.0f/s p99 %v, %v CPU/resp (%v sys), load generator %.0f%%",
					rep+1, c.kind, c.conc, name, r.rps, r.p99, r.cpuPer, r.sysPer, r.load)
			}
		}
	}
	b.ocspReport(cases)
	return nil
}

// startOpensslOCSP starts `openssl ocsp -index … -port …` pinned to b.cpus and waits until it answers the
// request in reqFile.
func (b *publishBench) startOpensslOCSP(inter, reqFile string, issuer *x509.Certificate) (*server, string, error) {
	index, err := b.opensslIndex()
	if err != nil {
		return nil, "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	ossl, err := startProcess("openssl-ocsp", b.work, b.cpus, "openssl", "ocsp", "-index", index, "-port", port,
		"-rsigner", filepath.Join(b.pki, "ocsp-signer.crt"), "-rkey", filepath.Join(b.pki, "ocsp-signer.key"),
		"-CA", inter, "-nmin", "5")
	if err != nil {
		return nil, "", err
	}
	// Not waitListening: a TCP connection closed without a request wedges `openssl ocsp` (OpenSSL 3.0: it
	// answers nothing afterwards). Wait with real requests instead.
	body, err := os.ReadFile(reqFile)
	if err != nil {
		ossl.stop()
		return nil, "", err
	}
	url := "http://" + addr + "/"
	for i := 0; ; i++ {
		if _, err = checkOCSP(url, body, issuer); err == nil {
			return ossl, url, nil
		}
		if i == 100 {
			ossl.stop()
			return nil, "", fmt.Errorf("openssl ocsp does not answer: %w\n%s", err, ossl.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ocspMeasure runs one load and adds the CPU the responder (pid: taskset execs it, same pid) and this
// process spent during it.
func ocspMeasure(url string, pid int, body []byte, conc int, dur time.Duration) (ocspResult, error) {
	u0, s0, err := cpuTicksSplit(pid)
	if err != nil {
		return ocspResult{}, err
	}
	g0, w0 := selfCPU(), time.Now()
	r := ocspLoad(url, body, conc, dur)
	g1, wall := selfCPU(), time.Since(w0)
	u1, s1, err := cpuTicksSplit(pid)
	if err != nil {
		return ocspResult{}, err
	}
	if r.n > 0 {
		const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
		r.cpuPer = time.Duration(u1-u0+s1-s0) * tick / time.Duration(r.n)
		r.sysPer = time.Duration(s1-s0) * tick / time.Duration(r.n)
	}
	r.load = float64(g1-g0) / float64(wall) * 100
	return r, nil
}

// selfCPU is this process's user + system CPU time (getrusage: microsecond resolution).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// opensslIndex writes the index.txt `openssl ocsp` reads: alice valid, victim-0 revoked (keyCompromise),
// as `wsca revoke` recorded them.
func (b *publishBench) opensslIndex() (string, error) {
	var sb strings.Builder
	for _, n := range []string{"alice", "victim-0"} {
		c, err := readCert(filepath.Join(b.certs, n+".crt"))
		if err != nil {
			return "", err
		}
		status, rev := "V", ""
		if n != "alice" {
			status, rev = "R", opensslTime(time.Now().Add(-time.Minute))+",keyCompromise"
		}
		fmt.Fprintf(&sb, "%s\t%s\t%s\t%s\tunknown\t/CN=%s\n", status, opensslTime(c.NotAfter), rev, opensslSerial(c.SerialNumber), n)
	}
	p := filepath.Join(b.work, "index.txt")
	return p, os.WriteFile(p, []byte(sb.String()), 0o644)
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	certs, err := ca.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// checkOCSP sends one request, checks that the answer verifies against issuer and says good, and returns it.
func checkOCSP(url string, body []byte, issuer *x509.Certificate) ([]byte, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	r, err := ocsp.ParseResponse(der, issuer)
	if err != nil {
		return nil, fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != ocsp.Good {
		return nil, fmt.Errorf("status %d, want good", r.Status)
	}
	return der, nil
}

// ocspLoad runs conc clients, each POSTing body in a loop on its own connection, for dur.
func ocspLoad(url string, body []byte, conc int, dur time.Duration) ocspResult {
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(dur)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			var mine []time.Duration
			bad := 0
			for n := 0; n < 10_000_000 && time.Now().Before(end); n++ {
				t0 := time.Now()
				resp, err := c.Post(url, "application/ocsp-request", bytes.NewReader(body))
				if err != nil {
					bad++
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || n == 0 {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat, errs = append(lat, mine...), errs+bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	return ocspResult{n: len(lat), rps: float64(len(lat)) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99), errors: errs}
}
