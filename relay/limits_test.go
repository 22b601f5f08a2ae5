package relay

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// limitsConfig: 16 slots of which 4 (the default quarter) are reserved for certificate holders, at most 4
// unverified connections per address.
func limitsConfig(s string) string {
	return "max_connections: 16\nmax_connections_per_address: 4\ntimeouts: {anonymous_idle: 700ms}\n" + s
}

// attacker opens connections to the relay from a loopback source address (Linux routes all of 127/8 to lo).
type attacker struct {
	t    *testing.T
	e    *testEnv
	mu   sync.Mutex
	open []net.Conn
}

func (a *attacker) dial(src string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", a.e.addr)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.open = append(a.open, c)
	a.mu.Unlock()
	return c, nil
}

// silent opens a TCP connection that never sends a ClientHello (a slow client).
func (a *attacker) silent(src string) { a.dial(src) } //nolint:errcheck // refused connections are the point

// keepAlive completes a TLS handshake without a certificate, makes one request to path and keeps the connection.
func (a *attacker) keepAlive(src, path string) {
	c, err := a.dial(src)
	if err != nil {
		return
	}
	tc := tls.Client(c, a.e.clientTLS(nil))
	tc.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck
	if tc.Handshake() != nil {
		return
	}
	fmt.Fprintf(tc, "GET %s HTTP/1.1\r\nHost: relay\r\n\r\n", path)
	if resp, err := http.ReadResponse(bufio.NewReader(tc), nil); err == nil {
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
	}
}

func (a *attacker) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, c := range a.open {
		c.Close()
	}
}

// run starts n attacks at once and waits (bounded) until they have all done their part.
func (a *attacker) run(n int, attack func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); attack(i) }()
	}
	wg.Wait()
	a.t.Cleanup(a.closeAll)
}

// certHolderDelay is how long alice needs from dial to her first echo.
func certHolderDelay(t *testing.T, e *testEnv) time.Duration {
	t.Helper()
	start := time.Now()
	c, _, err := e.dial("/secure", &e.pki.alice, nil)
	if err != nil {
		t.Fatalf("certificate holder refused after %v: %v", time.Since(start), err)
	}
	defer c.CloseNow() //nolint:errcheck
	echoOnce(t, c, "still here")
	return time.Since(start)
}

