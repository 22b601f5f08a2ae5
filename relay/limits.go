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
// but they must not be able to lock certificate holders out. An unverified connection is "idle" while it is in its
// TLS handshake or waiting for a request, "busy" while it serves a request or carries a WebSocket; only idle ones
// are ever closed by these limits, the oldest first:
//   - max_connections_per_address: an address may hold that many idle unverified connections; a new one closes
//     the address's oldest (limit "per_address"). Busy ones do not count, so anonymous users behind one NAT can
//     hold WebSockets, and a certificate holder behind the same address always gets to its handshake;
//   - reserved_connections: unverified connections may hold at most max_connections − reserved_connections; above
//     that, or when every slot is taken, the oldest idle unverified connection is closed to make room (limit
//     "reserved"). A handshake that a slow client drags out is such a connection. Busy ones cannot be closed, so
//     an anonymous request (or WebSocket upgrade) that would make more of them busy than the share is refused
//     with 503 instead (overShare; limit "reserved" too);
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
	idleByAddr map[netip.Addr]int // idle unverified connections per client address
	unverified map[*trackedConn]struct{}
	busy       int // busy unverified connections: they cannot be evicted
}

// limitState is the part of a trackedConn that connLimits owns; guarded by connLimits.mu.
type limitState struct {
	lim        *connLimits // nil: the connection is not counted (no limits: tests that bypass the listener)
	addr       netip.Addr
	accepted   time.Time
	busy       bool        // a request is being served, or the connection carries a WebSocket
	idle       *time.Timer // anonymous_idle
	unverified bool
}

func newConnLimits(s *Server, cfg *Config) *connLimits {
	l := &connLimits{srv: s, perAddress: cfg.MaxConnectionsPerAddress, anonIdle: cfg.Timeouts.AnonymousIdle.D(),
		idleByAddr: make(map[netip.Addr]int), unverified: make(map[*trackedConn]struct{})}
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

// admit counts a freshly accepted connection as unverified and idle, and closes older idle unverified
// connections where the new one passes max_connections_per_address or the unverified share.
func (l *connLimits) admit(tc *trackedConn) {
	addr := addrOf(tc.Conn)
	l.mu.Lock()
	l.idleByAddr[addr]++
	l.unverified[tc] = struct{}{}
	tc.lim = limitState{lim: l, addr: addr, accepted: time.Now(), unverified: true}
	overAddr := l.perAddress > 0 && l.idleByAddr[addr] > l.perAddress
	overShare := l.maxUnverified > 0 && len(l.unverified) > l.maxUnverified
	l.mu.Unlock()
	if overAddr {
		l.evict(tc, &addr, limitPerAddress)
	}
	if overShare {
		l.evict(tc, nil, limitReserved)
	}
}

// evict closes the oldest idle unverified connection other than keep (of address addr, when not nil), counting
// it under limit. It reports whether it closed one.
func (l *connLimits) evict(keep *trackedConn, addr *netip.Addr, limit string) bool {
	l.mu.Lock()
	var victim *trackedConn
	for tc := range l.unverified {
		if tc == keep || tc.lim.busy || addr != nil && tc.lim.addr != *addr {
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
	l.srv.metrics.refused(limit)
	l.srv.log.Debug("connection without a certificate closed", "limit", limit, "remote", victim.RemoteAddr().String())
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
	if tc.lim.busy {
		l.busy--
	} else {
		l.idleLeft(tc.lim.addr)
	}
	if tc.lim.idle != nil {
		tc.lim.idle.Stop()
	}
}

// idleLeft counts one idle unverified connection of addr less; l.mu is held.
func (l *connLimits) idleLeft(addr netip.Addr) {
	if n := l.idleByAddr[addr] - 1; n > 0 {
		l.idleByAddr[addr] = n
	} else {
		delete(l.idleByAddr, addr)
	}
}

// setBusy records whether an anonymous connection is serving a request (or carries a WebSocket) and arms or stops
// its anonymous_idle timer accordingly.
func (l *connLimits) setBusy(tc *trackedConn, busy bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !tc.lim.unverified {
		tc.lim.busy = busy
		return
	}
	switch {
	case busy && !tc.lim.busy:
		l.busy++
		l.idleLeft(tc.lim.addr)
	case !busy && tc.lim.busy:
		l.busy--
		l.idleByAddr[tc.lim.addr]++
	}
	tc.lim.busy = busy
	if l.anonIdle <= 0 {
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

// overShare reports whether more unverified connections are busy than the share they may hold: busy ones cannot be
// evicted, so without this check anonymous WebSockets on a public route could hold every slot. The request that
// finds it true is refused (503) and its connection closed.
func (l *connLimits) overShare() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.maxUnverified > 0 && l.busy > l.maxUnverified
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
