//go:build linux

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
)

// caConfig sizes the CA workloads; quick mode keeps the whole run under three minutes.
type caConfig struct {
	reps        int
	issueN      int   // single issues per peer per repetition
	batchRows   int   // rows of the wsca issue --from CSV
	opensslRows int   // rows of the openssl loop (≤ batchRows; fewer means its time is extrapolated)
	crlSizes    []int // revoked certificates in the CRL workloads
	reloadN     int   // entries of the CRL the relay reloads
}

func caDefaults(quick bool) caConfig {
	if quick {
		return caConfig{reps: 3, issueN: 10, batchRows: 300, opensslRows: 300, crlSizes: []int{10_000, 100_000}, reloadN: 1_000_000}
	}
	return caConfig{reps: 3, issueN: 30, batchRows: 10_000, opensslRows: 10_000,
		crlSizes: []int{10_000, 100_000, 1_000_000}, reloadN: 1_000_000}
}

// caBench holds the state shared by the CA workloads of one run.
type caBench struct {
	cfg     caConfig
	wsca    string // wsca binary
	self    string // benchtool binary, for reload-child
	work    string // scratch directory, removed by scripts/bench
	pass    string // CA passphrase file, as an admin keeps it (0600)
	tmpl    string // an initialized CA directory, copied for every workload that writes
	osslKey string // the same intermediate key, encrypted the way `openssl pkey -aes256` does (PBKDF2, 2,048 iterations)
	leafDER []byte // one real client certificate issued by the CA: the DER of the synthetic records
	log     io.Writer
	res     *Results
	ctx     context.Context
	meter   meter
	out     string // results directory
	// doProfile adds one unmeasured run of wsca under perf and strace per workload (profile.go).
	doProfile bool
	crl1MPEM  string // crl.pem written by `wsca crl` at 1M entries, if that size ran
}

