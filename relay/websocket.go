package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Relay buffers. An idle WebSocket costs no big buffer: each direction reads into a smallBufSize slice inside the
// session, and takes a pooled bigBufSize buffer only when a read fills the small one (more data is then almost
// certainly ready: the rest of a TLS record, or of a socket buffer) and only until that data is written.
const (
	smallBufSize = 256
	bigBufSize   = 32 << 10
)

// WebSocket close codes (RFC 6455 §7.4.1).
const (
	closeGoingAway       = 1001
	closePolicyViolation = 1008
)

// injectTimeout bounds the write of a frame the relay itself sends (close, ping).
const injectTimeout = 250 * time.Millisecond

// hopHeaders are the hop-by-hop header fields of RFC 9110 §7.6.1 (plus the legacy Proxy-Connection and Keep-Alive).
var hopHeaders = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func removeHopHeaders(h http.Header) {
	for _, v := range h.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if tok = strings.TrimSpace(tok); tok != "" {
				h.Del(tok)
			}
		}
	}
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// serveWebSocket relays a WebSocket opening handshake to the backend and, on 101, hijacks the client connection and
// hands both sides to a session. It does not use ReverseProxy's upgrade path, whose copier holds two 32 KiB
// buffers for each connection's whole life.
func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, rt *route, p *peer, remote netip.Addr,
	start time.Time) {
	bconn, err := rt.dial(r.Context())
	if err != nil {
		s.backendError(w, r, rt, err)
		s.access(r, p, rt, http.StatusBadGateway, start, 0, 0)
		return
	}
	bconn.SetDeadline(time.Now().Add(backendResponseTimeout)) //nolint:errcheck // a failed deadline shows on I/O
	// The handshake's buffers are pooled: a fresh request buffer grows by doubling to the ~3 KB of the identity
	// headers, and with the response reader that was ~16 KB of garbage per connection (GC time in handshakes).
	hb := s.hdrBufs.Get().(*bytes.Buffer)
	defer s.putHdrBuf(hb)
	s.upgradeRequest(hb, r, rt, p, remote)
	if _, err := bconn.Write(hb.Bytes()); err != nil {
		bconn.Close()
		s.backendError(w, r, rt, err)
		s.access(r, p, rt, http.StatusBadGateway, start, 0, 0)
		return
	}
	br := s.readers.Get().(*bufio.Reader)
	br.Reset(bconn)
	defer func() {
		br.Reset(nil)
		s.readers.Put(br)
	}()
	resp, err := http.ReadResponse(br, r)
	if err != nil {
		bconn.Close()
		s.backendError(w, r, rt, err)
		s.access(r, p, rt, http.StatusBadGateway, start, 0, 0)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The backend refused the upgrade (auth, 404…): pass its answer on.
		removeHopHeaders(resp.Header)
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		n, _ := io.Copy(w, resp.Body)
		resp.Body.Close()
		bconn.Close()
		s.access(r, p, rt, resp.StatusCode, start, 0, n)
		return
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		bconn.Close()
		s.backendError(w, r, rt, errors.New("backend answered 101 without Upgrade: websocket"))
		s.access(r, p, rt, http.StatusBadGateway, start, 0, 0)
		return
	}
	bconn.SetDeadline(time.Time{}) //nolint:errcheck
	removeHopHeaders(resp.Header)
	head := hb
	head.Reset()
	head.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")
	resp.Header.Write(head) //nolint:errcheck // bytes.Buffer does not fail
	head.WriteString("\r\n")
	var fromBackend []byte
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		fromBackend = bytes.Clone(b)
	}

	cconn, cbuf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		bconn.Close()
		s.log.Error("cannot hijack client connection", "remote", r.RemoteAddr, "error", err.Error())
		return
	}
	var fromClient []byte
	if n := cbuf.Reader.Buffered(); n > 0 {
		b, _ := cbuf.Reader.Peek(n)
		fromClient = bytes.Clone(b)
	}
	tc, _ := r.Context().Value(connKey{}).(*trackedConn)
	ss := &session{srv: s, tc: tc, client: cconn, backend: bconn, rt: rt, start: start,
		remote: r.RemoteAddr, path: r.URL.Path, cn: cnOf(p), serial: serialStr(p), ua: r.UserAgent()}
	ss.pending.Store(2)
	if !s.addSession(ss) {
		cconn.Close()
		bconn.Close()
		return
	}
	cconn.SetWriteDeadline(time.Now().Add(backendResponseTimeout)) //nolint:errcheck
	_, err = cconn.Write(head.Bytes())
	cconn.SetWriteDeadline(time.Time{}) //nolint:errcheck
	if err == nil && len(fromBackend) > 0 {
		err = ss.writeClient(fromBackend)
	}
	if err == nil && len(fromClient) > 0 {
		err = ss.writeBackend(fromClient)
	}
	if err != nil {
		ss.closing.Store(true)
		cconn.Close()
		bconn.Close()
		s.removeSession(ss)
		return
	}
	ss.start2()
}

