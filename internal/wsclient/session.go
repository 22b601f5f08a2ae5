package wsclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/wsca/wsca/internal/refusal"
)

// Session defaults.
const (
	// DefaultReplyTimeout bounds the wait for the echo of a single message, and the opening handshake.
	DefaultReplyTimeout = 10 * time.Second
	// maxMessage bounds a received message: Session prints echoes, not bulk data.
	maxMessage = 1 << 20
)

// ErrClosedByServer is wrapped by the error Session returns when the server ends the session before the client
// meant to (a close frame, a reset, or a refused opening handshake).
var ErrClosedByServer = errors.New("closed by the server")

// ClosedError reports how the server ended a session: with a close frame (Code and Reason, RFC 6455 §7.4), or
// without one (Code 0 and Err, for example a connection reset). It wraps ErrClosedByServer.
type ClosedError struct {
	Code   int
	Reason string
	Err    error
}

// Error returns, for example, "the relay closed the session: 1008 revoked" or "the relay closed the connection:
// connection reset".
func (e *ClosedError) Error() string {
	if e.Code != 0 {
		reason := e.Reason
		if reason == "" {
			reason = closeCodeName(e.Code)
		}
		return fmt.Sprintf("the relay closed the session: %d %s", e.Code, reason)
	}
	return "the relay closed the connection: " + describeNetErr(e.Err)
}

// Is makes errors.Is(err, ErrClosedByServer) true.
func (e *ClosedError) Is(target error) bool { return target == ErrClosedByServer }

// Unwrap returns the underlying network error, if any.
func (e *ClosedError) Unwrap() error { return e.Err }

// closeCodeName names the RFC 6455 §7.4.1 status codes a relay sends.
func closeCodeName(code int) string {
	switch code {
	case 1000:
		return "normal closure"
	case 1001:
		return "going away"
	case 1002:
		return "protocol error"
	case 1008:
		return "policy violation"
	case 1009:
		return "message too big"
	case 1011:
		return "internal error"
	}
	return "(no reason given)"
}

func describeNetErr(err error) string {
	switch {
	case err == nil:
		return "no close frame"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed without a close frame"
	}
	if code, ok := refusal.AlertOf(err); ok {
		return "TLS alert " + refusal.AlertName(code)
	}
	return err.Error()
}

// SessionOptions configure Session.
type SessionOptions struct {
	// TLS is the client TLS configuration (roots, client certificate); nil uses the system roots, no certificate.
	TLS *tls.Config
	// Message is sent once after the upgrade, then every Every if Every is set. Empty sends nothing.
	Message string
	// Every repeats Message at this interval; it needs For.
	Every time.Duration
	// For keeps the session open this long, then closes it normally (1000). Zero: close after the first echo (or
	// at once when there is no Message).
	For time.Duration
	// ReplyTimeout bounds the opening handshake and the wait for a single echo (default DefaultReplyTimeout).
	ReplyTimeout time.Duration
	// OnMessage is called, from one goroutine, with every message received.
	OnMessage func(msg []byte)
}

// Session opens a WebSocket to url (wss://, ws://, https:// or http://), sends opts.Message, and reports every
// message received to opts.OnMessage. With For it stays open that long (sending Message every Every) and then
// closes normally and returns nil; it is bounded by For (plus the close handshake) in every case. It returns a
// *ClosedError (wrapping ErrClosedByServer) when the server refuses the upgrade or ends the session first, and
// other errors for a failed connection or a missing echo.
func Session(ctx context.Context, url string, opts SessionOptions) error {
	if opts.Every > 0 && opts.For <= 0 {
		return errors.New("a repeated message (Every) needs a duration (For): the session must end")
	}
	if opts.Every < 0 || opts.For < 0 {
		return errors.New("the repeat interval and the session duration must not be negative")
	}
	if opts.ReplyTimeout <= 0 {
		opts.ReplyTimeout = DefaultReplyTimeout
	}
	if opts.OnMessage == nil {
		opts.OnMessage = func([]byte) {}
	}
	tr := &http.Transport{TLSClientConfig: opts.TLS, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	dctx, cancel := context.WithTimeout(ctx, opts.ReplyTimeout)
	c, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{HTTPClient: &http.Client{Transport: tr}})
	cancel()
	if err != nil {
		return dialError(url, resp, err)
	}
	defer c.CloseNow() //nolint:errcheck // after a normal Close this is a no-op
	c.SetReadLimit(maxMessage)

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	s := &session{c: c, opts: opts, ctx: sctx, stop: stop, got: make(chan struct{}, 1), readErr: make(chan error, 1)}
	go s.read()
	if err := s.send(); err != nil {
		return err
	}
	if opts.For == 0 {
		return s.awaitEcho(ctx)
	}
	return s.keepOpen(ctx)
}

