//go:build linux

package main

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
)

// ReloadResult is what one CRL load cost, measured inside a fresh process.
type ReloadResult struct {
	Impl        string  `json:"impl"`
	Entries     int     `json:"entries"`
	WallMS      float64 `json:"wall_ms"`
	RetainedMiB float64 `json:"retained_mib"`    // live heap growth after a full GC: what the relay keeps
	PeakRSSMiB  float64 `json:"peak_rss_mib"`    // VmHWM growth during the load (peak reset first): what it needs
	TotalAllocM float64 `json:"total_alloc_mib"` // bytes allocated during the load
}

// runReloadChild loads one CRL file the way a relay reloads it and prints a ReloadResult as JSON.
// "wsca" is crl.Parse + crl.NewBundle (what wsca serve does); "stdlib" is what a relay built on the
// standard library would do: x509.ParseRevocationList, CheckSignatureFrom, then a map of serials.
func runReloadChild(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("reload-child", flag.ContinueOnError)
	impl := fs.String("impl", "wsca", "wsca or stdlib")
	crlFile := fs.String("crl", "", "CRL file (PEM, one or more CRLs)")
	caFile := fs.String("ca", "", "CA certificates (PEM) the CRLs are signed by")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*crlFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	issuers, err := ca.ParseCertificates(caPEM)
	if err != nil {
		return fmt.Errorf("reading %s: %w", *caFile, err)
	}
	load := map[string]func() (any, int, error){
		"wsca": func() (any, int, error) {
			crls, err := crl.Parse(data, issuers)
			if err != nil {
				return nil, 0, err
			}
			b := crl.NewBundle(crls)
			return b, b.Len(), nil
		},
		"stdlib": func() (any, int, error) { return stdlibLoad(data, issuers) },
	}[*impl]
	if load == nil {
		return fmt.Errorf("unknown -impl %q", *impl)
	}

	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	rss0, err := procStatusKiB("VmRSS")
	if err != nil {
		return err
	}
	// Writing 5 to clear_refs resets VmHWM (Linux ≥ 4.0), so the peak below is this load's alone.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	start := time.Now()
	kept, n, err := load()
	wall := time.Since(start)
	if err != nil {
		return err
	}
	hwm, err := procStatusKiB("VmHWM")
	if err != nil {
		return err
	}
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(kept)
	runtime.KeepAlive(data)
	return json.NewEncoder(stdout).Encode(ReloadResult{
		Impl: *impl, Entries: n, WallMS: ms(wall),
		RetainedMiB: float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / (1 << 20),
		PeakRSSMiB:  mib(hwm - rss0),
		TotalAllocM: float64(m1.TotalAlloc-m0.TotalAlloc) / (1 << 20),
	})
}

// stdlibLoad is the standard-library reload: every PEM block through x509.ParseRevocationList, the
// signature checked against the CA that issued it, the serials collected into a map for O(1) lookups.
// Only the map is kept; the parsed lists are garbage after the load (they still count in the peak).
func stdlibLoad(data []byte, issuers []*x509.Certificate) (any, int, error) {
	set := map[string]struct{}{}
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		rl, err := x509.ParseRevocationList(block.Bytes)
		if err != nil {
			return nil, 0, err
		}
		signed := false
		for _, is := range issuers {
			if bytes.Equal(is.RawSubject, rl.RawIssuer) && rl.CheckSignatureFrom(is) == nil {
				signed = true
			}
		}
		if !signed {
			return nil, 0, errors.New("CRL not signed by any given CA")
		}
		for _, e := range rl.RevokedCertificateEntries {
			set[string(e.SerialNumber.Bytes())] = struct{}{}
		}
	}
	return set, len(set), nil
}

// procStatusKiB reads one "Vm…: N kB" line of /proc/self/status.
func procStatusKiB(field string) (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status %s: %w", field, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("/proc/self/status has no %s", field)
}

// buildCRLFile writes a crl.pem shaped like wsca crl's — the intermediate's CRL with n entries, followed by
// the root CRL from the CA directory — signed with the intermediate key. It stands in for the output of a
// 1M-entry `wsca crl` when the run does not build the 1M database (quick mode).
func buildCRLFile(pkiDir string, pass []byte, n int, out string, now time.Time) error {
	certPEM, err := os.ReadFile(pkiDir + "/intermediate.crt")
	if err != nil {
		return err
	}
	certs, err := ca.ParseCertificates(certPEM)
	if err != nil {
		return err
	}
	keyPEM, err := os.ReadFile(pkiDir + "/intermediate.key")
	if err != nil {
		return err
	}
	key, err := ca.ParseKey(keyPEM, pass)
	if err != nil {
		return fmt.Errorf("opening the intermediate key: %w", err)
	}
	der, err := crl.Build(crl.Template{
		Number: bigOne(), ThisUpdate: now, NextUpdate: now.Add(7 * 24 * time.Hour), Issuer: certs[0], Signer: key,
	}, entries(n, now.Add(-time.Hour)))
	if err != nil {
		return err
	}
	rootCRL, err := os.ReadFile(pkiDir + "/root-crl.pem")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(crl.EncodePEM(der), rootCRL...), 0o644)
}