func runCA(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ca", flag.ContinueOnError)
	wsca := fs.String("wsca", "", "wsca binary")
	out := fs.String("out", "", "directory for results.json, results.md and the plot")
	work := fs.String("work", "", "scratch directory (several GiB free for the full run)")
	quick := fs.Bool("quick", false, "small sizes, for a run under three minutes")
	reps := fs.Int("reps", 0, "repetitions (default 3)")
	batch := fs.Int("batch-rows", 0, "rows of wsca issue --from")
	osslRows := fs.Int("openssl-rows", 0, "rows of the openssl loop (fewer than -batch-rows: extrapolated, and labelled so)")
	sizes := fs.String("crl-sizes", "", "comma-separated CRL sizes, e.g. 10000,100000,1000000")
	only := fs.String("only", "issue,batch,crl,reload", "workloads to run")
	prof := fs.Bool("profile", false, "also profile wsca once per workload with perf and strace (profile-*.txt)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *wsca == "" || *out == "" || *work == "" {
		return fmt.Errorf("-wsca, -out and -work are required")
	}
	cfg := caDefaults(*quick)
	if *reps > 0 {
		cfg.reps = *reps
	}
	if *batch > 0 {
		cfg.batchRows = *batch
	}
	if *osslRows > 0 {
		cfg.opensslRows = min(*osslRows, cfg.batchRows)
	} else {
		cfg.opensslRows = min(cfg.opensslRows, cfg.batchRows)
	}
	if *sizes != "" {
		cfg.crlSizes = nil
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 || n > 5_000_000 {
				return fmt.Errorf("-crl-sizes: %q is not a size between 1 and 5,000,000", s)
			}
			cfg.crlSizes = append(cfg.crlSizes, n)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	mode := "full"
	if *quick {
		mode = "quick"
	}
	b := &caBench{cfg: cfg, wsca: *wsca, self: self, work: *work, log: stderr, ctx: context.Background(), out: *out, doProfile: *prof,
		res: &Results{Mode: mode, Reps: cfg.reps, Started: time.Now().UTC().Format(time.RFC3339)}}
	start := time.Now()
	b.res.Machine = describeMachine(b.ctx, *wsca)
	if b.meter, err = calibrate(b.ctx); err != nil {
		return fmt.Errorf("calibrating: %w", err)
	}
	b.note("every process ran under GNU time (/usr/bin/time -f %%M) for its peak RSS; its own cost, %.2f ms per process "+
		"(median of 21 calibration runs), is subtracted from every wall time", ms(b.meter.overhead))
	if err := b.setup(); err != nil {
		return fmt.Errorf("setting up: %w", err)
	}
	steps := []struct {
		name string
		fn   func() error
	}{{"issue", b.issueOne}, {"batch", b.issueBatch}, {"crl", b.crls}, {"reload", b.reload}}
	for _, s := range steps {
		if !strings.Contains(","+*only+",", ","+s.name+",") {
			continue
		}
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		// Save after every workload so a failure later keeps what was measured.
		b.res.Seconds = time.Since(start).Seconds()
		if err := b.res.save(filepath.Join(*out, "results.json")); err != nil {
			return err
		}
	}
	b.res.Seconds = time.Since(start).Seconds()
	return writeReport(b.res, *out, stdout)
}

func (b *caBench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *caBench) note(format string, args ...any) {
	b.res.Notes = append(b.res.Notes, fmt.Sprintf(format, args...))
}

// wscaCmd is the wsca command line an admin runs, with the CA directory and passphrase file.
func (b *caBench) wscaCmd(dir string, args ...string) []string {
	return append([]string{b.wsca, "--dir", dir, "--passphrase-file", b.pass}, args...)
}

func (b *caBench) setup() error {
	var err error
	if b.pass, err = newPassphraseFile(b.work); err != nil {
		return err
	}
	b.tmpl = filepath.Join(b.work, "pki-template")
	if _, err := output(b.ctx, b.work, b.wscaCmd(b.tmpl, "init", "--name", "Bench")...); err != nil {
		return err
	}
	leafDir := filepath.Join(b.work, "leaf")
	if err := os.MkdirAll(leafDir, 0o700); err != nil {
		return err
	}
	if _, err := output(b.ctx, b.work, b.wscaCmd(b.tmpl, "issue", "template-leaf", "--out", leafDir)...); err != nil {
		return err
	}
	leafPEM, err := os.ReadFile(filepath.Join(leafDir, "template-leaf.crt"))
	if err != nil {
		return err
	}
	certs, err := ca.ParseCertificates(leafPEM)
	if err != nil {
		return err
	}
	b.leafDER = certs[0].Raw
	// openssl reads and writes passphrases line by line: -passin and -passout need two files.
	pass2 := filepath.Join(b.work, "ca.pass.out")
	if err := copyFile(b.pass, pass2); err != nil {
		return err
	}
	b.osslKey = filepath.Join(b.work, "intermediate-openssl.key")
	_, err = output(b.ctx, b.work, "openssl", "pkey", "-in", filepath.Join(b.tmpl, "intermediate.key"),
		"-passin", "file:"+b.pass, "-aes256", "-passout", "file:"+pass2, "-out", b.osslKey)
	return err
}

// newPassphraseFile creates the work directory (0700) and writes a random CA passphrase to work/ca.pass
// (0600), the file every wsca command of a benchmark reads with --passphrase-file. It returns the file's
// path, or the first error.
func newPassphraseFile(work string) (string, error) {
	if err := os.MkdirAll(work, 0o700); err != nil {
		return "", err
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return "", err
	}
	pass := filepath.Join(work, "ca.pass")
	return pass, os.WriteFile(pass, []byte(base64.StdEncoding.EncodeToString(pw)+"\n"), 0o600)
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o600)
}

// cloneCA copies the template CA directory, so every workload and repetition starts from the same state.
func (b *caBench) cloneCA(dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	_, err := output(b.ctx, b.work, "cp", "-a", b.tmpl, dst)
	return err
}

func bigOne() *big.Int { return big.NewInt(1) }

