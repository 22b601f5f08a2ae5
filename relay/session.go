package relay

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// injectTimeout bounds the write of a frame the relay itself sends (close, ping).
const injectTimeout = 250 * time.Millisecond

// session is one relayed WebSocket.
type session struct {
	srv     *Server
	tc      *trackedConn // nil only in tests that bypass the listener
	client  net.Conn     // the hijacked *tls.Conn
	backend net.Conn
	bw      io.Writer // writes to backend: a sockWriter for a plain TCP backend, else backend itself
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
}

// useSockets makes the session write to plain TCP sockets with sockWriter (the backend, and the client under
// TLS). It runs before the session is registered, so before anything else can write to either side.
func (ss *session) useSockets() {
	ss.bw = ss.backend
	if _, ok := ss.backend.(*net.TCPConn); ok {
		if w := socketWriter(ss.backend); w != nil {
			ss.bw = w
		}
	}
	if _, ok := ss.client.(*tls.Conn); ok && ss.tc != nil {
		if _, ok := ss.tc.Conn.(*net.TCPConn); ok {
			ss.tc.w = socketWriter(ss.tc.Conn)
		}
	}
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
	// Each direction's read buffer is its own, dropped while it is parked (see park).
	ss.up = direction{ss: ss, src: ss.client, write: ss.writeBackend, small: make([]byte, smallBufSize), count: &ss.in,
		fromClient: true}
	ss.down = direction{ss: ss, src: ss.backend, write: ss.writeClient, small: make([]byte, smallBufSize), count: &ss.out}
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

// writeBackend relays p to the backend; writeClient to the client. Each write is serialized with the frames the
// relay injects itself and fed to that stream's frame tracker.
func (ss *session) writeBackend(p []byte) error {
	return writeTracked(&ss.bwmu, ss.bw, &ss.bframes, p)
}

func (ss *session) writeClient(p []byte) error {
	return writeTracked(&ss.wmu, ss.client, &ss.frames, p)
}

// writeTracked writes p to c under mu and feeds what was written to f; a failed write leaves f broken (the stream's
// position is unknown: the relay never injects a frame into it again).
func writeTracked(mu *sync.Mutex, c io.Writer, f *frameTracker, p []byte) error {
	mu.Lock()
	defer mu.Unlock()
	n, err := c.Write(p)
	if err != nil {
		f.broken = true
		return err
	}
	f.feed(p[:n])
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