// session is one open WebSocket of Session. One goroutine (read) receives; got says a message arrived and readErr
// carries the error that ended the reading, once.
type session struct {
	c       *websocket.Conn
	opts    SessionOptions
	ctx     context.Context // the session's: canceled by stop when it ends
	stop    context.CancelFunc
	got     chan struct{}
	readErr chan error
}

// read passes every message to OnMessage until the connection ends.
func (s *session) read() {
	for {
		_, msg, err := s.c.Read(s.ctx)
		if err != nil {
			s.readErr <- err
			return
		}
		s.opts.OnMessage(msg)
		select {
		case s.got <- struct{}{}:
		default:
		}
	}
}

// send writes Message, if there is one.
func (s *session) send() error {
	if s.opts.Message == "" {
		return nil
	}
	wctx, cancel := context.WithTimeout(s.ctx, s.opts.ReplyTimeout)
	defer cancel()
	if err := s.c.Write(wctx, websocket.MessageText, []byte(s.opts.Message)); err != nil {
		// The reader usually knows better why the connection is gone (a close frame from the server).
		select {
		case rerr := <-s.readErr:
			return readError(rerr)
		case <-time.After(200 * time.Millisecond):
			return readError(err)
		}
	}
	return nil
}

// finish closes the session normally and waits for the reader.
func (s *session) finish() error {
	s.c.Close(websocket.StatusNormalClosure, "") //nolint:errcheck // the session is over either way
	s.stop()
	<-s.readErr // bounded: Close ended the connection, and the reader with it
	return nil
}

// awaitEcho ends a session without For: after the first echo, or at once when nothing was sent.
func (s *session) awaitEcho(ctx context.Context) error {
	if s.opts.Message == "" {
		return s.finish()
	}
	t := time.NewTimer(s.opts.ReplyTimeout)
	defer t.Stop()
	select {
	case <-s.got:
		return s.finish()
	case err := <-s.readErr:
		return readError(err)
	case <-t.C:
		s.finish() //nolint:errcheck
		return fmt.Errorf("no echo within %s", s.opts.ReplyTimeout)
	case <-ctx.Done():
		s.finish() //nolint:errcheck
		return ctx.Err()
	}
}

// keepOpen holds the session for For, sending Message every Every, unless the server ends it first.
func (s *session) keepOpen(ctx context.Context) error {
	end := time.NewTimer(s.opts.For)
	defer end.Stop()
	var tick <-chan time.Time
	if s.opts.Every > 0 {
		t := time.NewTicker(s.opts.Every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-end.C:
			return s.finish()
		case <-tick:
			if err := s.send(); err != nil {
				return err
			}
		case err := <-s.readErr:
			return readError(err)
		case <-ctx.Done():
			s.finish() //nolint:errcheck
			return ctx.Err()
		}
	}
}

// readError turns the error that ended a session into a *ClosedError, or context errors as they are.
func readError(err error) error {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &ClosedError{Code: int(ce.Code), Reason: ce.Reason}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return err
	}
	return &ClosedError{Err: err}
}

// refusedError is a refused opening handshake; it matches ErrClosedByServer.
type refusedError string

func (e refusedError) Error() string        { return string(e) }
func (e refusedError) Is(target error) bool { return target == ErrClosedByServer }

// dialError explains a failed opening handshake: the HTTP answer if there was one, else the TLS alert.
func dialError(url string, resp *http.Response, err error) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		var body []byte
		if resp.Body != nil {
			// coder/websocket keeps the first KiB of the body for the caller.
			body, _ = io.ReadAll(io.LimitReader(resp.Body, 1024))
		}
		msg := refusal.SummarizeBody(bytes.TrimSpace(body))
		if msg == "" {
			msg = fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		} else if !strings.HasPrefix(msg, fmt.Sprint(resp.StatusCode)) {
			msg = fmt.Sprintf("%d %s", resp.StatusCode, msg)
		}
		return refusedError("the server refused the WebSocket upgrade: " + msg)
	}
	if code, ok := refusal.AlertOf(err); ok {
		what := "the server refused the TLS connection"
		switch code {
		case refusal.AlertCertificateRequired:
			what = "the server requires a client certificate"
		case refusal.AlertBadCertificate, refusal.AlertCertificateRevoked, refusal.AlertCertificateExpired, refusal.AlertUnknownCA, refusal.AlertCertificateUnknown:
			what = "the server refused the client certificate"
		}
		return refusedError(fmt.Sprintf("%s (TLS alert %s)", what, refusal.AlertName(code)))
	}
	return fmt.Errorf("connecting to %s: %w", url, err)
}