// reload: what the relay pays to load a 1M-entry crl.pem, in a fresh process per load, against the
// standard library and against `openssl crl` parsing the same file (the least a reload of nginx or
// Apache does).
func (b *caBench) reload() error {
	n := b.cfg.reloadN
	file := b.crl1MPEM
	if file == "" {
		file = filepath.Join(b.work, "reload-crl.pem")
		pass, err := os.ReadFile(b.pass)
		if err != nil {
			return err
		}
		if err := buildCRLFile(b.tmpl, []byte(strings.TrimRight(string(pass), "\r\n")), n, file, time.Now()); err != nil {
			return err
		}
		b.note("reload: the %s-entry crl.pem was built with crl.Build (the encoder wsca crl uses) because this run did not build a %s database", sizeName(n), sizeName(n))
	}
	caFile := filepath.Join(b.tmpl, "ca.crt")
	wl := "relay CRL reload (" + sizeName(n) + ")"
	peers := []string{"wsca", "x509 stdlib", "openssl crl"}
	wall := newMetric(wl, "wall", "ms", true, peers...)
	wall.target(&Target{Text: "wsca ≤ 1 s", Kind: "max", Value: 1000})
	peak := newMetric(wl, "peak RSS growth", "MiB", true, peers...)
	peak.target(&Target{Text: "wsca ≤ 150 MiB extra", Kind: "max", Value: 150})
	kept := newMetric(wl, "retained heap", "MiB", true, "wsca", "x509 stdlib")
	for rep := range b.cfg.reps {
		for _, impl := range []string{"wsca", "stdlib"} {
			r, err := b.meter.measure(b.ctx, Cmd{Args: []string{b.self, "reload-child", "-impl", impl, "-crl", file, "-ca", caFile}, Timeout: 5 * time.Minute})
			if err != nil {
				return err
			}
			var rr ReloadResult
			if err := json.Unmarshal(r.Stdout, &rr); err != nil {
				return fmt.Errorf("reload-child output: %w", err)
			}
			if rr.Entries != n {
				return fmt.Errorf("reload-child %s found %d entries, want %d", impl, rr.Entries, n)
			}
			peer := map[string]string{"wsca": "wsca", "stdlib": "x509 stdlib"}[impl]
			wall.add(peer, rr.WallMS)
			peak.add(peer, rr.PeakRSSMiB)
			kept.add(peer, rr.RetainedMiB)
		}
		r, err := b.meter.measure(b.ctx, Cmd{Args: []string{"openssl", "crl", "-in", file, "-noout"}, Timeout: 5 * time.Minute})
		if err != nil {
			return err
		}
		wall.add("openssl crl", ms(r.Wall))
		peak.add("openssl crl", mib(r.MaxRSSKiB))
		b.logf("reload rep %d: wsca %.0f ms %.0f MiB; stdlib %.0f ms %.0f MiB; openssl crl %.0f ms %.0f MiB", rep+1,
			wall.Values["wsca"][rep], peak.Values["wsca"][rep], wall.Values["x509 stdlib"][rep], peak.Values["x509 stdlib"][rep],
			wall.Values["openssl crl"][rep], peak.Values["openssl crl"][rep])
	}
	wall.Notes = append(wall.Notes, "wsca = crl.Parse + crl.NewBundle (signature checked); x509 stdlib = x509.ParseRevocationList + "+
		"CheckSignatureFrom + map of serials; openssl crl = `openssl crl -noout` (process wall, parses the first CRL; its peak is the whole process's RSS)")
	b.res.Metrics = append(b.res.Metrics, wall, peak, kept)
	return nil
}

// interleaved runs a and b in the order A B on even repetitions and B A on odd ones, so neither peer always
// runs first (on a warmer or colder machine).
func interleaved(rep int, a, b func() (Run, error)) (ra, rb Run, err error) {
	if rep%2 == 0 {
		if ra, err = a(); err == nil {
			rb, err = b()
		}
		return ra, rb, err
	}
	if rb, err = b(); err == nil {
		ra, err = a()
	}
	return ra, rb, err
}