func (s *Server) addSession(ss *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	if ss.tc != nil && !ss.tc.setSession(ss) {
		return false
	}
	s.sessions[ss] = struct{}{}
	s.sessWG.Add(2)
	s.metrics.activeSessions.Add(1)
	return true
}

// removeSession undoes addSession for a session whose relay never started.
func (s *Server) removeSession(ss *session) {
	s.mu.Lock()
	if _, ok := s.sessions[ss]; ok {
		delete(s.sessions, ss)
		s.metrics.activeSessions.Add(-1)
		s.sessWG.Add(-2) // neither direction ever ran
	}
	s.mu.Unlock()
}

// maxPooledHdrBuf bounds the handshake buffers kept for reuse: one grown by a huge request goes to the GC.
const maxPooledHdrBuf = 64 << 10

func (s *Server) putHdrBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledHdrBuf {
		b.Reset()
		s.hdrBufs.Put(b)
	}
}

// upgradeRequest writes into b the opening handshake for the backend: the client's request minus hop-by-hop and
// reserved headers, plus the identity headers.
func (s *Server) upgradeRequest(b *bytes.Buffer, r *http.Request, rt *route, p *peer, remote netip.Addr) {
	h := r.Header.Clone()
	removeHopHeaders(h)
	h.Del("Content-Length") // the handshake has no body (checked in ServeHTTP)
	setIdentity(h, p, remote, r.Host, rt.strip)
	host := rt.backend.Host
	if rt.cfg.PreserveHost {
		host = r.Host
	}
	u := url.URL{Path: rt.outboundPath(r.URL.Path), RawQuery: r.URL.RawQuery}
	b.WriteString("GET ")
	b.WriteString(u.RequestURI())
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(host)
	b.WriteString("\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n")
	h.Write(b) //nolint:errcheck // bytes.Buffer does not fail; Header.Write strips CR/LF from values
	b.WriteString("\r\n")
}

// dial connects to the route's backend, with TLS for wss:// and https://, within backendDialTimeout (the dialer's
// own timeout for TCP; a context deadline only when there is a TLS handshake to bound too).
func (rt *route) dial(ctx context.Context) (net.Conn, error) {
	if rt.secure {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, backendDialTimeout)
		defer cancel()
	}
	c, err := rt.dialer.DialContext(ctx, "tcp", rt.dialAddr)
	if err != nil {
		return nil, err
	}
	if !rt.secure {
		return c, nil
	}
	tc := tls.Client(c, rt.tlsConfig)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// session is one relayed WebSocket.
type session struct {
	srv     *Server
	tc      *trackedConn // nil only in tests that bypass the listener
	client  net.Conn     // the hijacked *tls.Conn
	backend net.Conn
	rt      *route
	start   time.Time
	remote  string
	path    string
	cn      string
	serial  string
	ua      string // the client's User-Agent, for the access line

	// wmu serializes writes to the client: relayed data and the frames the relay injects itself. frames tracks
	// where the server-to-client frame stream stands, so an injected frame never lands inside another frame.
	wmu    sync.Mutex
	frames frameTracker
	// bwmu and bframes do the same for writes to the backend, so that the relay can close it with a frame too.
	bwmu    sync.Mutex
	bframes frameTracker

	in, out atomic.Int64 // bytes from the client, bytes to the client
	last    atomic.Int64 // unix nanoseconds of the last byte either way (idle_timeout)
	heard   atomic.Bool  // the client sent something since the last ping
	closing atomic.Bool
	why     atomic.Pointer[string]
	pending atomic.Int32 // relay directions not yet done
	tmu     sync.Mutex
	idle    *time.Timer
	ping    *time.Timer
	pinged  bool      // guarded by tmu
	up      direction // client → backend
	down    direction // backend → client
	buf     [2 * smallBufSize]byte
}

