//go:build linux

package relay

import (
	"bytes"
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// maxIdleSessionHeap bounds the live Go heap of one parked WebSocket session in the relay (issue 15: ≤ 16 KiB of
// RSS per idle session, of which this heap is most). Measured with go1.26 here, for a client that presents its
// intermediate: 10.3 KiB; 14.6 KiB when crypto/tls keeps its handshake-time read buffers (releaseTLSReadBuffers),
// 13.7 KiB when every session keeps its own parse of the client's intermediate (shareBundleCerts), 17.3 KiB with
// neither and the read buffers inside the session. TestParkedSessionHoldsNoReadBuffer checks the read buffers
// themselves.
const maxIdleSessionHeap = 12 << 10

// TestIdleSessionMemory opens idle sessions through a relay in a child process and bounds the live heap each costs
// once parked: what a relay holding 100,000 idle WebSockets pays for each of them. A session that relayed a large
// message before it went idle costs no more than one that relayed a small one (crypto/tls keeps a buffer the size
// of the largest record it has read: released when the session parks).
func TestIdleSessionMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 600 TLS sessions")
	}
	for _, tt := range []struct {
		name     string
		n, size  int
		maxBytes float64
	}{
		{name: "small message", n: 300, size: 128, maxBytes: maxIdleSessionHeap},
		{name: "20 KiB message", n: 300, size: 20 << 10, maxBytes: maxIdleSessionHeap},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rc := startRelayChild(t)
			rc.openIdle(t, 1, tt.size) // warm the relay's verification cache and pools: counted once, not per session
			time.Sleep(100 * time.Millisecond)
			before := readMem(t, rc.debugAddr)
			rc.openIdle(t, tt.n, tt.size)
			time.Sleep(defaultIdleAfter + 500*time.Millisecond) // every direction parked
			after := readMem(t, rc.debugAddr)
			per := float64(after["heap_alloc"]-before["heap_alloc"]) / float64(tt.n)
			t.Logf("live heap per idle session: %.0f bytes (%d goroutines more for %d sessions)", per,
				after["goroutines"]-before["goroutines"], tt.n)
			if per > tt.maxBytes {
				t.Errorf("live heap per idle session %.0f bytes, want ≤ %.0f", per, tt.maxBytes)
			}
		})
	}
}

// TestClientIntermediateShared: an intermediate the client presents that is in the client CA bundle is, for an open
// session, the bundle's own parsed certificate, in the relay's record of the peer and in the *tls.Conn alike (no
// copy parsed per connection stays alive), and the session still relays and is still tracked for revocation.
func TestClientIntermediateShared(t *testing.T) {
	e := newEnv(t, nil)
	if len(e.pki.alice.Certificate) < 2 {
		t.Fatal("alice presents no intermediate")
	}
	c := e.mustDial("/secure", &e.pki.alice)
	echoOnce(t, c, "hello")
	own := e.srv.mat.Load().caByRaw[string(e.pki.inter.Cert.Raw)]
	if own == nil {
		t.Fatal("the intermediate is not in the bundle")
	}
	e.srv.mu.Lock()
	var sessions []*session
	for ss := range e.srv.sessions {
		sessions = append(sessions, ss)
	}
	e.srv.mu.Unlock()
	if len(sessions) != 1 {
		t.Fatalf("%d sessions, want 1", len(sessions))
	}
	ss := sessions[0]
	tlsCerts := ss.client.(*tls.Conn).ConnectionState().PeerCertificates
	if len(tlsCerts) != 2 || tlsCerts[1] != own || ss.tc.peer.presented[1] != own {
		t.Fatal("the session holds its own parse of the client's intermediate, not the bundle's")
	}
	if !bytes.Equal(tlsCerts[0].Raw, e.pki.alice.Certificate[0]) {
		t.Fatal("the leaf changed")
	}
	for _, ch := range ss.tc.peer.chains {
		for _, cert := range ch[1:] {
			if own, ok := e.srv.mat.Load().caByRaw[string(cert.Raw)]; !ok || own != cert {
				t.Fatalf("verified chain holds its own parse of %s", cert.Subject)
			}
		}
	}
	e.srv.mu.Lock()
	_, tracked := e.srv.conns[ss.tc]
	e.srv.mu.Unlock()
	if !tracked {
		t.Fatal("the connection is not tracked for revocation re-checks")
	}
}

// TestParkedSessionHoldsNoReadBuffer: once both directions of a session are parked, neither holds its small read
// buffer and the client's *tls.Conn holds no read buffer; woken by data, the session relays as before and parks
// again the same way.
func TestParkedSessionHoldsNoReadBuffer(t *testing.T) {
	if !tlsBuffers.ok {
		t.Skip("see TestTLSReadBuffersFound")
	}
	e := newEnv(t, nil) // parks after 20 ms
	c := e.mustDial("/secure", &e.pki.alice)
	e.srv.mu.Lock()
	var ss *session
	for s := range e.srv.sessions {
		ss = s
	}
	e.srv.mu.Unlock()
	if ss == nil {
		t.Fatal("no session")
	}
	for round := range 3 {
		echoOnce(t, c, strings.Repeat("x", 5000)) // more than a small buffer: the big one and larger TLS records
		e.waitMetric("relay_parked_directions 2")
		// Under the parker's mutex: a direction parks before taking it, and the next wake comes after it.
		e.srv.parker.mu.Lock()
		rawCap, _, handCap := readBufCaps(ss.client.(*tls.Conn))
		upSmall, downSmall := ss.up.small, ss.down.small
		e.srv.parker.mu.Unlock()
		if upSmall != nil || downSmall != nil || rawCap != 0 || handCap != 0 {
			t.Fatalf("round %d, parked: small buffers %d and %d bytes, TLS rawInput %d, hand %d; want none", round,
				len(upSmall), len(downSmall), rawCap, handCap)
		}
	}
}
