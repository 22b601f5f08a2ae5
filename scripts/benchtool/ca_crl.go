//go:build linux

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// sizeName writes n compactly for names and labels: 1M, 100k, 1500.
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

// crlSize benchmarks one CRL size n: it populates a copy of the CA and an openssl CA with n revocations,
// times both peers over b.cfg.reps repetitions, checks the first pair of CRLs and keeps the 1M crl.pem
// for reload.
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