// direction is one half of a session's relay. It runs in a goroutine while data flows; after Server.idleAfter
// without data it parks (see parker) and its goroutine ends, to be restarted when the socket becomes readable.
type direction struct {
	ss         *session
	src        net.Conn
	write      func([]byte) error
	small      []byte
	count      *atomic.Int64
	fromClient bool
	rc         syscall.RawConn // nil: never parks
	// raw is the socket of the source when readRaw can serve it: a plain TCP backend (ws://), or the client's TLS
	// connection through rawTLS.
	raw    syscall.RawConn
	rawTLS *trackedConn
	state  atomic.Int32 // dirRunning, dirParked, dirDone
	parkID atomic.Uint64
}

// start2 starts the two relay directions and the session's timers.
func (ss *session) start2() {
	now := time.Now()
	ss.last.Store(now.UnixNano())
	ss.tmu.Lock()
	if d := ss.rt.cfg.IdleTimeout.D(); d > 0 {
		ss.idle = time.AfterFunc(d, ss.checkIdle)
	}
	if d := ss.rt.cfg.PingInterval.D(); d > 0 {
		ss.ping = time.AfterFunc(d, ss.sendPing)
	}
	ss.tmu.Unlock()
	ss.up = direction{ss: ss, src: ss.client, write: ss.writeBackend, small: ss.buf[:smallBufSize], count: &ss.in,
		fromClient: true}
	ss.down = direction{ss: ss, src: ss.backend, write: ss.writeClient, small: ss.buf[smallBufSize:], count: &ss.out}
	if ss.srv.parker != nil {
		ss.up.rc, ss.down.rc = rawConnOf(ss.client), rawConnOf(ss.backend)
	}
	if _, ok := ss.backend.(*net.TCPConn); ok && rawReads {
		ss.down.raw = rawConnOf(ss.backend)
	}
	if _, ok := ss.client.(*tls.Conn); ok && ss.tc != nil && rawReads {
		if _, ok := ss.tc.Conn.(*net.TCPConn); ok {
			ss.up.raw, ss.up.rawTLS = rawConnOf(ss.tc.Conn), ss.tc
		}
	}
	go ss.up.run()
	go ss.down.run()
}

// run copies src to write until either fails, or until src stays idle and the direction parks.
func (d *direction) run() {
	ss := d.ss
	idleAfter := ss.srv.idleAfter
	var deadline time.Time // the read deadline in force while d.rc != nil
	var err error
	for {
		if d.rc != nil {
			// Moving the deadline costs a runtime timer update: do it only when less than half of idleAfter
			// is left, so a busy connection updates it rarely and an idle one parks after ½–1 idleAfter.
			if now := time.Now(); deadline.Sub(now) < idleAfter/2 {
				deadline = now.Add(idleAfter)
				d.src.SetReadDeadline(deadline) //nolint:errcheck // a failed deadline shows in Read
			}
		}
		var n int
		var rerr error
		if d.raw != nil {
			rerr = d.readRaw(&deadline)
		} else {
			n, rerr = d.src.Read(d.small)
		}
		if n == 0 && d.rc != nil && isTimeout(rerr) {
			// Idle. A timeout leaves crypto/tls usable (it is a temporary error; a partial record is kept),
			// and it only happens when TLS holds no complete record, so waiting on the socket is safe.
			d.src.SetReadDeadline(time.Time{}) //nolint:errcheck
			if d.park() {
				return
			}
			d.rc = nil // cannot park: block in Read from now on
			continue
		}
		if isTimeout(rerr) {
			rerr = nil
		}
		buf := d.small
		var bp *[]byte
		if n == len(d.small) && rerr == nil {
			bp = ss.srv.bufs.Get().(*[]byte)
			buf = *bp
			copy(buf, d.small)
			var m int
			m, rerr = d.src.Read(buf[n:])
			if isTimeout(rerr) {
				rerr = nil // the idle deadline: no more data for now
			}
			n += m
		}
		if n > 0 {
			err = d.relay(buf[:n])
		}
		if bp != nil {
			ss.srv.bufs.Put(bp)
		}
		if err == nil {
			err = rerr
		}
		if err != nil {
			break
		}
	}
	side := "backend"
	if d.fromClient {
		side = "client"
	}
	if errors.Is(err, io.EOF) {
		ss.setWhy(side + " closed")
	} else {
		ss.setWhy(side + ": " + err.Error())
	}
	d.state.Store(dirDone)
	ss.finish()
}

