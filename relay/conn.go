package relay

import (
	"crypto/x509"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// peer is the verified identity of a TLS client: what it presented and the chains that verified. It is written once,
// in VerifyConnection, before the connection serves any request, and never modified afterwards.
type peer struct {
	presented []*x509.Certificate
	chains    [][]*x509.Certificate // leaf … root; all within verify_depth and checked against the CRLs
}

func (p *peer) leaf() *x509.Certificate { return p.presented[0] }

// trackedConn is the TCP connection under each client *tls.Conn. It carries the handshake timeout, the verified
// peer, the max-connections slot, and the hooks that let the relay cut the connection when its certificate is
// revoked or expires.
type trackedConn struct {
	net.Conn
	srv     *Server
	release func() // frees the max_connections slot; nil when unlimited
	hsTimer *time.Timer
	// handshakeDone is set by VerifyConnection; the handshake timer leaves the connection alone after that.
	handshakeDone atomic.Bool

	peer *peer      // see peer: set during the handshake
	lim  limitState // see connLimits

	// raw mode: set by the session's client-to-backend direction while it waits in readRaw (the only reader of a
	// hijacked connection), Read then reads the socket rawFD itself; see rawRead.
	raw     bool
	rawFD   uintptr
	drained bool
	// w, when set (by the session, before its directions start), writes to the socket for crypto/tls; see
	// sockWriter.
	w io.Writer

	mu        sync.Mutex
	expiry    *time.Timer // fires at the certificate chain's earliest NotAfter
	sess      *session    // the WebSocket relayed on this connection, if any
	closed    bool
	closeOnce sync.Once
}

// Read reads from the connection; in raw mode (inside direction.readRaw) from the socket directly.
func (c *trackedConn) Read(p []byte) (int, error) {
	if c.raw {
		return rawRead(c.rawFD, p, &c.drained, c.Conn)
	}
	return c.Conn.Read(p)
}

// Write writes to the connection; through w when the session set one.
func (c *trackedConn) Write(p []byte) (int, error) {
	if c.w != nil {
		return c.w.Write(p)
	}
	return c.Conn.Write(p)
}

// Close closes the connection and releases everything tied to it. It is idempotent.
func (c *trackedConn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		err = c.Conn.Close()
		c.mu.Lock()
		c.closed = true
		if c.expiry != nil {
			c.expiry.Stop()
		}
		c.mu.Unlock()
		if c.hsTimer != nil {
			c.hsTimer.Stop()
		}
		c.srv.forget(c)
		if c.lim.lim != nil {
			c.lim.lim.drop(c)
		}
		c.srv.metrics.activeConns.Add(-1)
		if c.release != nil {
			c.release()
		}
	})
	return err
}

func (c *trackedConn) setSession(s *session) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sess = s
	return true
}

// limitListener hands out trackedConns and, with max_connections, keeps at most that many open: when every slot is
// taken, Accept closes a connection without a certificate if there is one (connLimits), else it waits with the
// connection it accepted until a slot frees, and excess clients queue in the kernel's backlog instead of costing
// memory here.
type limitListener struct {
	net.Listener
	srv       *Server
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	handshake time.Duration
	limits    *connLimits
}

func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, srv: l.srv}
	l.srv.metrics.activeConns.Add(1)
	l.limits.admit(tc)
	if l.sem != nil {
		select {
		case l.sem <- struct{}{}:
		default:
			l.limits.evict(tc, nil, limitReserved)
			select {
			case l.sem <- struct{}{}:
			case <-l.done:
				tc.Close()
				return nil, net.ErrClosed
			}
		}
		var once sync.Once
		tc.release = func() { once.Do(func() { <-l.sem }) }
	}
	// The HTTP server bounds the handshake with ReadHeaderTimeout; this separate timer enforces
	// timeouts.handshake (a slow-loris client that never finishes its ClientHello).
	tc.hsTimer = time.AfterFunc(l.handshake, func() {
		if tc.handshakeDone.Load() {
			return
		}
		tc.Conn.Close()
	})
	return tc, nil
}

func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}
