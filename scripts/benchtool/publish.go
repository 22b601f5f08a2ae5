//go:build linux

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The publisher workloads of issue #10: propagation of a revocation through `wsca publish` to 5 relays, OCSP
// against `openssl ocsp`, and the cost of 200 idle long-polling relays. scripts/bench runs `benchtool publish`
// inside a network namespace that has only loopback: `openssl ocsp -port` binds every interface.

// publishConfig sizes the workloads.
type publishConfig struct {
	relays, revocations int
	ocspDur             time.Duration
	ocspConc            []int
	ocspReps            int
	idle                int
	idleWindow          time.Duration
}

// publishBench holds the state of one run.
type publishBench struct {
	cfg       publishConfig
	wsca      string
	work      string
	pass      string
	pki       string
	certs     string
	cpus      string // the responders' CPUs (benchtool's own affinity is the load's)
	log       io.Writer
	ctx       context.Context
	rootPool  *x509.CertPool
	report    strings.Builder
	nextRelay int
}

// publishWorkloads are the workloads of `benchtool publish`, in the order they run.
var publishWorkloads = []string{"propagation", "ocsp", "idle"}

func runPublish(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	wsca := fs.String("wsca", "", "wsca binary")
	out := fs.String("out", "", "results directory (publish.md is written there)")
	work := fs.String("work", "", "scratch directory")
	cpus := fs.String("server-cpus", "1", "CPU list wsca publish and openssl ocsp are pinned to for the OCSP workload")
	revocations := fs.Int("revocations", 20, "revocations in the propagation workload")
	idle := fs.Int("idle", 200, "idle long-polling relays")
	only := fs.String("only", "propagation,ocsp,idle", "comma-separated workloads to run: propagation, ocsp, idle")
	ocspReps := fs.Int("ocsp-reps", 3, "repetitions of the OCSP workload (wsca and openssl interleaved)")
	canned := fs.String("canned", "", "internal: be the OCSP floor responder on this address (publish_floor.go)")
	cannedResp := fs.String("canned-resp", "", "internal: the floor responder's canned response")
	cannedSign := fs.String("canned-sign", "", "internal: the key the floor responder signs with per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *canned != "" {
		return serveCanned(*canned, *cannedResp, *cannedSign)
	}
	if *wsca == "" || *out == "" || *work == "" {
		return errors.New("-wsca, -out and -work are required")
	}
	for _, name := range strings.Split(*only, ",") {
		if !slices.Contains(publishWorkloads, name) {
			return fmt.Errorf("-only: unknown workload %q (%s)", name, strings.Join(publishWorkloads, ", "))
		}
	}
	b := &publishBench{cfg: publishConfig{relays: 5, revocations: *revocations, ocspDur: 4 * time.Second,
		ocspConc: []int{1, 16}, ocspReps: max(*ocspReps, 1), idle: *idle, idleWindow: 20 * time.Second},
		wsca: *wsca, work: filepath.Join(*work, "publish"), cpus: *cpus, log: stderr, ctx: context.Background()}
	if err := b.setup(); err != nil {
		return fmt.Errorf("publish setup: %w", err)
	}
	m := describeMachine(b.ctx, *wsca)
	fmt.Fprintf(&b.report, "## Publisher (issue #10)\n\nCPU: %s, %s cores, kernel %s, %s; load average at the start %s "+
		"(the machine is shared). Load generator (benchtool) on CPUs %s.\n\n", m.Model, m.CPUs, m.Kernel, m.Versions["openssl"], m.Load, cpuList())
	workloads := map[string]func() error{"propagation": b.propagation, "ocsp": b.ocsp, "idle": b.idlePolls}
	for _, name := range publishWorkloads {
		if !slices.Contains(strings.Split(*only, ","), name) {
			continue
		}
		if err := workloads[name](); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(*out, "publish.md"), []byte(b.report.String()), 0o644); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, b.report.String())
	return err
}

func (b *publishBench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *publishBench) wscaCmd(args ...string) []string {
	return append([]string{b.wsca, "--dir", b.pki, "--passphrase-file", b.pass}, args...)
}

// setup makes a CA with an OCSP URL (so it has the delegated signer), a server certificate for the relays,
// alice, and one victim per revocation.
func (b *publishBench) setup() error {
	var err error
	if b.pass, err = newPassphraseFile(b.work); err != nil {
		return err
	}
	b.pki, b.certs = filepath.Join(b.work, "pki"), filepath.Join(b.work, "certs")
	if err := os.MkdirAll(b.certs, 0o700); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("name\nalice\n")
	for i := range b.cfg.revocations {
		fmt.Fprintf(&csv, "victim-%d\n", i)
	}
	csvPath := filepath.Join(b.work, "clients.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return err
	}
	for _, c := range [][]string{
		b.wscaCmd("init", "--name", "Publish Bench", "--ocsp-url", "http://127.0.0.1/ocsp"),
		b.wscaCmd("issue", "relay", "--server", "--ip", "127.0.0.1", "--out", b.certs),
		b.wscaCmd("issue", "--from", csvPath, "--out", b.certs),
	} {
		if _, err := output(b.ctx, b.work, c...); err != nil {
			return err
		}
	}
	root, err := os.ReadFile(filepath.Join(b.pki, "root.crt"))
	if err != nil {
		return err
	}
	b.rootPool = x509.NewCertPool()
	if !b.rootPool.AppendCertsFromPEM(root) {
		return errors.New("root.crt holds no certificate")
	}
	return nil
}

