package relay

import (
	"time"
)

// Reasons for which the relay itself ends a session, besides the Reason* constants of a certificate that is no
// longer valid (revoked, expired, unknown_ca, …): the reason label of relay_sessions_cut_total.
const (
	cutIdleTimeout = "idle_timeout"
	cutPingTimeout = "ping_timeout"
	cutShutdown    = "shutdown"
)

// cutConn ends a client connection on the relay's own initiative and is the one place that does so for a
// certificate reason (revocation, expiry, a CA no longer trusted, a policy that no longer admits it): it counts
// the cut under reason, writes one WARN line "session closed: <msg>" with the client's identity, and closes the
// connection. A WebSocket relayed on it gets a close frame with code (1008 policy violation for a certificate,
// 1001 going away otherwise) and msg as the reason on both sides, client and backend, where each stream is at a
// frame boundary (see session.terminate). attrs are added to the log line.
func (s *Server) cutConn(tc *trackedConn, code uint16, reason, msg string, attrs ...any) {
	s.metrics.cut(reason)
	args := []any{"remote", tc.RemoteAddr().String(), "cn", cnOf(tc.peer), "serial", serialStr(tc.peer),
		"reason", reason}
	s.log.Warn("session closed: "+msg, append(args, attrs...)...)
	tc.mu.Lock()
	ss := tc.sess
	tc.mu.Unlock()
	if ss != nil {
		ss.terminate(code, msg)
		return
	}
	// Closing the socket under the TLS layer ends any blocked read at once; the HTTP server then closes the
	// *tls.Conn, which lands here again and is a no-op.
	tc.Close()
}

// cutSession ends a relayed WebSocket for a reason of the session itself (idle, no pong, shutdown): counted under
// reason, closed with code and msg on both sides like cutConn. Its access line says why; no extra log line.
func (s *Server) cutSession(ss *session, code uint16, reason, msg string) {
	s.metrics.cut(reason)
	ss.terminate(code, msg)
}

// closeBackend sends the backend a close frame (RFC 6455 §5.5.1; masked, as a client's frames must be, §5.3) when
// the client-to-backend stream is at a frame boundary, so that the backend learns why the relay ends the session
// instead of seeing an abnormal closure (1006). It reports whether the frame was written. The caller closes the
// connection afterwards.
func (ss *session) closeBackend(code uint16, reason string) bool {
	if !ss.bwmu.TryLock() {
		return false // a relayed write is in progress: it may be mid-frame
	}
	defer ss.bwmu.Unlock()
	if !ss.bframes.atBoundary() {
		return false
	}
	ss.bframes.broken = true                                   // nothing may follow a close frame
	ss.backend.SetWriteDeadline(time.Now().Add(injectTimeout)) //nolint:errcheck // a failed deadline shows in Write
	_, err := ss.bw.Write(maskedCloseFrame(code, reason))
	return err == nil
}
