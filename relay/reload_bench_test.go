//go:build unix

package relay

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"iter"
	"log/slog"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wsca/wsca/crl"
	"github.com/wsca/wsca/internal/testpki"
)

// bigCRLPEM returns a crl.pem whose intermediate CRL lists n serials (none of the test PKI's leaves, but dave)
// followed by the root's CRL (revoking inter2) and inter2's empty CRL, all numbered number.
func bigCRLPEM(tb testing.TB, p *testPKI, n int, number int64) []byte {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	entries := func(yield func(crl.Entry) bool) {
		if !yield(crl.Entry{Serial: p.dave.Leaf.SerialNumber, RevokedAt: now.Add(-time.Hour), Reason: 1}) {
			return
		}
		s, low := new(big.Int), new(big.Int)
		for i := range n - 1 {
			s.SetUint64(1<<63 | uint64(i+1))
			s.Lsh(s, 64)
			s.Or(s, low.SetUint64(uint64(i)*7919+1))
			if !yield(crl.Entry{Serial: s, RevokedAt: now.Add(-time.Hour), Reason: i % 6}) {
				return
			}
		}
	}
	signed, err := crl.Sign(crl.Template{Number: big.NewInt(number), ThisUpdate: now.Add(-time.Minute),
		NextUpdate: now.Add(24 * time.Hour), Issuer: p.inter.Cert, Signer: p.inter.Key}, iter.Seq[crl.Entry](entries))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := signed.WritePEMTo(&out); err != nil {
		tb.Fatal(err)
	}
	for _, ca := range []*testpki.CA{p.root, p.inter2} {
		var revoked []x509.RevocationListEntry
		if ca == p.root {
			revoked = []x509.RevocationListEntry{{SerialNumber: p.inter2.Cert.SerialNumber,
				RevocationTime: now.Add(-time.Hour), ReasonCode: 1}}
		}
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(number),
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(24 * time.Hour),
			RevokedCertificateEntries: revoked}, ca.Cert, ca.Key)
		if err != nil {
			tb.Fatal(err)
		}
		out.Write(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	}
	return out.Bytes()
}

// BenchmarkReload1M measures Server.Reload of a relay configured by file with a 1M-entry CRL, with 0 and 2,000
// open WebSocket sessions (each a verified client certificate to re-check and re-authorize): "new-crl" replaces
// crl.pem by a new 1M-entry CRL before each reload (a higher CRL number each time, so the watermark advances and
// its state file is written; built and written outside the timer), "unchanged" reloads with no file changed (a
// SIGHUP; an edit of relay.yaml costs the same). -benchtime=3x is enough: one reload takes about a second.
func BenchmarkReload1M(b *testing.B) {
	p := getPKI(b)
	for _, bc := range []struct {
		sessions int
		newCRL   bool
	}{{0, true}, {2000, true}, {0, false}, {2000, false}} {
		kind := map[bool]string{true: "new-crl", false: "unchanged"}[bc.newCRL]
		sessions := bc.sessions
		b.Run(fmt.Sprintf("%s/sessions=%d", kind, sessions), func(b *testing.B) {
			srv, dir, addr, stop := reloadBenchRelay(b, p)
			defer stop()
			env := &testEnv{pki: p, addr: addr}
			conns := make([]*websocket.Conn, 0, sessions)
			defer func() {
				for _, c := range conns {
					c.CloseNow() //nolint:errcheck
				}
			}()
			for i := range sessions {
				c, _, err := env.dial("/", &p.alice, nil)
				if err != nil {
					b.Fatalf("session %d: %v", i, err)
				}
				conns = append(conns, c)
			}
			crlPath := filepath.Join(dir, "crl.pem")
			number := time.Now().UnixNano()
			b.ReportAllocs()
			var cpu time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if bc.newCRL {
					number++
					writeAtomic(b, crlPath, bigCRLPEM(b, p, 1_000_000, number))
				}
				runtime.GC() // the previous iteration's garbage is not this reload's
				before := processCPU()
				b.StartTimer()
				if err := srv.Reload(); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - before
			}
			b.StopTimer()
			// The process's CPU (the reload, the GC it causes, whatever the open sessions do meanwhile) is steadier
			// than the wall time on a shared machine.
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			if n := srv.crl.rollbacks.Load(); n != 0 {
				b.Fatalf("%d rollbacks", n)
			}
			if got := srv.mat.Load().bundle.Len(); got != 1_000_001 {
				b.Fatalf("bundle holds %d serials, want 1000001", got)
			}
			srv.mu.Lock()
			open := len(srv.sessions)
			srv.mu.Unlock()
			if open != sessions {
				b.Fatalf("%d sessions open after the reloads, want %d", open, sessions)
			}
		})
	}
}

// reloadBenchRelay starts a relay from a configuration file (as `wsca serve` does) with a 1M-entry CRL, an echo
// backend on "/" and the file watcher off (the benchmark calls Reload itself).
func reloadBenchRelay(b *testing.B, p *testPKI) (*Server, string, string, func()) {
	dir := b.TempDir()
	echo := httptest.NewServer(EchoBackend())
	for name, data := range map[string][]byte{"s.crt": p.serverChainPEM, "s.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": bigCRLPEM(b, p, 1_000_000, time.Now().UnixNano()-1e9)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	yml := strings.ReplaceAll(`listen: 127.0.0.1:0
tls:
  cert: s.crt
  key: s.key
client_ca: ca.crt
crl: crl.pem
routes:
  - path: /
    backend: ws://{{echo}}
`, "{{echo}}", echo.Listener.Addr().String())
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := LoadConfig(cfgPath)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	// Serve's first call would start the file watcher, which would reload on its own when crl.pem is replaced:
	// do its start-up here without the watcher.
	srv.startOnce.Do(func() {
		srv.parker = newParker()
		close(srv.files.watchDone)
	})
	go srv.Serve(ln) //nolint:errcheck
	return srv, dir, ln.Addr().String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx) //nolint:errcheck
		echo.Close()
	}
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
