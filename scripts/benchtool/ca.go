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
	"github.com/wsca/wsca/crl"
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
	if err := os.MkdirAll(b.work, 0o700); err != nil {
		return err
	}
	pw := make([]byte, 18)
	if _, err := rand.Read(pw); err != nil {
		return err
	}
	b.pass = filepath.Join(b.work, "ca.pass")
	if err := os.WriteFile(b.pass, []byte(base64.StdEncoding.EncodeToString(pw)+"\n"), 0o600); err != nil {
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

// opensslIssue is one certificate the way an OpenSSL admin makes it: a new P-256 key and CSR, then
// `openssl ca` signs it and updates index.txt.
func (b *caBench) opensslIssue(conf, out, name string) (Run, error) {
	r1, err := b.meter.measure(b.ctx, Cmd{Args: []string{"openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
		"-nodes", "-keyout", filepath.Join(out, name+".key"), "-out", filepath.Join(out, name+".csr"), "-subj", "/CN=" + name}})
	if err != nil {
		return Run{}, err
	}
	r2, err := b.meter.measure(b.ctx, Cmd{Args: []string{"openssl", "ca", "-batch", "-config", conf, "-passin", "file:" + b.pass,
		"-in", filepath.Join(out, name+".csr"), "-out", filepath.Join(out, name+".crt"), "-notext"}})
	if err != nil {
		return Run{}, err
	}
	return r1.add(r2), nil
}

// issueOne: wall time of one `wsca issue NAME` against `openssl req` + `openssl ca`, the samples of the
// peers alternating (wsca first on even samples, openssl first on odd ones).
func (b *caBench) issueOne() error {
	dir := filepath.Join(b.work, "issue1")
	pki := filepath.Join(dir, "pki")
	if err := b.cloneCA(pki); err != nil {
		return err
	}
	outW := filepath.Join(dir, "out-wsca")
	outO := filepath.Join(dir, "out-openssl")
	outS := filepath.Join(dir, "out-openssl-samekey")
	for _, d := range []string{outW, outO, outS} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	confO, err := newOpenSSLCA(filepath.Join(dir, "ossl"), filepath.Join(b.tmpl, "intermediate.crt"), b.osslKey)
	if err != nil {
		return err
	}
	confS, err := newOpenSSLCA(filepath.Join(dir, "ossl-samekey"), filepath.Join(b.tmpl, "intermediate.crt"), filepath.Join(b.tmpl, "intermediate.key"))
	if err != nil {
		return err
	}
	const wl = "issue (1 cert)"
	peers := []string{"wsca", "openssl", "openssl, wsca's key"}
	wall := newMetric(wl, "wall", "ms", true, peers...)
	wall.target(&Target{Text: "wsca ≤ 50 ms", Kind: "max", Value: 50})
	cpu := newMetric(wl, "CPU user+sys", "ms", true, peers...)
	rss := newMetric(wl, "peak RSS", "MiB", true, peers...)
	for rep := range b.cfg.reps {
		samples := map[string][]Run{}
		for i := range b.cfg.issueN {
			name := fmt.Sprintf("r%di%d", rep, i)
			runs := []func() (string, Run, error){
				func() (string, Run, error) {
					r, err := b.meter.measure(b.ctx, Cmd{Args: b.wscaCmd(pki, "issue", name, "--out", outW)})
					return "wsca", r, err
				},
				func() (string, Run, error) {
					r, err := b.opensslIssue(confO, outO, name)
					return "openssl", r, err
				},
				func() (string, Run, error) {
					r, err := b.opensslIssue(confS, outS, name)
					return "openssl, wsca's key", r, err
				},
			}
			for k := range runs {
				peer, r, err := runs[(k+i)%len(runs)]()
				if err != nil {
					return err
				}
				samples[peer] = append(samples[peer], r)
			}
		}
		for _, p := range peers {
			wall.add(p, summarize(mapRuns(samples[p], func(r Run) float64 { return ms(r.Wall) })).Median)
			cpu.add(p, summarize(mapRuns(samples[p], func(r Run) float64 { return ms(r.CPU) })).Median)
			rss.add(p, summarize(mapRuns(samples[p], func(r Run) float64 { return mib(r.MaxRSSKiB) })).Median)
		}
		b.logf("issue rep %d: wsca %.1f ms, openssl %.1f ms (medians of %d)", rep+1,
			wall.Values["wsca"][rep], wall.Values["openssl"][rep], b.cfg.issueN)
	}
	wall.Notes = append(wall.Notes, fmt.Sprintf("each repetition's value is the median of %d single issues; "+
		"wsca includes its database commit (fsync); openssl = `openssl req -newkey ec` + `openssl ca` (no fsync)", b.cfg.issueN),
		"\"openssl\" decrypts the intermediate key as `openssl pkey -aes256` encrypts it (PBKDF2, 2,048 iterations); "+
			"\"openssl, wsca's key\" uses wsca's intermediate.key (PBKDF2, 150,000 iterations)")
	b.res.Metrics = append(b.res.Metrics, wall, cpu, rss)
	b.profile("issue", nil, b.wscaCmd(pki, "issue", "profiled", "--out", outW))
	return nil
}

func mapRuns(rs []Run, f func(Run) float64) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = f(r)
	}
	return out
}

