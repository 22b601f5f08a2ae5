//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"image/png"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/store"
)

func TestSummarize(t *testing.T) {
	tests := []struct {
		in   []float64
		want Summary
	}{
		{[]float64{3, 1, 2}, Summary{2, 1, 3}},
		{[]float64{4, 1, 3, 2}, Summary{2.5, 1, 4}},
		{[]float64{5, notMeasured, 1}, Summary{3, 1, 5}},
		{[]float64{7}, Summary{7, 7, 7}},
	}
	for _, tt := range tests {
		if got := summarize(tt.in); got != tt.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got := summarize([]float64{notMeasured}); !math.IsNaN(got.Median) {
		t.Errorf("summarize of nothing measured = %+v, want NaN", got)
	}
}

// Ratios are taken within a repetition, never across: a slow repetition of both peers cancels out.
func TestRatiosPerRepetition(t *testing.T) {
	m := newMetric("w", "wall", "s", true, "wsca", "peer")
	for _, v := range [][2]float64{{1, 10}, {2, 20}, {4, notMeasured}, {0.5, 6}} {
		m.add("wsca", v[0])
		m.add("peer", v[1])
	}
	got := m.ratios("peer")
	want := []float64{10, 10, 12}
	if len(got) != len(want) {
		t.Fatalf("ratios = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ratios = %v, want %v", got, want)
		}
	}
}

func TestVerdict(t *testing.T) {
	mk := func(target *Target, wsca, peer []float64) *Metric {
		m := newMetric("w", "wall", "ms", true, "wsca", "peer")
		m.Values["wsca"], m.Values["peer"] = wsca, peer
		if target != nil {
			m.target(target)
		}
		return m
	}
	tests := []struct {
		name string
		m    *Metric
		met  bool
	}{
		{"max met", mk(&Target{Kind: "max", Value: 50}, []float64{40, 60, 45}, nil), true},
		{"max missed", mk(&Target{Kind: "max", Value: 50}, []float64{55, 60, 45}, nil), false},
		{"ratio-min met", mk(&Target{Kind: "ratio-min", Value: 10, Peer: "peer"}, []float64{1, 2, 1}, []float64{11, 25, 9}), true},
		{"ratio-min missed", mk(&Target{Kind: "ratio-min", Value: 10, Peer: "peer"}, []float64{1, 2, 1}, []float64{5, 25, 9}), false},
		{"ratio-max met", mk(&Target{Kind: "ratio-max", Value: 0.87, Peer: "peer"}, []float64{100, 100, 100}, []float64{80, 90, 85}), true},
		{"not measured", mk(&Target{Kind: "max", Value: 50}, []float64{notMeasured}, nil), false},
	}
	for _, tt := range tests {
		met, detail, ok := tt.m.Verdict()
		if !ok || met != tt.met || detail == "" {
			t.Errorf("%s: Verdict() = %v, %q, %v; want met=%v", tt.name, met, detail, ok, tt.met)
		}
	}
	if _, _, ok := newMetric("w", "x", "s", true, "wsca").Verdict(); ok {
		t.Error("a metric without a target has a verdict")
	}
}

func TestResultsRoundTripAndTable(t *testing.T) {
	m := newMetric("crl (1M revoked)", "wall", "s", true, "wsca", "openssl ca -gencrl")
	m.target(&Target{Text: "≥ 10×", Kind: "ratio-min", Value: 10, Peer: "openssl ca -gencrl"})
	for i := range 3 {
		m.add("wsca", 1+float64(i)/10)
		m.add("openssl ca -gencrl", 15)
	}
	r := &Results{Mode: "quick", Reps: 3, Metrics: []*Metric{m}}
	path := filepath.Join(t.TempDir(), "results.json")
	if err := r.save(path); err != nil {
		t.Fatal(err)
	}
	back, err := loadResults(path)
	if err != nil {
		t.Fatal(err)
	}
	table := back.Table()
	for _, want := range []string{"| crl (1M revoked) | wall (s) | wsca | 1.1 [1–1.2]", "13.64× [12.50–15.00]", "met ("} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
}

