//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The renewal workload (issue 13): N holders renew over `wsca enroll` (EST simplereenroll, a new TLS
// connection each, as holders on N machines would), against the same N renewals done the way an admin
// scripts them today, `openssl x509 -req` with the encrypted intermediate key, one process per renewal.
// Both sign the same CSRs (made beforehand, not timed). wsca's figure includes what openssl's does not: the
// TLS handshake with client-certificate and CRL verification, the database record and audit entry (one
// fsync'd transaction per renewal); openssl's includes what wsca's does not: decrypting the CA key each time.
// CPU per renewal is the enroll server's CPU (from /proc) over the run; the holders' side is not counted.

type renewBench struct {
	ctx     context.Context
	wsca    string
	work    string
	pass    string
	dir     string // CA directory
	n       int
	conc    []int
	reps    int
	log     io.Writer
	meter   meter
	clients []tls.Certificate
	csrs    [][]byte // base64 DER, the body of a simplereenroll request
	csrPEM  []string // the same requests as PEM files, for openssl
	osslKey string
}

func runRenewBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("renew", flag.ContinueOnError)
	wsca := fs.String("wsca", "", "wsca binary")
	work := fs.String("work", "", "scratch directory")
	n := fs.Int("n", 200, "holders renewed per repetition")
	reps := fs.Int("reps", 3, "repetitions")
	quick := fs.Bool("quick", false, "40 holders, one repetition")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wsca == "" || *work == "" {
		return fmt.Errorf("-wsca and -work are required")
	}
	b := &renewBench{ctx: context.Background(), wsca: *wsca, work: filepath.Join(*work, "renew"), n: *n, reps: *reps,
		conc: []int{1, 4}, log: stderr}
	if *quick {
		b.n, b.reps = 40, 1
	}
	var err error
	if b.meter, err = calibrate(b.ctx); err != nil {
		return err
	}
	if err := b.setup(); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	type row struct {
		peer        string
		rate, cpuMS []float64
	}
	var rows []row
	for _, c := range b.conc {
		rows = append(rows, row{peer: fmt.Sprintf("wsca enroll, %d concurrent holders", c)})
	}
	rows = append(rows, row{peer: "openssl x509 -req, encrypted key, sequential"})
	for rep := 0; rep < b.reps; rep++ {
		for i, c := range b.conc {
			rate, cpu, err := b.runEnroll(c)
			if err != nil {
				return err
			}
			rows[i].rate, rows[i].cpuMS = append(rows[i].rate, rate), append(rows[i].cpuMS, cpu)
		}
		rate, cpu, err := b.runOpenSSL()
		if err != nil {
			return err
		}
		last := &rows[len(rows)-1]
		last.rate, last.cpuMS = append(last.rate, rate), append(last.cpuMS, cpu)
	}
	fmt.Fprintf(stdout, "| renewal of %d holders, %d repetition(s) | renewals/s median [min–max] | CPU ms per renewal median [min–max] |\n|---|---|---|\n", b.n, b.reps)
	for _, r := range rows {
		fmt.Fprintf(stdout, "| %s | %s | %s |\n", r.peer, spread(r.rate, "%.1f"), spread(r.cpuMS, "%.2f"))
	}
	return nil
}

func spread(v []float64, f string) string {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf(f+" ["+f+"–"+f+"]", s[len(s)/2], s[0], s[len(s)-1])
}

func (b *renewBench) wscaArgs(args ...string) []string {
	return append([]string{b.wsca, "--dir", b.dir, "--passphrase-file", b.pass}, args...)
}

