package relay

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"path"
	"strings"
	"sync/atomic"
	"time"
)

type reqInfoKey struct{}

// reqInfo carries what the ReverseProxy Rewrite hook needs from ServeHTTP.
type reqInfo struct {
	peer   *peer
	remote netip.Addr
	body   *countingBody // the client's request body, nil without one
}

// exchange is one request on its way through ServeHTTP: what every exit needs to answer and log it. Its exits are
// fail (a refusal the relay answers itself), backendFailed (502) and done (the access line of any other outcome).
type exchange struct {
	s      *Server
	w      http.ResponseWriter
	r      *http.Request
	tc     *trackedConn // nil only in tests that bypass the listener
	p      *peer        // nil: no client certificate
	rt     *route       // nil until a route matched
	remote netip.Addr
	start  time.Time
}

// ServeHTTP routes one request: path sanity, route match, per-request revocation re-check, route policy, then a
// WebSocket relay or a plain reverse-proxied request. Every refusal is answered with a short plain-text reason and
// logged with its exact reason.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{s: s, w: w, r: r, start: time.Now()}
	x.tc, _ = r.Context().Value(connKey{}).(*trackedConn)
	if x.tc != nil {
		x.p = x.tc.peer
	}
	x.remote = remoteAddr(r)
	if !x.admit(s.mat.Load()) {
		return
	}
	rt := x.rt
	switch {
	case isWebSocketUpgrade(r) && (r.ContentLength != 0 || len(r.TransferEncoding) > 0):
		// An opening handshake has no body (RFC 6455 §4.1); one with a body is an attempt to smuggle bytes.
		x.fail(http.StatusBadRequest, "bad_request", "WebSocket handshake with a body")
	case isWebSocketUpgrade(r):
		s.serveWebSocket(x)
	case headerHasToken(r.Header, "Connection", "upgrade"):
		x.fail(http.StatusBadRequest, "bad_request", "only WebSocket upgrades are relayed")
	case rt.cfg.IsWebSocketOnly():
		// RFC 9110 §15.5.22: 426 with the protocol to switch to.
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		x.fail(http.StatusUpgradeRequired, "", rt.cfg.Path+" accepts WebSocket connections only")
	default:
		s.serveProxy(x)
	}
}

// admit runs the checks every request passes before it is relayed — connection share, path, route, revocation,
// route policy — and sets x.rt. On a refusal it answers through fail and returns false.
func (x *exchange) admit(m *material) bool {
	s, r, p := x.s, x.r, x.p
	if p == nil && x.tc != nil && x.tc.lim.lim != nil && x.tc.lim.lim.overShare() {
		s.metrics.refused(limitReserved)
		x.fail(http.StatusServiceUnavailable, "limit_reserved", "too many connections without a client certificate")
		return false
	}
	if msg := checkRequestPath(r); msg != "" {
		x.fail(http.StatusBadRequest, "bad_request", msg)
		return false
	}
	if x.rt = m.match(r.URL.Path); x.rt == nil {
		x.fail(http.StatusNotFound, "no_route", "no route for this path")
		return false
	}
	rt := x.rt
	if msg := ambiguousPath(r.URL.Path); msg != "" && !rt.cfg.AllowAmbiguousPaths {
		x.fail(http.StatusBadRequest, "bad_request", msg)
		return false
	}
	if p != nil {
		// A keep-alive connection may outlive a reload: re-check it on every request, an O(1) lookup per CA.
		if rej := m.recheck(p, s.now(), false); rej != nil {
			rej.CN = cnOf(p)
			x.w.Header().Set("Connection", "close")
			s.logReject(r.RemoteAddr, rt.cfg.Path, rej)
			x.fail(http.StatusForbidden, "", "client certificate revoked")
			return false
		}
	}
	if reason, detail := rt.authorize(p, x.remote); reason != "" {
		s.logReject(r.RemoteAddr, rt.cfg.Path, &RejectError{Reason: reason, Subject: subjectOf(p), CN: cnOf(p),
			Serial: serialOf(p), Err: errors.New(detail)}, slog.String("path", r.URL.Path))
		s.metrics.policy(reason)
		msg := strings.ReplaceAll(reason, "_", " ")
		if reason == ReasonNoCertificate {
			msg = "client certificate required"
		}
		x.fail(http.StatusForbidden, "", msg)
		return false
	}
	return true
}