// startPublish starts `wsca publish` on a free loopback port, pinned to cpus, and waits for its first CRL.
func (b *publishBench) startPublish(cpus string) (*server, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	s, err := startProcess("publish", b.work, cpus, b.wsca, "--dir", b.pki, "publish", "--listen", addr,
		"--state", filepath.Join(b.work, "publish.state.json"))
	if err != nil {
		return nil, "", err
	}
	if err := s.waitListening(addr); err != nil {
		return nil, "", err
	}
	return s, "http://" + addr, nil
}

// startRelay starts `wsca serve` fed by the publisher at url (demo echo backend).
func (b *publishBench) startRelay(url string) (*server, error) {
	b.nextRelay++
	dir := filepath.Join(b.work, fmt.Sprintf("relay-%d", b.nextRelay))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	s, err := startProcess("relay", dir, "0-1023", b.wsca, "serve", "--listen", addr, "--demo-backend",
		"--cert", filepath.Join(b.certs, "relay.crt"), "--key", filepath.Join(b.certs, "relay.key"),
		"--ca", filepath.Join(b.pki, "ca.crt"), "--crl", url+"/crl.pem", "--state-dir", filepath.Join(dir, "state"))
	if err != nil {
		return nil, err
	}
	return s, s.waitListening(addr)
}

var waitingRe = regexp.MustCompile(`(?m)^wsca_publish_crl_waiting (\d+)$`)

// waiting reads the publisher's count of held long-polls from /metrics.
func waiting(url string) (int, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, err
	}
	m := waitingRe.FindSubmatch(body)
	if m == nil {
		return 0, errors.New("no wsca_publish_crl_waiting in /metrics")
	}
	return strconv.Atoi(string(m[1]))
}

// waitWaiting polls /metrics until n long-polls are held, for at most limit.
func waitWaiting(url string, n int, limit time.Duration) error {
	got := -1
	for end := time.Now().Add(limit); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		var err error
		if got, err = waiting(url); err == nil && got >= n {
			return nil
		}
	}
	return fmt.Errorf("%d long-polls held after %v, want %d", got, limit, n)
}

// propagation: `wsca revoke victim-i` returning → victim-i's open session cut on the last of the relays.
func (b *publishBench) propagation() error {
	pub, url, err := b.startPublish("0-1023")
	if err != nil {
		return err
	}
	defer pub.stop()
	var relays []*server
	defer func() {
		for _, r := range relays {
			r.stop()
		}
	}()
	for range b.cfg.relays {
		r, err := b.startRelay(url)
		if err != nil {
			return err
		}
		relays = append(relays, r)
	}
	b.logf("publish: propagation, %d revocations, %d relays", b.cfg.revocations, b.cfg.relays)
	var lat []time.Duration
	for i := range b.cfg.revocations {
		if err := waitWaiting(url, len(relays), 10*time.Second); err != nil {
			return err
		}
		d, err := b.revokeOne(i, relays)
		if err != nil {
			return err
		}
		lat = append(lat, d)
	}
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	fmt.Fprintf(&b.report, "### Propagation: `wsca revoke` returning → the session cut on the last of %d relays fed by `wsca publish`\n\n"+
		"| revocations | p50 | p99 | max | target | verdict |\n|---|---|---|---|---|---|\n"+
		"| %d | %s | %s | %s | p50 ≤ 250 ms, p99 ≤ 1 s | %s |\n\n",
		len(relays), len(lat), fmtDur(p50), fmtDur(p99), fmtDur(percentile(lat, 100)),
		verdict(p50 <= 250*time.Millisecond && p99 <= time.Second))
	b.logf("publish: propagation p50 %v p99 %v", p50, p99)
	return nil
}

// revokeOne opens victim-i's session on every relay, revokes victim-i and returns the time from the
// revoke's return to the last relay's cut (each session's end seen by a blocked read: no polling error).
func (b *publishBench) revokeOne(i int, relays []*server) (time.Duration, error) {
	name := fmt.Sprintf("victim-%d", i)
	cert, err := tls.LoadX509KeyPair(filepath.Join(b.certs, name+".crt"), filepath.Join(b.certs, name+".key"))
	if err != nil {
		return 0, err
	}
	conf := &tls.Config{RootCAs: b.rootPool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	ends := make([]time.Time, len(relays))
	var wg sync.WaitGroup
	for j, r := range relays {
		w, err := dialWS(r.addr, "/", conf, 5*time.Second)
		if err != nil {
			return 0, fmt.Errorf("%s on relay %d: %w", name, j, err)
		}
		_ = w.c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := echoOnce(w, []byte("still here?")); err != nil {
			return 0, fmt.Errorf("%s on relay %d: %w", name, j, err)
		}
		_ = w.c.SetDeadline(time.Now().Add(15 * time.Second))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.close()
			for range 1000 {
				if _, err := w.readMessage(); err != nil {
					ends[j] = time.Now()
					return
				}
			}
		}()
	}
	if _, err := output(b.ctx, b.work, b.wscaCmd("revoke", name, "--reason", "keyCompromise")...); err != nil {
		return 0, err
	}
	returned := time.Now()
	wg.Wait()
	last := returned
	for j, e := range ends {
		if e.Sub(returned) >= 14*time.Second {
			return 0, fmt.Errorf("%s: relay %d did not cut the session", name, j)
		}
		if e.After(last) {
			last = e
		}
	}
	return last.Sub(returned), nil
}

func fmtDur(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%d µs", d.Microseconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}
