package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

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
func (s *Server) serveWebSocket(x *exchange) {
	// The handshake's buffers are pooled: a fresh request buffer grows by doubling to the ~3 KB of the identity
	// headers, and with the response reader that was ~16 KB of garbage per connection (GC time in handshakes).
	hb := s.hdrBufs.Get().(*bytes.Buffer)
	defer s.putHdrBuf(hb)
	br := s.readers.Get().(*bufio.Reader)
	defer func() {
		br.Reset(nil)
		s.readers.Put(br)
	}()
	bconn, resp, err := s.backendHandshake(x, hb, br)
	if err != nil {
		x.backendFailed(err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		// The backend refused the upgrade (auth, 404…): pass its answer on.
		removeHopHeaders(resp.Header)
		for k, v := range resp.Header {
			x.w.Header()[k] = v
		}
		x.w.WriteHeader(resp.StatusCode)
		n, _ := io.Copy(x.w, resp.Body)
		resp.Body.Close()
		bconn.Close()
		x.done(resp.StatusCode, 0, n)
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
	s.startSession(x, bconn, head.Bytes(), fromBackend)
}

// backendHandshake dials the route's backend, sends it the opening handshake built in hb and reads its answer
// through br: the connection and the answer, which is either not a 101 or a valid 101 with Upgrade: websocket.
// On an error the connection is closed.
func (s *Server) backendHandshake(x *exchange, hb *bytes.Buffer, br *bufio.Reader) (net.Conn, *http.Response,
	error) {
	bconn, err := x.rt.dial(x.r.Context())
	if err != nil {
		return nil, nil, err
	}
	bconn.SetDeadline(time.Now().Add(backendResponseTimeout)) //nolint:errcheck // a failed deadline shows on I/O
	s.upgradeRequest(hb, x.r, x.rt, x.p, x.remote)
	if _, err = bconn.Write(hb.Bytes()); err == nil {
		br.Reset(bconn)
		var resp *http.Response
		if resp, err = http.ReadResponse(br, x.r); err == nil {
			if resp.StatusCode != http.StatusSwitchingProtocols || headerHasToken(resp.Header, "Upgrade", "websocket") {
				return bconn, resp, nil
			}
			err = errors.New("backend answered 101 without Upgrade: websocket")
		}
	}
	bconn.Close()
	return nil, nil, err
}

// startSession hijacks the client connection, sends it the backend's 101 head and the bytes either side sent
// early, and starts the relay. Past the hijack there is no HTTP answer to give: a failure closes both sides.
func (s *Server) startSession(x *exchange, bconn net.Conn, head, fromBackend []byte) {
	r := x.r
	cconn, cbuf, err := http.NewResponseController(x.w).Hijack()
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
	ss := &session{srv: s, tc: x.tc, client: cconn, backend: bconn, rt: x.rt, start: x.start,
		remote: r.RemoteAddr, path: r.URL.Path, cn: cnOf(x.p), serial: serialStr(x.p), ua: r.UserAgent()}
	ss.pending.Store(2)
	ss.useSockets()
	if !s.addSession(ss) {
		cconn.Close()
		bconn.Close()
		return
	}
	cconn.SetWriteDeadline(time.Now().Add(backendResponseTimeout)) //nolint:errcheck
	_, err = cconn.Write(head)
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