// fail answers status with a one-line plain-text body and writes the access line. A non-empty reason also logs
// the refusal with msg as its detail (refusals logged elsewhere, with their certificate, pass "").
func (x *exchange) fail(status int, reason, msg string) {
	r, w := x.r, x.w
	if reason != "" {
		x.s.log.Info("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "status", status, "reason", reason,
			"detail", msg)
	}
	if x.p == nil {
		// A client without a certificate gets its answer and loses the connection: a refused anonymous
		// keep-alive must not hold a slot (issue 11 §1).
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	n, _ := io.WriteString(w, fmt.Sprintf("%d %s: %s\n", status, http.StatusText(status), msg))
	x.done(status, 0, int64(n))
}

// backendFailed answers 502 for a backend that could not be reached or answered wrongly, and writes the access line.
func (x *exchange) backendFailed(err error) {
	x.s.backendError(x.w, x.r, x.rt, err)
	x.done(http.StatusBadGateway, 0, 0)
}

// done writes the access line of the finished request: in and out are the body bytes either way.
func (x *exchange) done(status int, in, out int64) {
	x.s.access(x.r, x.p, x.rt, status, x.start, in, out)
}

// checkRequestPath refuses request targets that could reach another route's backend after normalization there:
// dot segments, encoded slashes and backslashes, and anything but an absolute path.
func checkRequestPath(r *http.Request) string {
	p := r.URL.Path
	if r.Method == http.MethodConnect || !strings.HasPrefix(p, "/") || r.URL.Host != "" && r.URL.IsAbs() {
		return "request target must be an absolute path"
	}
	if strings.Contains(p, "\\") || strings.ContainsRune(p, 0) {
		return "invalid character in path"
	}
	cleaned := path.Clean(p)
	if strings.HasSuffix(p, "/") && cleaned != "/" {
		cleaned += "/"
	}
	if cleaned != p {
		return "path is not in canonical form"
	}
	if raw := strings.ToLower(r.URL.RawPath); strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") {
		return "encoded slash in path"
	}
	return ""
}

func remoteAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// logReject writes the rejection line: the reason, and the certificate that was refused, under the same keys as
// the access line (cn, serial) plus its full subject.
func (s *Server) logReject(remote, route string, rej *RejectError, extra ...any) {
	args := []any{"remote", remote, "reason", rej.Reason}
	if rej.CN != "" {
		args = append(args, "cn", rej.CN)
	}
	if route != "" {
		args = append(args, "route", route)
	}
	if rej.Subject != "" {
		args = append(args, "subject", rej.Subject)
	}
	if rej.Serial != nil {
		args = append(args, "serial", rej.Serial.Text(16))
	}
	if rej.Err != nil {
		args = append(args, "error", rej.Err.Error())
	}
	args = append(args, extra...)
	s.log.Warn("client rejected", args...)
}

// access writes the access line of a finished request or WebSocket session.
func (s *Server) access(r *http.Request, p *peer, rt *route, status int, start time.Time, in, out int64,
	extra ...any) {
	routePath := ""
	if rt != nil {
		routePath = rt.cfg.Path
	}
	args := []any{"remote", r.RemoteAddr, "cn", cnOf(p), "serial", serialStr(p), "method", r.Method,
		"route", routePath, "path", r.URL.Path, "status", status, "duration_ms", durationMS(start),
		"bytes_in", in, "bytes_out", out, "user_agent", r.UserAgent()}
	s.log.Info("access", append(args, extra...)...)
}

// durationMS is the time since start in milliseconds, a number in both log formats (microsecond precision), so
// that log pipelines can compare and sum it without parsing "1.5ms" or "2m3s".
func durationMS(start time.Time) float64 { return float64(time.Since(start).Microseconds()) / 1000 }

func cnOf(p *peer) string {
	if p == nil {
		return ""
	}
	return p.leaf().Subject.CommonName
}

func subjectOf(p *peer) string {
	if p == nil {
		return ""
	}
	return p.leaf().Subject.String()
}

