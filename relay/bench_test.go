package relay

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// helperEnv makes the test binary run a relay (see runRelayHelper) instead of the tests, so that the idle-memory
// benchmark measures the relay's process alone.
const helperEnv = "WSCA_RELAY_HELPER_CONFIG"

// runRelayHelper serves the relay configured at path on a loopback port, prints "relay ADDR debug ADDR", and
// answers GET /mem on the debug address with the process's memory after a GC. It exits when stdin closes.
func runRelayHelper(path string) {
	if os.Getenv("WSCA_RELAY_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	dln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Exit(1)
	}
	go srv.Serve(ln)                                                                   //nolint:errcheck
	go http.Serve(dln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { //nolint:errcheck,gosec
		runtime.GC()
		if r.URL.Path == "/heap" {
			pprof.Lookup("heap").WriteTo(w, 0) //nolint:errcheck
			return
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		samples := []rtmetrics.Sample{{Name: "/gc/scan/stack:bytes"}, {Name: "/gc/stack/starting-size:bytes"}}
		rtmetrics.Read(samples)
		rss := readRSS(os.Getpid())
		debug.FreeOSMemory() // the floor: what the background scavenger converges to
		fmt.Fprintf(w, "heap_inuse %d\nheap_alloc %d\nstack_inuse %d\ngoroutines %d\nrss %d\nstack_scanned %d\nstack_start %d\nrss_floor %d\n",
			ms.HeapInuse, ms.HeapAlloc, ms.StackInuse, runtime.NumGoroutine(), rss,
			samples[0].Value.Uint64(), samples[1].Value.Uint64(), readRSS(os.Getpid()))
	}))
	fmt.Printf("relay %s debug %s\n", ln.Addr(), dln.Addr())
	buf := make([]byte, 1)
	os.Stdin.Read(buf) //nolint:errcheck // returns when the parent closes the pipe
	os.Exit(0)
}