func TestOpenSSLFormats(t *testing.T) {
	if got := opensslSerial(big.NewInt(0xabc)); got != "0ABC" {
		t.Errorf("opensslSerial = %q, want 0ABC", got)
	}
	at := time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)
	if got := opensslTime(at); got != "270102030405Z" {
		t.Errorf("opensslTime = %q", got)
	}
	ser := serials(1000, 7)
	if len(ser) != 1000 {
		t.Fatalf("serials: %d, want 1000", len(ser))
	}
	for i, s := range ser {
		if s.BitLen() != 127 {
			t.Fatalf("serial %x has %d bits, want 127 (16 octets, positive)", s, s.BitLen())
		}
		if i > 0 && ser[i-1].Cmp(s) >= 0 {
			t.Fatalf("serials not strictly ascending at %d", i)
		}
	}
	if again := serials(1000, 7); again[500].Cmp(ser[500]) != 0 {
		t.Error("serials are not reproducible from their seed")
	}
}

// TestPopulateMatchesOpenSSL builds the CRL fixture both ways — the wsca database through the store and
// an index.txt for real `openssl ca -gencrl` — and checks that the two CRLs list the same revocations.
func TestPopulateMatchesOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed")
	}
	dir := t.TempDir()
	now := time.Now().UTC()
	h, err := ca.NewHierarchy(rand.Reader, now, ca.HierarchyRequest{Name: "Bench Test", KeyType: "ecdsa-p256"})
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "inter.crt"), filepath.Join(dir, "inter.key")
	keyPEM, err := ca.MarshalKey(h.Intermediate.Key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, ca.EncodeCertificates(h.Intermediate.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "wsca.db")
	st, err := store.Create(dbPath, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conf, err := newOpenSSLCA(filepath.Join(dir, "ossl"), certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	got, err := populate(dbPath, filepath.Join(dir, "ossl", "index.txt"), n, h.Intermediate.Cert.Raw, now)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("populate added %d, want %d", got, n)
	}
	out := filepath.Join(dir, "crl.pem")
	if msg, err := exec.Command("openssl", "ca", "-gencrl", "-batch", "-config", conf, "-out", out).CombinedOutput(); err != nil {
		t.Fatalf("openssl ca -gencrl: %v\n%s", err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	crls, err := crl.Parse(data, []*x509.Certificate{h.Intermediate.Cert})
	if err != nil {
		t.Fatal(err)
	}
	st, err = store.Open(dbPath, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	count := 0
	err = st.ForEachRevokedEntry(store.ScopeIntermediate, func(serial *big.Int, at time.Time, reason store.Reason, _ time.Time) error {
		count++
		r, ok := crls[0].Revoked.Lookup(serial.Bytes())
		if !ok {
			t.Errorf("serial %x is in the database but not in openssl's CRL", serial)
			return nil
		}
		if r.Reason != int(reason) || !r.RevokedAt.Equal(at.Truncate(time.Second)) {
			t.Errorf("serial %x: openssl has %v/%d, database %v/%d", serial, r.RevokedAt, r.Reason, at, reason)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if count != n || crls[0].Revoked.Len() != n {
		t.Errorf("database has %d revocations, openssl's CRL %d, want %d", count, crls[0].Revoked.Len(), n)
	}
}

func TestPlot(t *testing.T) {
	m := newMetric("rtt", "msgs/s", "1/s", false, "wsca", "nginx", "direct")
	for range 3 {
		m.add("wsca", 50000)
		m.add("nginx", 40000)
		m.add("direct", 80000)
	}
	path := filepath.Join(t.TempDir(), "p.png")
	if err := writePlot(&Results{Mode: "quick", Reps: 3, Metrics: []*Metric{m}}, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 60 {
		t.Errorf("plot is %v, too small for two bars", b)
	}
	for r := range font5x7 {
		if g := font5x7[r]; len(g[0]) != 5 {
			t.Errorf("glyph %q is not 5 wide", r)
		}
	}
}