func serialOf(p *peer) *big.Int {
	if p == nil {
		return nil
	}
	return p.leaf().SerialNumber
}

func serialStr(p *peer) string {
	if p == nil {
		return ""
	}
	return serialHex(p.leaf())
}

func serialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// backendError answers 502 and logs which backend failed.
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	s.metrics.backendErrors.Add(1)
	s.log.Error("backend unavailable", "backend", rt.cfg.Backend, "route", rt.cfg.Path, "path", r.URL.Path,
		"remote", r.RemoteAddr, "error", err.Error())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusBadGateway)
	io.WriteString(w, "502 Bad Gateway: backend unavailable\n") //nolint:errcheck // the client may be gone
}

// serveProxy relays a plain HTTP request through the route's ReverseProxy.
func (s *Server) serveProxy(x *exchange) {
	cw := &countingWriter{ResponseWriter: x.w}
	var in atomic.Int64
	var body *countingBody
	r := x.r
	if r.Body != nil && r.Body != http.NoBody {
		body = &countingBody{ReadCloser: r.Body, n: &in}
		r.Body = body
	}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, &reqInfo{peer: x.p, remote: x.remote, body: body}))
	x.rt.proxy.ServeHTTP(cw, r)
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	s.metrics.bytesIn.Add(uint64(in.Load()))
	s.metrics.bytesOut.Add(uint64(cw.n))
	x.r = r
	x.done(status, in.Load(), cw.n)
}

// rewrite builds the outbound request of a plain proxied request. ReverseProxy has already removed hop-by-hop
// headers (including any named in Connection) and X-Forwarded-*; setIdentity removes the rest of what the client
// must not set and adds the identity headers.
func (s *Server) rewrite(rt *route) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		info, _ := pr.In.Context().Value(reqInfoKey{}).(*reqInfo)
		scheme := "http"
		if rt.secure {
			scheme = "https"
		}
		pr.Out.URL.Scheme = scheme
		pr.Out.URL.Host = rt.backend.Host
		pr.Out.URL.Path = rt.outboundPath(pr.In.URL.Path)
		pr.Out.URL.RawPath = ""
		if rt.cfg.PreserveHost {
			pr.Out.Host = pr.In.Host
		} else {
			pr.Out.Host = ""
		}
		var p *peer
		var remote netip.Addr
		if info != nil {
			p, remote = info.peer, info.remote
		}
		setIdentity(pr.Out.Header, p, remote, pr.In.Host, rt.strip)
	}
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(code int) {
	if c.status == 0 && code >= 200 {
		c.status = code
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush on the underlying writer (ReverseProxy FlushInterval -1).
func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

type countingBody struct {
	io.ReadCloser
	n   *atomic.Int64
	err atomic.Pointer[error] // the first read error other than io.EOF: the client's body was bad or cut short
}

func (c *countingBody) Read(b []byte) (int, error) {
	n, err := c.ReadCloser.Read(b)
	c.n.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		c.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

// proxyError answers a proxied request that failed: 400 when reading the client's own body failed (a malformed
// chunked encoding, a body cut short) — the transport reports that as its own error, but the backend is not at
// fault — else 502 through backendError.
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, rt *route, err error) {
	// ReverseProxy wraps the body it hands to its ErrorHandler: the one serveProxy counts is in the context.
	if info, _ := r.Context().Value(reqInfoKey{}).(*reqInfo); info != nil && info.body != nil {
		if berr := info.body.err.Load(); berr != nil {
			s.log.Info("request refused", "remote", r.RemoteAddr, "path", r.URL.Path, "status", http.StatusBadRequest,
				"reason", "bad_request", "detail", "malformed request body: "+(*berr).Error())
			w.Header().Set("Connection", "close")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "400 Bad Request: malformed request body\n") //nolint:errcheck // the client may be gone
			return
		}
	}
	s.backendError(w, r, rt, err)
}

// isWebSocketUpgrade reports an RFC 6455 §4.1 opening handshake: GET with Connection: Upgrade and Upgrade: websocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header field holds token (case-insensitive, RFC 9110 §5.6.1).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}