// relay accounts for p, read from the source, and writes it to the destination.
func (d *direction) relay(p []byte) error {
	ss := d.ss
	n := len(p)
	d.count.Add(int64(n))
	if d.fromClient {
		ss.heard.Store(true)
		ss.srv.metrics.bytesIn.Add(uint64(n))
	} else {
		ss.srv.metrics.bytesOut.Add(uint64(n))
	}
	if ss.idle != nil {
		ss.last.Store(time.Now().UnixNano())
	}
	return d.write(p)
}

// readRaw relays the source until it fails, ends, or (with a deadline) stays idle: the error says which, as
// d.src.Read would. It waits for the socket inside one RawConn.Read, so that a read which drained the socket (it
// returned less than asked) is followed by a wait for the next readiness edge instead of another read that could
// only fail with EAGAIN: one system call less per message and direction, the saving nginx makes too. Edges that
// arrive between a read and the wait are kept by the runtime's poller (only a new RawConn.Read or Read resets
// them), so no data is missed. A plain TCP source is read here with read(2); a TLS source through crypto/tls, whose
// reads of the socket land in trackedConn.Read in raw mode (see rawRead).
func (d *direction) readRaw(deadline *time.Time) error {
	ss := d.ss
	idleAfter := ss.srv.idleAfter
	var err error
	var fd uintptr
	drained := false
	read := func(p []byte) (int, error) { return rawRead(fd, p, &drained, d.src) }
	if tc := d.rawTLS; tc != nil {
		read = d.src.Read
		tc.raw = true
		defer func() { tc.raw = false }()
	}
	rerr := d.raw.Read(func(f uintptr) bool {
		fd, drained = f, false // called first, and after each readiness edge
		if tc := d.rawTLS; tc != nil {
			tc.rawFD, tc.drained = f, false
		}
		for {
			if d.rc != nil {
				if now := time.Now(); deadline.Sub(now) < idleAfter/2 {
					*deadline = now.Add(idleAfter)
					d.src.SetReadDeadline(*deadline) //nolint:errcheck // a failed deadline shows in the wait
				}
			}
			buf := d.small
			n, e := read(buf)
			var bp *[]byte
			if e == nil && n == len(buf) {
				// A full small buffer: more is almost certainly waiting; read it in one go.
				bp = ss.srv.bufs.Get().(*[]byte)
				buf = *bp
				copy(buf, d.small)
				m, e2 := read(buf[n:])
				n += m
				e = e2
			}
			if n > 0 {
				err = d.relay(buf[:n])
			}
			if bp != nil {
				ss.srv.bufs.Put(bp)
			}
			switch {
			case err != nil:
				return true
			case errors.Is(e, errDrained):
				return false // wait for the next edge
			case e != nil:
				err = e
				return true
			}
		}
	})
	if err != nil {
		return err
	}
	return rerr // the deadline, or the socket closed under the wait
}

// errDrained is what rawRead returns instead of reading a socket known to be empty, or when read(2) says EAGAIN.
// It is a temporary net.Error, so crypto/tls keeps its state (as it does on a deadline) and can be read again.
var errDrained error = drainedError{}

type drainedError struct{}

func (drainedError) Error() string   { return "relay: socket drained" }
func (drainedError) Timeout() bool   { return true }
func (drainedError) Temporary() bool { return true }

// park hands the socket to the parker and reports whether the goroutine may end.
func (d *direction) park() bool {
	d.state.Store(dirParked)
	id, err := d.ss.srv.parker.park(d.rc, d.wake)
	if err != nil {
		if !d.state.CompareAndSwap(dirParked, dirRunning) {
			return true // woken or unparked meanwhile (cannot happen without a registration, but be safe)
		}
		return false
	}
	d.parkID.Store(id)
	d.ss.srv.metrics.parked.Add(1)
	if d.ss.closing.Load() {
		d.unpark() // the session ended while this direction was parking
	}
	if d.state.Load() == dirDone {
		// unpark ran before parkID was stored and could not remove the registration: do it now.
		d.ss.srv.parker.unpark(id)
	}
	return true
}