// opensslLoop is the shell loop an OpenSSL admin writes to issue one certificate per line of names.
const opensslLoop = `set -e
while IFS= read -r n; do
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/$n.key" -out "$OUT/$n.csr" -subj "/CN=$n" 2>/dev/null
  openssl ca -batch -config "$CONF" -passin "file:$PASS" -in "$OUT/$n.csr" -out "$OUT/$n.crt" -notext 2>/dev/null
done < "$NAMES"
`

// issueBatch: `wsca issue --from rows.csv` against the openssl loop, fresh CAs in every repetition, the
// order of the peers alternating between repetitions.
func (b *caBench) issueBatch() error {
	n, m := b.cfg.batchRows, b.cfg.opensslRows
	wl := fmt.Sprintf("issue --from (%d rows)", n)
	wall := newMetric(wl, "wall", "s", true, "wsca", "openssl loop")
	wall.target(&Target{Text: "openssl/wsca ≥ 30× (at 10,000 rows)", Kind: "ratio-min", Value: 30, Peer: "openssl loop"})
	per := newMetric(wl, "per certificate", "ms", true, "wsca", "openssl loop")
	rss := newMetric(wl, "peak RSS", "MiB", true, "wsca", "openssl loop")
	dir := filepath.Join(b.work, "batch")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var csv, names strings.Builder
	csv.WriteString("name\n")
	for i := range n {
		fmt.Fprintf(&csv, "user%05d\n", i)
		if i < m {
			fmt.Fprintf(&names, "user%05d\n", i)
		}
	}
	csvPath, namesPath := filepath.Join(dir, "rows.csv"), filepath.Join(dir, "names.txt")
	loopPath := filepath.Join(dir, "openssl-loop.sh")
	for p, c := range map[string]string{csvPath: csv.String(), namesPath: names.String(), loopPath: opensslLoop} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return err
		}
	}
	for rep := range b.cfg.reps {
		rdir := filepath.Join(dir, fmt.Sprintf("rep%d", rep))
		pki, outW, outO := filepath.Join(rdir, "pki"), filepath.Join(rdir, "out-wsca"), filepath.Join(rdir, "out-openssl")
		if err := b.cloneCA(pki); err != nil {
			return err
		}
		conf, err := newOpenSSLCA(filepath.Join(rdir, "ossl"), filepath.Join(b.tmpl, "intermediate.crt"), b.osslKey)
		if err != nil {
			return err
		}
		for _, d := range []string{outW, outO} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return err
			}
		}
		runW := func() (Run, error) {
			return b.meter.measure(b.ctx, Cmd{Args: b.wscaCmd(pki, "issue", "--from", csvPath, "--out", outW), Timeout: 20 * time.Minute})
		}
		runO := func() (Run, error) {
			return b.meter.measure(b.ctx, Cmd{Args: []string{"bash", loopPath}, Timeout: 60 * time.Minute,
				Env: []string{"OUT=" + outO, "CONF=" + conf, "PASS=" + b.pass, "NAMES=" + namesPath}})
		}
		rw, ro, err := interleaved(rep, runW, runO)
		if err != nil {
			return err
		}
		if err := expectFiles(outW, ".crt", n); err != nil {
			return err
		}
		if err := expectFiles(outO, ".crt", m); err != nil {
			return err
		}
		scale := float64(n) / float64(m)
		wall.add("wsca", sec(rw.Wall))
		wall.add("openssl loop", sec(ro.Wall)*scale)
		per.add("wsca", ms(rw.Wall)/float64(n))
		per.add("openssl loop", ms(ro.Wall)/float64(m))
		rss.add("wsca", mib(rw.MaxRSSKiB))
		rss.add("openssl loop", mib(ro.MaxRSSKiB))
		b.logf("batch rep %d: wsca %d rows %.2f s; openssl loop %d rows %.2f s", rep+1, n, sec(rw.Wall), m, sec(ro.Wall))
		if err := os.RemoveAll(rdir); err != nil {
			return err
		}
	}
	if m < n {
		wall.Notes = append(wall.Notes, fmt.Sprintf("EXTRAPOLATED: the openssl loop issued %d certificates per repetition; "+
			"its wall time is scaled linearly to %d (openssl ca rereads index.txt each time, so the real loop is slower still)", m, n))
	}
	rss.Notes = append(rss.Notes, "openssl loop: the largest single openssl process")
	b.res.Metrics = append(b.res.Metrics, wall, per, rss)
	ppki, pout := filepath.Join(dir, "profile", "pki"), filepath.Join(dir, "profile", "out")
	b.profile("issue-from", func() error {
		if err := b.cloneCA(ppki); err != nil {
			return err
		}
		if err := os.RemoveAll(pout); err != nil {
			return err
		}
		return os.MkdirAll(pout, 0o700)
	}, b.wscaCmd(ppki, "issue", "--from", csvPath, "--out", pout))
	return os.RemoveAll(filepath.Join(dir, "profile"))
}