func metricsText(e *testEnv) string {
	rec := httptest.NewRecorder()
	e.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// metricValue returns the value of one series; a missing series fails the test.
func metricValue(t *testing.T, e *testEnv, series string) int64 {
	t.Helper()
	m := metricsText(e)
	for line := range strings.SplitSeq(m, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			var n int64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("metrics lack %s:\n%s", series, m)
	return 0
}

// TestAnonymousClientsCannotLockOutCertificateHolders (§1): anonymous keep-alives and slow clients, from one
// address and from many, hold every slot of max_connections today; a certificate holder must get through within
// a second.
func TestAnonymousClientsCannotLockOutCertificateHolders(t *testing.T) {
	t.Run("one address, keep-alives after 403 and 200", func(t *testing.T) {
		e := newEnv(t, limitsConfig)
		a := &attacker{t: t, e: e}
		a.run(24, func(i int) {
			path := "/secure" // 403: no certificate
			if i%2 == 0 {
				path = "/public-headers" // 200, keep-alive
			}
			a.keepAlive("127.0.0.2", path)
		})
		d := certHolderDelay(t, e)
		if d > time.Second {
			t.Fatalf("certificate holder delayed %v by 24 anonymous keep-alives from one address", d)
		}
		t.Logf("certificate holder connected and echoed in %v", d)
		if n := metricValue(t, e, `relay_connections_refused_total{limit="per_address"}`); n == 0 {
			t.Error("no connection counted as refused by the per-address limit")
		}
	})
	t.Run("the certificate holder's own address, slow handshakes and keep-alives", func(t *testing.T) {
		e := newEnv(t, limitsConfig)
		a := &attacker{t: t, e: e}
		a.run(24, func(i int) {
			if i%2 == 0 {
				a.silent("127.0.0.1")
			} else {
				a.keepAlive("127.0.0.1", "/public-headers")
			}
		})
		d := certHolderDelay(t, e) // from 127.0.0.1 too: a NAT shared with the attacker
		if d > time.Second {
			t.Fatalf("certificate holder delayed %v by anonymous clients from its own address", d)
		}
		t.Logf("certificate holder connected and echoed in %v", d)
	})
	t.Run("many addresses, slow handshakes and idle anonymous connections", func(t *testing.T) {
		e := newEnv(t, limitsConfig)
		a := &attacker{t: t, e: e}
		a.run(16*4, func(i int) {
			src := fmt.Sprintf("127.0.0.%d", 10+i/4)
			if i%2 == 0 {
				a.silent(src)
			} else {
				a.keepAlive(src, "/public-headers")
			}
		})
		d := certHolderDelay(t, e)
		if d > time.Second {
			t.Fatalf("certificate holder delayed %v by anonymous clients from 16 addresses", d)
		}
		t.Logf("certificate holder connected and echoed in %v", d)
		if n := metricValue(t, e, `relay_connections_refused_total{limit="reserved"}`); n == 0 {
			t.Error("no connection counted as closed for the reserved share")
		}
	})
}

// TestAnonymousWebSocketsCannotFillTheReserve (§1): anonymous WebSocket sessions on a public route are busy
// connections, which cannot be closed to make room; the relay refuses (503) the ones beyond the share of
// max_connections that connections without a certificate may hold, so a certificate holder still gets in.
func TestAnonymousWebSocketsCannotFillTheReserve(t *testing.T) {
	e := newEnv(t, limitsConfig)
	opened, refused := 0, 0
	for i := range 16 { // one after the other: each is busy before the next connects
		c, resp, err := e.dial("/public", nil, nil)
		switch {
		case err == nil:
			opened++
			t.Cleanup(func() { c.CloseNow() }) //nolint:errcheck
		case resp != nil && resp.StatusCode == http.StatusServiceUnavailable:
			refused++
		default:
			t.Fatalf("anonymous WebSocket %d: %v", i, err)
		}
	}
	if opened != 12 || refused != 4 {
		t.Errorf("%d anonymous WebSockets open and %d refused, want 12 (max_connections − reserved_connections) and 4",
			opened, refused)
	}
	d := certHolderDelay(t, e)
	if d > time.Second {
		t.Fatalf("certificate holder delayed %v by %d anonymous WebSockets", d, opened)
	}
	t.Logf("%d anonymous WebSockets open, %d refused with 503; certificate holder in %v", opened, refused, d)
	if n := metricValue(t, e, `relay_connections_refused_total{limit="reserved"}`); n == 0 {
		t.Error("no connection counted as refused for the reserved share")
	}
}

// TestAnonymousIdleAndCloseAfterRefusal (§1): a refusal to a client without a certificate closes the connection; an
// anonymous keep-alive is closed after timeouts.anonymous_idle, a certificate holder's is not.
func TestAnonymousIdleAndCloseAfterRefusal(t *testing.T) {
	e := newEnv(t, limitsConfig)
	request := func(cert *tls.Certificate, path string) (*tls.Conn, *http.Response) {
		t.Helper()
		c, err := tls.Dial("tcp", e.addr, e.clientTLS(cert))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second)) //nolint:errcheck
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: relay\r\n\r\n", path)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body) //nolint:errcheck
		resp.Body.Close()
		return c, resp
	}
	// closedWithin reports whether the server closes c within d.
	closedWithin := func(c *tls.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d)) //nolint:errcheck
		_, err := c.Read(make([]byte, 1))
		return err != nil && !isTimeout(err)
	}
	for _, path := range []string{"/secure", "/x/..;/y", "/public"} { // 403, 400, 426
		c, resp := request(nil, path)
		if resp.StatusCode < 400 || !resp.Close {
			t.Errorf("%s: status %d, Connection: close %v", path, resp.StatusCode, resp.Close)
		}
		if !closedWithin(c, time.Second) {
			t.Errorf("%s: connection left open after refusing a client without a certificate", path)
		}
	}
	anon, resp := request(nil, "/public-headers")
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("anonymous keep-alive: %d close=%v", resp.StatusCode, resp.Close)
	}
	cert, _ := request(&e.pki.alice, "/headers")
	start := time.Now()
	if !closedWithin(anon, 3*time.Second) {
		t.Fatal("anonymous keep-alive not closed after anonymous_idle")
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Errorf("anonymous keep-alive closed after %v, before anonymous_idle (700ms)", d)
	}
	if closedWithin(cert, 300*time.Millisecond) {
		t.Error("a certificate holder's keep-alive was closed with the anonymous ones")
	}
	e.waitMetric(`relay_connections_refused_total{limit="anonymous_idle"} 1`)
}
