package relay

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Limits on connections without a verified client certificate (issue 11 §1). Such a connection is "unverified"
// from its accept until VerifyConnection verifies a certificate on it; one that never presents a certificate stays
// unverified, "anonymous", for its whole life. Anonymous clients may use routes with require_client_cert: false,
// but they must not be able to lock certificate holders out:
//   - max_connections_per_address: an address holding that many unverified connections gets its next one closed
//     at accept (limit "per_address");
//   - reserved_connections: unverified connections may hold at most max_connections − reserved_connections; above
//     that, or when every slot is taken, the oldest unverified connection that is not serving a request or a
//     WebSocket is closed to make room (limit "reserved"). A connection whose TLS handshake a slow client drags out
//     is such a connection: it cannot hold a slot that a certificate holder needs;
//   - timeouts.anonymous_idle: an anonymous connection without a request in progress is closed after this long
//     (limit "anonymous_idle"), instead of the two minutes a certificate holder's keep-alive may idle;
//   - a refusal (400, 403, 404, 426) to a client without a certificate closes the connection (see refuse).
//
// Connections with a verified certificate are never closed by these limits.

// Limit labels of relay_connections_refused_total.
const (
	limitPerAddress    = "per_address"
	limitReserved      = "reserved"
	limitAnonymousIdle = "anonymous_idle"
)

// connLimits tracks the unverified connections of one listener.
type connLimits struct {
	srv           *Server
	perAddress    int           // max_connections_per_address (0: no limit)
	maxUnverified int           // max_connections − reserved_connections (0: no limit)
	anonIdle      time.Duration // timeouts.anonymous_idle

	mu         sync.Mutex
	byAddr     map[netip.Addr]int
	unverified map[*trackedConn]struct{}
}

// limitState is the part of a trackedConn that connLimits owns; guarded by connLimits.mu.
type limitState struct {
	lim        *connLimits // nil: the connection is not counted (verified, closed, or no limits)
	addr       netip.Addr
	accepted   time.Time
	busy       bool        // a request is being served, or the connection carries a WebSocket
	idle       *time.Timer // anonymous_idle
	unverified bool
}

func newConnLimits(s *Server, cfg *Config) *connLimits {
	l := &connLimits{srv: s, perAddress: cfg.MaxConnectionsPerAddress, anonIdle: cfg.Timeouts.AnonymousIdle.D(),
		byAddr: make(map[netip.Addr]int), unverified: make(map[*trackedConn]struct{})}
	if cfg.MaxConnections > 0 {
		l.maxUnverified = cfg.MaxConnections - cfg.ReservedConnections
	}
	return l
}

func addrOf(c net.Conn) netip.Addr {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// admit counts a freshly accepted connection as unverified. It reports false when the connection's address
// already holds max_connections_per_address unverified connections: the caller closes it.
func (l *connLimits) admit(tc *trackedConn) bool {
	addr := addrOf(tc.Conn)
	l.mu.Lock()
	if l.perAddress > 0 && l.byAddr[addr] >= l.perAddress {
		l.mu.Unlock()
		l.srv.metrics.refused(limitPerAddress)
		return false
	}
	l.byAddr[addr]++
	l.unverified[tc] = struct{}{}
	tc.lim = limitState{lim: l, addr: addr, accepted: time.Now(), unverified: true}
	over := l.maxUnverified > 0 && len(l.unverified) > l.maxUnverified
	l.mu.Unlock()
	if over {
		l.evict(tc)
	}
	return true
}

// evict closes the oldest unverified connection other than keep that is not busy, to give its slot to a
// certificate holder. It reports whether it closed one.
func (l *connLimits) evict(keep *trackedConn) bool {
	l.mu.Lock()
	var victim *trackedConn
	for tc := range l.unverified {
		if tc == keep || tc.lim.busy {
			continue
		}
		if victim == nil || tc.lim.accepted.Before(victim.lim.accepted) {
			victim = tc
		}
	}
	l.mu.Unlock()
	if victim == nil {
		return false
	}
	l.srv.metrics.refused(limitReserved)
	l.srv.log.Debug("connection without a certificate closed to keep slots for certificate holders",
		"remote", victim.RemoteAddr().String())
	victim.Close()
	return true
}

// verified takes a connection out of the unverified count: it presented a certificate that verified.
func (l *connLimits) verified(tc *trackedConn) { l.drop(tc) }

// drop stops counting tc (verified or closed). It is idempotent.
func (l *connLimits) drop(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !tc.lim.unverified {
		return
	}
	tc.lim.unverified = false
	delete(l.unverified, tc)
	if n := l.byAddr[tc.lim.addr] - 1; n > 0 {
		l.byAddr[tc.lim.addr] = n
	} else {
		delete(l.byAddr, tc.lim.addr)
	}
	if tc.lim.idle != nil {
		tc.lim.idle.Stop()
	}
}

// setBusy records whether an anonymous connection is serving a request (or carries a WebSocket) and arms or stops
// its anonymous_idle timer accordingly.
func (l *connLimits) setBusy(tc *trackedConn, busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tc.lim.busy = busy
	if !tc.lim.unverified || l.anonIdle <= 0 {
		return
	}
	switch {
	case busy && tc.lim.idle != nil:
		tc.lim.idle.Stop()
	case !busy && tc.lim.idle != nil:
		tc.lim.idle.Reset(l.anonIdle)
	case !busy:
		tc.lim.idle = time.AfterFunc(l.anonIdle, func() { l.idleExpired(tc) })
	}
}

func (l *connLimits) idleExpired(tc *trackedConn) {
	l.mu.Lock()
	expired := tc.lim.unverified && !tc.lim.busy
	l.mu.Unlock()
	if expired {
		l.srv.metrics.refused(limitAnonymousIdle)
		tc.Close()
	}
}

// connState follows the HTTP server's view of each connection: a request in progress (StateActive) or a
// hijacked WebSocket keeps an anonymous connection; an idle one (StateIdle) has anonymous_idle left.
func (s *Server) connState(c net.Conn, st http.ConnState) {
	tc := trackedOf(c)
	// tc.peer is set by the handshake, which ran on this same goroutine: a verified connection costs no lock here.
	if tc == nil || tc.lim.lim == nil || tc.peer != nil {
		return
	}
	switch st {
	case http.StateActive, http.StateHijacked:
		tc.lim.lim.setBusy(tc, true)
	case http.StateIdle:
		tc.lim.lim.setBusy(tc, false)
	}
}

// trackedOf returns the trackedConn under a connection of the relay's listener, or nil.
func trackedOf(c net.Conn) *trackedConn {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	t, _ := c.(*trackedConn)
	return t
}