func expectFiles(dir, suffix string, n int) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*"+suffix))
	if err != nil {
		return err
	}
	if len(matches) != n {
		return fmt.Errorf("%s: %d %s files, want %d", dir, len(matches), suffix, n)
	}
	return nil
}

func sizeName(n int) string {
	switch {
	case n%1_000_000 == 0:
		return strconv.Itoa(n/1_000_000) + "M"
	case n%1000 == 0:
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// crls: `wsca crl` against `openssl ca -gencrl` over the same revocations, at each size.
func (b *caBench) crls() error {
	for _, n := range b.cfg.crlSizes {
		if err := b.crlSize(n); err != nil {
			return fmt.Errorf("%d entries: %w", n, err)
		}
	}
	return nil
}

func (b *caBench) crlSize(n int) error {
	dir := filepath.Join(b.work, "crl-"+sizeName(n))
	pki := filepath.Join(dir, "pki")
	if err := b.cloneCA(pki); err != nil {
		return err
	}
	conf, err := newOpenSSLCA(filepath.Join(dir, "ossl"), filepath.Join(b.tmpl, "intermediate.crt"), b.osslKey)
	if err != nil {
		return err
	}
	t0 := time.Now()
	got, err := populate(filepath.Join(pki, "wsca.db"), filepath.Join(dir, "ossl", "index.txt"), n, b.leafDER, time.Now())
	if err != nil {
		return err
	}
	b.logf("crl %s: populated the database and index.txt with %d revocations in %.1f s", sizeName(n), got, time.Since(t0).Seconds())
	wl := "crl (" + sizeName(n) + " revoked)"
	const osslPeer = "openssl ca -gencrl"
	wall := newMetric(wl, "wall", "s", true, "wsca", osslPeer)
	rss := newMetric(wl, "peak RSS", "MiB", true, "wsca", osslPeer)
	switch n {
	case 1_000_000:
		wall.target(&Target{Text: "openssl/wsca ≥ 10×", Kind: "ratio-min", Value: 10, Peer: osslPeer})
		wall.target(&Target{Text: "wsca a few seconds (≤ 3 s)", Kind: "max", Value: 3})
		rss.target(&Target{Text: "wsca ≤ 300 MiB", Kind: "max", Value: 300})
	case 100_000:
		wall.target(&Target{Text: "wsca well under 1 s (≤ 0.5 s)", Kind: "max", Value: 0.5})
	}
	osslOut := filepath.Join(dir, "crl-openssl.pem")
	for rep := range b.cfg.reps {
		runW := func() (Run, error) {
			return b.meter.measure(b.ctx, Cmd{Args: b.wscaCmd(pki, "crl"), Timeout: 10 * time.Minute})
		}
		runO := func() (Run, error) {
			return b.meter.measure(b.ctx, Cmd{Args: []string{"openssl", "ca", "-gencrl", "-batch", "-config", conf,
				"-passin", "file:" + b.pass, "-out", osslOut}, Timeout: 20 * time.Minute})
		}
		rw, ro, err := interleaved(rep, runW, runO)
		if err != nil {
			return err
		}
		if rep == 0 {
			if err := b.checkCRLs(filepath.Join(pki, "crl.pem"), osslOut, got); err != nil {
				return err
			}
		}
		wall.add("wsca", sec(rw.Wall))
		wall.add(osslPeer, sec(ro.Wall))
		rss.add("wsca", mib(rw.MaxRSSKiB))
		rss.add(osslPeer, mib(ro.MaxRSSKiB))
		b.logf("crl %s rep %d: wsca %.3f s %.0f MiB; openssl %.3f s %.0f MiB", sizeName(n), rep+1,
			sec(rw.Wall), mib(rw.MaxRSSKiB), sec(ro.Wall), mib(ro.MaxRSSKiB))
	}
	wall.Notes = append(wall.Notes, "database records are synthetic: each carries the DER of one real certificate issued by the CA; "+
		"wsca crl runs as an admin runs it (passphrase file, database lock, atomic write of crl.pem with the root CRL)")
	b.res.Metrics = append(b.res.Metrics, wall, rss)
	if n == b.cfg.crlSizes[len(b.cfg.crlSizes)-1] {
		b.profile("crl-"+sizeName(n), nil, b.wscaCmd(pki, "crl"))
	}
	if n == b.cfg.reloadN {
		b.crl1MPEM = filepath.Join(b.work, "reload-crl.pem")
		if err := os.Rename(filepath.Join(pki, "crl.pem"), b.crl1MPEM); err != nil {
			return err
		}
	}
	return os.RemoveAll(dir)
}

// checkCRLs makes sure both CRLs verify against the intermediate and list every revocation.
func (b *caBench) checkCRLs(wscaPEM, osslPEM string, n int) error {
	inter, err := os.ReadFile(filepath.Join(b.tmpl, "ca.crt"))
	if err != nil {
		return err
	}
	cas, err := ca.ParseCertificates(inter)
	if err != nil {
		return err
	}
	for _, f := range []string{wscaPEM, osslPEM} {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		crls, err := crl.Parse(data, cas)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if got := crls[0].Revoked.Len(); got != n {
			return fmt.Errorf("%s lists %d revocations, want %d", f, got, n)
		}
	}
	return nil
}

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