// readRSS returns VmRSS of pid in bytes, or 0.
func readRSS(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func readMem(b testing.TB, debugAddr string) map[string]int64 {
	resp, err := http.Get("http://" + debugAddr + "/mem")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 {
			out[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return out
}

// relayChild is a relay running in a child process (see runRelayHelper) in front of an in-process echo backend, so
// that the relay's own memory can be measured apart from its clients'.
type relayChild struct {
	env       *testEnv // addr and pki: dial through the child relay
	debugAddr string   // GET /mem, /heap
}

// startRelayChild starts the child relay; everything is stopped by the test's cleanup.
func startRelayChild(tb testing.TB) *relayChild {
	tb.Helper()
	p := getPKI(tb)
	dir := tb.TempDir()
	echo := httptest.NewServer(EchoBackend())
	tb.Cleanup(echo.Close)
	for name, data := range map[string][]byte{"server.crt": p.serverChainPEM, "server.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": p.crlPEM(tb)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	cfg := "listen: 127.0.0.1:0\ntls: {cert: server.crt, key: server.key}\nclient_ca: ca.crt\ncrl: crl.pem\n" +
		"routes: [{path: /, backend: 'ws://" + echo.Listener.Addr().String() + "'}]\n"
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"="+cfgPath)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stdin.Close(); cmd.Wait() }) //nolint:errcheck
	var relayAddr, debugAddr string
	if _, err := fmt.Fscanf(bufio.NewReader(stdout), "relay %s debug %s\n", &relayAddr, &debugAddr); err != nil {
		tb.Fatal(err)
	}
	return &relayChild{env: &testEnv{pki: p, addr: relayAddr}, debugAddr: debugAddr}
}

// openIdle opens n WebSockets through the child relay as alice (who presents her intermediate too), each relaying
// one echo of size bytes (at least 15), then silent; they are closed by the test's cleanup.
func (rc *relayChild) openIdle(tb testing.TB, n, size int) {
	tb.Helper()
	var open []*websocket.Conn
	tb.Cleanup(func() {
		for _, c := range open {
			c.CloseNow() //nolint:errcheck
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for range n {
		c, _, err := rc.env.dial("/x", &rc.env.pki.alice, nil)
		if err != nil {
			tb.Fatal(err)
		}
		open = append(open, c)
		if err := c.Write(ctx, websocket.MessageText, []byte("ping 128 bytes "+strings.Repeat("x", size-15))); err != nil {
			tb.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkIdleMemory opens idle WebSockets (one echo each, then silence) through a relay running in a child
// process and reports its memory per connection: Go heap+stacks in use after a GC, and RSS growth. The issue 5
// target is ≤ 30 KiB per idle connection (HAProxy's figure).
//
//	go test -run '^$' -bench IdleMemory -benchtime 1x ./relay
func BenchmarkIdleMemory(b *testing.B) {
	const conns = 1000
	rc := startRelayChild(b)
	debugAddr := rc.debugAddr
	time.Sleep(100 * time.Millisecond)
	before := readMem(b, debugAddr)
	rc.openIdle(b, conns, 128)
	time.Sleep(defaultIdleAfter + 500*time.Millisecond) // every connection idle long enough to park shallowly
	after := readMem(b, debugAddr)
	if prof := os.Getenv("WSCA_RELAY_HEAP_PROFILE"); prof != "" {
		if resp, err := http.Get("http://" + debugAddr + "/heap"); err == nil {
			f, _ := os.Create(prof)
			io.Copy(f, resp.Body) //nolint:errcheck
			f.Close()
			resp.Body.Close()
		}
	}
	goPer := float64(after["heap_inuse"]+after["stack_inuse"]-before["heap_inuse"]-before["stack_inuse"]) / conns
	b.ReportMetric(goPer/1024, "KiB-go/conn")
	b.ReportMetric(float64(after["heap_alloc"]-before["heap_alloc"])/conns/1024, "KiB-live/conn")
	b.ReportMetric(float64(after["rss"]-before["rss"])/conns/1024, "KiB-rss/conn")
	b.ReportMetric(float64(after["rss_floor"]-before["rss_floor"])/conns/1024, "KiB-rss-floor/conn")
	b.ReportMetric(float64(after["goroutines"]-before["goroutines"])/conns, "goroutines/conn")
	b.ReportMetric(float64(after["stack_inuse"]-before["stack_inuse"])/conns/1024, "KiB-stack/conn")
	b.ReportMetric(float64(after["stack_scanned"]-before["stack_scanned"])/conns, "B-stack-used/conn")
	b.Logf("initial goroutine stack %d bytes", after["stack_start"])
}

// BenchmarkVerifyClient measures the per-handshake verification: x509 chain building and signatures, depth, and
// the O(1) CRL lookups for every link of the chain.
func BenchmarkVerifyClient(b *testing.B) {
	p := getPKI(b)
	dir := b.TempDir()
	for name, data := range map[string][]byte{"s.crt": p.serverChainPEM, "s.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": p.crlPEM(b)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg := NewSimpleConfig("127.0.0.1:0", "ws://127.0.0.1:1", filepath.Join(dir, "s.crt"), filepath.Join(dir, "s.key"),
		filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem"))
	m, err := loadMaterial(cfg, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	chain := []*x509.Certificate{p.alice.Leaf, p.inter.Cert}
	now := time.Now()
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, rej := m.verifyClient(chain, now); rej != nil {
				b.Fatal(rej)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		cache := m.vcache
		m.vcache = nil
		defer func() { m.vcache = cache }()
		b.ReportAllocs()
		for b.Loop() {
			if _, rej := m.verifyClient(chain, now); rej != nil {
				b.Fatal(rej)
			}
		}
	})
}

// benchEnv starts an in-process relay for benchmarks (no goleak, no log).
func benchEnv(b *testing.B) (*testEnv, *httptest.Server, func()) {
	p := getPKI(b)
	dir := b.TempDir()
	echo := httptest.NewServer(EchoBackend())
	for name, data := range map[string][]byte{"s.crt": p.serverChainPEM, "s.key": p.serverKeyPEM,
		"ca.crt": p.caPEM, "crl.pem": p.crlPEM(b)} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	cfg := NewSimpleConfig("127.0.0.1:0", "ws://"+echo.Listener.Addr().String(), filepath.Join(dir, "s.crt"),
		filepath.Join(dir, "s.key"), filepath.Join(dir, "ca.crt"), filepath.Join(dir, "crl.pem"))
	srv, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln) //nolint:errcheck
	// direct: the same echo handler behind Go's own TLS with a required, verified client certificate.
	direct := httptest.NewUnstartedServer(EchoBackend())
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	direct.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pool, NextProtos: []string{"http/1.1"}}
	direct.StartTLS()
	return &testEnv{pki: p, addr: ln.Addr().String()}, direct, func() {
		srv.Shutdown(context.Background()) //nolint:errcheck
		direct.Close()
		echo.Close()
	}
}

// BenchmarkRTT measures one 128-byte WebSocket echo round trip through the relay and, for comparison, directly
// to a TLS echo server (client, relay and backends share the machine's cores).
func BenchmarkRTT(b *testing.B) {
	env, direct, stop := benchEnv(b)
	defer stop()
	msg := []byte(strings.Repeat("x", 128))
	run := func(b *testing.B, addr string) {
		env.addr = addr
		c, _, err := env.dial("/secure", &env.pki.alice, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.CloseNow() //nolint:errcheck
		ctx := context.Background()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				b.Fatal(err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	relayAddr := env.addr
	b.Run("relay", func(b *testing.B) { run(b, relayAddr) })
	b.Run("direct", func(b *testing.B) { run(b, direct.Listener.Addr().String()) })
}

// BenchmarkHandshake measures a new TLS (no resumption) + WebSocket connection with a client certificate, through
// the relay and directly to a Go TLS echo server that verifies the certificate itself.
func BenchmarkHandshake(b *testing.B) {
	env, direct, stop := benchEnv(b)
	defer stop()
	run := func(b *testing.B, addr string) {
		env.addr = addr
		for b.Loop() {
			c, _, err := env.dial("/secure", &env.pki.alice, nil)
			if err != nil {
				b.Fatal(err)
			}
			c.CloseNow() //nolint:errcheck
		}
	}
	relayAddr := env.addr
	b.Run("relay", func(b *testing.B) { run(b, relayAddr) })
	b.Run("direct", func(b *testing.B) { run(b, direct.Listener.Addr().String()) })
}
