//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/wsca/wsca/ca"
)

// ocspResult is one OCSP load run against one responder.
type ocspResult struct {
	rps      float64
	p50, p99 time.Duration
	errors   int
}

// ocsp: responses/s and latency of `wsca publish` against `openssl ocsp -index … -port …` (what an Apache admin
// would run), same CA, same delegated signer, both pinned to the same CPUs, the same Go client load. Requests
// about alice (good), with and without a nonce (Apache sends one by default; nginx does not).
func (b *publishBench) ocsp() error {
	inter := filepath.Join(b.pki, "intermediate.crt")
	alice := filepath.Join(b.certs, "alice.crt")
	reqs := map[string]string{"no nonce": filepath.Join(b.work, "req.der"), "nonce": filepath.Join(b.work, "req-nonce.der")}
	if _, err := output(b.ctx, b.work, "openssl", "ocsp", "-issuer", inter, "-cert", alice, "-no_nonce", "-reqout", reqs["no nonce"]); err != nil {
		return err
	}
	if _, err := output(b.ctx, b.work, "openssl", "ocsp", "-issuer", inter, "-cert", alice, "-reqout", reqs["nonce"]); err != nil {
		return err
	}
	index, err := b.opensslIndex()
	if err != nil {
		return err
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	port := addr[strings.LastIndexByte(addr, ':')+1:]
	ossl, err := startProcess("openssl-ocsp", b.work, b.cpus, "openssl", "ocsp", "-index", index, "-port", port,
		"-rsigner", filepath.Join(b.pki, "ocsp-signer.crt"), "-rkey", filepath.Join(b.pki, "ocsp-signer.key"),
		"-CA", inter, "-nmin", "5")
	if err != nil {
		return err
	}
	defer ossl.stop()
	issuer, err := readCert(inter)
	if err != nil {
		return err
	}
	// Not waitListening: a TCP connection closed without a request wedges `openssl ocsp` (OpenSSL 3.0: it
	// answers nothing afterwards). Wait with real requests instead.
	body, err := os.ReadFile(reqs["no nonce"])
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if err = checkOCSP("http://"+addr+"/", body, issuer); err == nil {
			break
		}
		if i == 100 {
			return fmt.Errorf("openssl ocsp does not answer: %w\n%s", err, ossl.logTail())
		}
		time.Sleep(100 * time.Millisecond)
	}
	pub, url, err := b.startPublish(b.cpus)
	if err != nil {
		return err
	}
	defer pub.stop()
	urls := map[string]string{"wsca": url + "/ocsp", "openssl": "http://" + addr + "/"}
	fmt.Fprintf(&b.report, "### OCSP: `wsca publish` vs `openssl ocsp -index … -port …`\n\n"+
		"Both responders pinned to CPUs %s and signing with the same delegated P-256 signer; POST of one request "+
		"about a good certificate, %v per run, HTTP keep-alive where the responder allows it.\n\n"+
		"| request | clients | wsca resp/s | openssl resp/s | ratio | wsca p50 / p99 | openssl p50 / p99 | target | verdict |\n"+
		"|---|---|---|---|---|---|---|---|---|\n", b.cpus, b.cfg.ocspDur)
	for _, kind := range []string{"no nonce", "nonce"} {
		body, err := os.ReadFile(reqs[kind])
		if err != nil {
			return err
		}
		for name, u := range urls {
			if err := checkOCSP(u, body, issuer); err != nil {
				return fmt.Errorf("%s (%s): %w\n%s%s", name, kind, err, ossl.logTail(), pub.logTail())
			}
		}
		for _, conc := range b.cfg.ocspConc {
			w := ocspLoad(urls["wsca"], body, conc, b.cfg.ocspDur)
			o := ocspLoad(urls["openssl"], body, conc, b.cfg.ocspDur)
			ratio := w.rps / max(o.rps, 1e-9)
			fmt.Fprintf(&b.report, "| %s | %d | %.0f | %.0f | %.1f× | %s / %s | %s / %s | ≥ 10×, p99 ≤ 2 ms | %s |\n",
				kind, conc, w.rps, o.rps, ratio, fmtDur(w.p50), fmtDur(w.p99), fmtDur(o.p50), fmtDur(o.p99),
				verdict(ratio >= 10 && w.p99 <= 2*time.Millisecond))
			if w.errors+o.errors > 0 {
				fmt.Fprintf(&b.report, "| | | %d errors | %d errors | | | | | |\n", w.errors, o.errors)
			}
			b.logf("publish: ocsp %s x%d: wsca %.0f/s p99 %v, openssl %.0f/s p99 %v", kind, conc, w.rps, w.p99, o.rps, o.p99)
		}
	}
	b.report.WriteString("\n")
	return nil
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

// checkOCSP sends one request and checks that the answer verifies against issuer and says good.
func checkOCSP(url string, body []byte, issuer *x509.Certificate) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post(url, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	der, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	r, err := ocsp.ParseResponse(der, issuer)
	if err != nil {
		return fmt.Errorf("HTTP %d: %w", resp.StatusCode, err)
	}
	if r.Status != ocsp.Good {
		return fmt.Errorf("status %d, want good", r.Status)
	}
	return nil
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
	return ocspResult{rps: float64(len(lat)) / el.Seconds(), p50: percentile(lat, 50), p99: percentile(lat, 99), errors: errs}
}

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
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}