// wake runs on the parker's goroutine when the socket is readable: restart the direction.
func (d *direction) wake() {
	if d.state.CompareAndSwap(dirParked, dirRunning) {
		d.ss.srv.metrics.parked.Add(-1)
		go d.run()
	}
}

// unpark ends a parked direction of a closing session.
func (d *direction) unpark() {
	if d.state.CompareAndSwap(dirParked, dirDone) {
		d.ss.srv.metrics.parked.Add(-1)
		if id := d.parkID.Load(); id != 0 {
			d.ss.srv.parker.unpark(id)
		}
		d.ss.finish()
	}
}

func (ss *session) writeBackend(p []byte) error {
	ss.bwmu.Lock()
	defer ss.bwmu.Unlock()
	n, err := ss.backend.Write(p)
	if err != nil {
		ss.bframes.broken = true
		return err
	}
	ss.bframes.feed(p[:n])
	return nil
}

func (ss *session) writeClient(p []byte) error {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	n, err := ss.client.Write(p)
	if err != nil {
		ss.frames.broken = true
		return err
	}
	ss.frames.feed(p[:n])
	return nil
}

func (ss *session) setWhy(why string) {
	ss.why.CompareAndSwap(nil, &why)
}

// closeConns closes both sides; directions blocked in Read fail at once, parked ones are ended here.
func (ss *session) closeConns() {
	ss.closing.Store(true)
	ss.backend.Close()
	ss.client.Close()
	ss.up.unpark()
	ss.down.unpark()
}

// finish runs when a relay direction is done: the first one closes both connections, which ends the other; the
// last one writes the access line.
func (ss *session) finish() {
	defer ss.srv.sessWG.Done()
	if ss.pending.Add(-1) > 0 {
		ss.closeConns()
		return
	}
	ss.tmu.Lock()
	if ss.idle != nil {
		ss.idle.Stop()
	}
	if ss.ping != nil {
		ss.ping.Stop()
	}
	ss.tmu.Unlock()
	s := ss.srv
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
	s.metrics.activeSessions.Add(-1)
	why := ""
	if p := ss.why.Load(); p != nil {
		why = *p
	}
	// LogAttrs: the same line as Info with key-value pairs, without boxing each value (one access line per session).
	s.log.LogAttrs(context.Background(), slog.LevelInfo, "access", slog.String("remote", ss.remote),
		slog.String("cn", ss.cn), slog.String("serial", ss.serial), slog.String("method", http.MethodGet),
		slog.String("route", ss.rt.cfg.Path), slog.String("path", ss.path),
		slog.Int("status", http.StatusSwitchingProtocols), slog.Float64("duration_ms", durationMS(ss.start)),
		slog.Int64("bytes_in", ss.in.Load()), slog.Int64("bytes_out", ss.out.Load()),
		slog.String("user_agent", ss.ua), slog.String("end", why))
}

// terminate ends the session on the relay's own initiative. When the server-to-client stream is at a frame
// boundary it first sends a close frame (RFC 6455 §5.5.1), so the client learns why; otherwise the TCP connection is
// simply closed, since a frame written mid-frame would corrupt the stream. The backend gets the same close frame
// under the same condition (closeBackend). Callers go through Server.cutConn or Server.cutSession.
func (ss *session) terminate(code uint16, reason string) {
	if !ss.closing.CompareAndSwap(false, true) {
		return
	}
	ss.setWhy("closed by relay: " + reason)
	graceful := false
	if ss.wmu.TryLock() {
		if ss.frames.atBoundary() {
			ss.client.SetWriteDeadline(time.Now().Add(injectTimeout)) //nolint:errcheck
			_, err := ss.client.Write(closeFrame(code, reason))
			graceful = err == nil
			ss.frames.broken = true // nothing may follow a close frame
		}
		ss.wmu.Unlock()
	}
	if graceful && ss.tc != nil {
		// FIN after the close frame, so that the frame is delivered even though the relay closes at once.
		if cw, ok := ss.tc.Conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite() //nolint:errcheck
		}
	}
	ss.closeBackend(code, reason)
	ss.backend.Close()
	if !graceful {
		if ss.tc != nil {
			ss.tc.Conn.Close() // under TLS: ends a blocked TLS read or write at once
		} else {
			ss.client.Close()
		}
	}
	// A parked direction has no goroutine to notice the closed sockets: end it here. A parked client side of a
	// graceful close is ended too: the close frame is sent, nothing more is relayed.
	ss.up.unpark()
	ss.down.unpark()
}