func (b *renewBench) setup() error {
	if err := os.MkdirAll(b.work, 0o700); err != nil {
		return err
	}
	b.pass, b.dir = filepath.Join(b.work, "ca.pass"), filepath.Join(b.work, "pki")
	if err := os.WriteFile(b.pass, []byte("renewal-bench-passphrase\n"), 0o600); err != nil {
		return err
	}
	if _, err := output(b.ctx, b.work, b.wscaArgs("init", "--name", "Renew Bench")...); err != nil {
		return err
	}
	if _, err := output(b.ctx, b.work, b.wscaArgs("issue", "est", "--server", "--ip", "127.0.0.1", "--out", b.work)...); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("name\n")
	for i := range b.n {
		fmt.Fprintf(&csv, "holder%04d\n", i)
	}
	holders := filepath.Join(b.work, "holders")
	if err := os.MkdirAll(holders, 0o700); err != nil {
		return err
	}
	csvPath := filepath.Join(b.work, "holders.csv")
	if err := os.WriteFile(csvPath, []byte(csv.String()), 0o600); err != nil {
		return err
	}
	if _, err := output(b.ctx, b.work, b.wscaArgs("issue", "--from", csvPath, "--out", holders)...); err != nil {
		return err
	}
	for i := range b.n {
		base := filepath.Join(holders, fmt.Sprintf("holder%04d", i))
		pair, err := tls.LoadX509KeyPair(base+".crt", base+".key")
		if err != nil {
			return err
		}
		der, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{RawSubject: pair.Leaf.RawSubject}, pair.PrivateKey)
		if err != nil {
			return err
		}
		p := base + ".csr"
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), 0o600); err != nil {
			return err
		}
		b.clients = append(b.clients, pair)
		b.csrs = append(b.csrs, []byte(base64.StdEncoding.EncodeToString(der)))
		b.csrPEM = append(b.csrPEM, p)
	}
	// The intermediate key as an admin's openssl setup keeps it: encrypted with `openssl pkey -aes256`.
	pass2 := filepath.Join(b.work, "ca.pass.out")
	if err := copyFile(b.pass, pass2); err != nil {
		return err
	}
	b.osslKey = filepath.Join(b.work, "intermediate-openssl.key")
	_, err := output(b.ctx, b.work, "openssl", "pkey", "-in", filepath.Join(b.dir, "intermediate.key"),
		"-passin", "file:"+b.pass, "-aes256", "-passout", "file:"+pass2, "-out", b.osslKey)
	if err != nil {
		return err
	}
	ext := "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n" +
		"subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
	return os.WriteFile(filepath.Join(b.work, "client.ext"), []byte(ext), 0o644)
}

// runEnroll starts wsca enroll, renews every holder once with conc holders at a time, and returns
// renewals per second and the server's CPU milliseconds per renewal.
func (b *renewBench) runEnroll(conc int) (float64, float64, error) {
	argv := b.wscaArgs("enroll", "--listen", "127.0.0.1:0",
		"--cert", filepath.Join(b.work, "est.crt"), "--key", filepath.Join(b.work, "est.key"))
	cmd := exec.CommandContext(b.ctx, argv[0], argv[1:]...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	addr, err := waitAddr(stderr, regexp.MustCompile(`msg="enroll listening" addr=(\S+)`))
	if err != nil {
		return 0, 0, err
	}
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(filepath.Join(b.dir, "ca.crt"))
	if err != nil {
		return 0, 0, err
	}
	pool.AppendCertsFromPEM(caPEM)
	url := "https://" + addr + "/.well-known/est/simplereenroll"
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	next := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := b.renewOne(url, pool, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range b.n {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	cpu1, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	return float64(b.n) / wall.Seconds(), ms(cpu1-cpu0) / float64(b.n), nil
}

// renewOne is one holder's renewal: its own TLS connection, its CSR, the certs-only answer.
func (b *renewBench) renewOne(url string, pool *x509.CertPool, i int) error {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{b.clients[i]}}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, url, bytes.NewReader(b.csrs[i]))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/pkcs10")
	resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("renewal of holder %d: HTTP %d: %s", i, resp.StatusCode, body)
	}
	return nil
}

// runOpenSSL signs every CSR with openssl x509 -req and the encrypted key, one process each.
func (b *renewBench) runOpenSSL() (float64, float64, error) {
	var total Run
	out := filepath.Join(b.work, "openssl-out")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return 0, 0, err
	}
	for i, csr := range b.csrPEM {
		r, err := b.meter.measure(b.ctx, Cmd{Dir: b.work, Args: []string{"openssl", "x509", "-req", "-in", csr,
			"-CA", filepath.Join(b.dir, "intermediate.crt"), "-CAkey", b.osslKey, "-passin", "file:" + b.pass,
			"-set_serial", "0x" + strconv.FormatInt(int64(i)+1<<40, 16), "-days", "365", "-sha256",
			"-extfile", filepath.Join(b.work, "client.ext"), "-out", filepath.Join(out, fmt.Sprintf("%d.crt", i))}})
		if err != nil {
			return 0, 0, err
		}
		total = total.add(r)
	}
	return float64(b.n) / total.Wall.Seconds(), ms(total.CPU) / float64(b.n), nil
}

// procCPU is a process's user + system CPU time so far, from /proc/PID/stat (clock ticks of 10 ms).
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: fields are counted after its closing parenthesis.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func waitAddr(r io.Reader, re *regexp.Regexp) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case a := <-found:
		return a, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("wsca enroll did not log its address within 30s")
	}
}
