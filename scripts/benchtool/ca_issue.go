//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

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

// mapRuns returns f of every run in rs, in order.
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
	in, err := writeBatchInputs(dir, n, m)
	if err != nil {
		return err
	}
	for rep := range b.cfg.reps {
		rdir := filepath.Join(dir, fmt.Sprintf("rep%d", rep))
		rw, ro, err := b.batchRep(rep, rdir, in, n, m)
		if err != nil {
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
	return b.profileIssueFrom(dir, in.csv)
}

// batchInputs are the files both peers of issueBatch read: the CSV for wsca, the names for the openssl
// loop, and the loop script itself.
type batchInputs struct{ csv, names, loop string }

// writeBatchInputs writes into dir a CSV of n rows for `wsca issue --from`, the first m of those names for
// the openssl loop, and the loop script. It returns their paths, or the first write error.
func writeBatchInputs(dir string, n, m int) (batchInputs, error) {
	var csv, names strings.Builder
	csv.WriteString("name\n")
	for i := range n {
		fmt.Fprintf(&csv, "user%05d\n", i)
		if i < m {
			fmt.Fprintf(&names, "user%05d\n", i)
		}
	}
	in := batchInputs{csv: filepath.Join(dir, "rows.csv"), names: filepath.Join(dir, "names.txt"), loop: filepath.Join(dir, "openssl-loop.sh")}
	for p, c := range map[string]string{in.csv: csv.String(), in.names: names.String(), in.loop: opensslLoop} {
		if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
			return batchInputs{}, err
		}
	}
	return in, nil
}

// batchRep runs one repetition of issueBatch in rdir: a fresh copy of the CA for wsca and a fresh openssl
// CA, then wsca issuing n certificates and the openssl loop issuing m, in the order interleaved picks for
// rep. It checks that each peer wrote its certificates and returns both runs; rdir is left for the caller
// to remove.
func (b *caBench) batchRep(rep int, rdir string, in batchInputs, n, m int) (rw, ro Run, err error) {
	pki, outW, outO := filepath.Join(rdir, "pki"), filepath.Join(rdir, "out-wsca"), filepath.Join(rdir, "out-openssl")
	if err := b.cloneCA(pki); err != nil {
		return Run{}, Run{}, err
	}
	conf, err := newOpenSSLCA(filepath.Join(rdir, "ossl"), filepath.Join(b.tmpl, "intermediate.crt"), b.osslKey)
	if err != nil {
		return Run{}, Run{}, err
	}
	for _, d := range []string{outW, outO} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return Run{}, Run{}, err
		}
	}
	runW := func() (Run, error) {
		return b.meter.measure(b.ctx, Cmd{Args: b.wscaCmd(pki, "issue", "--from", in.csv, "--out", outW), Timeout: 20 * time.Minute})
	}
	runO := func() (Run, error) {
		return b.meter.measure(b.ctx, Cmd{Args: []string{"bash", in.loop}, Timeout: 60 * time.Minute,
			Env: []string{"OUT=" + outO, "CONF=" + conf, "PASS=" + b.pass, "NAMES=" + in.names}})
	}
	rw, ro, err = interleaved(rep, runW, runO)
	if err != nil {
		return Run{}, Run{}, err
	}
	if err := expectFiles(outW, ".crt", n); err != nil {
		return Run{}, Run{}, err
	}
	if err := expectFiles(outO, ".crt", m); err != nil {
		return Run{}, Run{}, err
	}
	return rw, ro, nil
}

// profileIssueFrom profiles `wsca issue --from` over the CSV at csvPath on a fresh copy of the CA under
// dir/profile, and removes that directory afterwards; b.profile notes its own failures, only
// the removal's error is returned.
func (b *caBench) profileIssueFrom(dir, csvPath string) error {
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

// expectFiles fails unless dir holds exactly n files ending in suffix.
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