func (ss *session) checkIdle() {
	d := ss.rt.cfg.IdleTimeout.D()
	since := time.Since(time.Unix(0, ss.last.Load()))
	if since >= d {
		ss.srv.cutSession(ss, closeGoingAway, cutIdleTimeout, "idle timeout")
		return
	}
	ss.tmu.Lock()
	ss.idle.Reset(d - since)
	ss.tmu.Unlock()
}

// sendPing sends a ping (RFC 6455 §5.5.2) between frames and closes the session if the client sent nothing at all,
// not even the pong, during the whole previous interval.
func (ss *session) sendPing() {
	if ss.closing.Load() {
		return
	}
	ss.tmu.Lock()
	dead := ss.pinged && !ss.heard.Swap(false)
	ss.pinged = true
	ss.tmu.Unlock()
	if dead {
		ss.srv.cutSession(ss, closeGoingAway, cutPingTimeout, "no answer to ping")
		return
	}
	if ss.wmu.TryLock() {
		if ss.frames.atBoundary() {
			ss.client.SetWriteDeadline(time.Now().Add(injectTimeout)) //nolint:errcheck
			if _, err := ss.client.Write([]byte{0x89, 0x00}); err != nil {
				ss.frames.broken = true
			}
			ss.client.SetWriteDeadline(time.Time{}) //nolint:errcheck
		}
		ss.wmu.Unlock()
	}
	ss.tmu.Lock()
	ss.ping.Reset(ss.rt.cfg.PingInterval.D())
	ss.tmu.Unlock()
}

// closeFrame encodes an unmasked close frame (server to client, RFC 6455 §5.5.1) with a status code and a reason
// cut to fit a control frame's 125-byte payload.
func closeFrame(code uint16, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
	}
	f := make([]byte, 4, 4+len(reason))
	f[0] = 0x88 // FIN + opcode 8
	f[1] = byte(2 + len(reason))
	binary.BigEndian.PutUint16(f[2:], code)
	return append(f, reason...)
}

// frameTracker follows RFC 6455 §5.2 frame boundaries in a byte stream without buffering payloads: it reads each
// header (2 to 14 bytes) and then skips the payload length.
type frameTracker struct {
	remaining uint64 // payload bytes left in the current frame
	hdr       [14]byte
	hdrLen    int
	broken    bool // lost track (write error, bad length): never inject again
}

func (f *frameTracker) atBoundary() bool { return !f.broken && f.remaining == 0 && f.hdrLen == 0 }

func (f *frameTracker) feed(p []byte) {
	for len(p) > 0 && !f.broken {
		if f.remaining > 0 {
			n := uint64(len(p))
			if n > f.remaining {
				n = f.remaining
			}
			f.remaining -= n
			p = p[n:]
			continue
		}
		f.hdr[f.hdrLen] = p[0]
		f.hdrLen++
		p = p[1:]
		if f.hdrLen < 2 {
			continue
		}
		need := 2
		switch f.hdr[1] & 0x7f {
		case 126:
			need += 2
		case 127:
			need += 8
		}
		if f.hdr[1]&0x80 != 0 {
			need += 4 // masking key
		}
		if f.hdrLen < need {
			continue
		}
		var length uint64
		switch l := f.hdr[1] & 0x7f; l {
		case 126:
			length = uint64(binary.BigEndian.Uint16(f.hdr[2:4]))
		case 127:
			length = binary.BigEndian.Uint64(f.hdr[2:10])
			if length>>63 != 0 { // the most significant bit must be 0 (RFC 6455 §5.2)
				f.broken = true
				return
			}
		default:
			length = uint64(l)
		}
		f.remaining = length
		f.hdrLen = 0
	}
}
