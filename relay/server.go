package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// maxHeaderBytes bounds request headers (http.Server's default is 1 MiB, far more than a WebSocket handshake).
const maxHeaderBytes = 32 << 10

// ErrServerClosed is returned by Serve and ListenAndServe when called after Shutdown.
var ErrServerClosed = errors.New("relay: server closed")

// Server is the mTLS-verifying WebSocket relay. Create it with New, run it with Serve or ListenAndServe, refresh it
// with Reload (also done automatically when a watched file changes) and stop it with Shutdown.
type Server struct {
	log     *slog.Logger
	metrics *metrics
	mat     atomic.Pointer[material]
	now     func() time.Time
	bufs    sync.Pool // *[]byte of bigBufSize, taken only while data flows
	hdrBufs sync.Pool // *bytes.Buffer for a WebSocket handshake's request to the backend and answer to the client
	readers sync.Pool // *bufio.Reader for a backend's handshake response

	files *loader // the configuration file as last read, the reload lock and the file watcher (reload.go)

	httpSrv    *http.Server
	metricsSrv *http.Server

	mu       sync.Mutex
	conns    map[*trackedConn]struct{} // connections with a verified client certificate
	sessions map[*session]struct{}     // relayed WebSockets
	closing  bool
	sessWG   sync.WaitGroup // relay directions not yet done (running or parked)
	parker   *parker        // waits on idle directions' sockets; nil before Serve or where unsupported
	// idleAfter is how long a relay direction waits in Read before parking (defaultIdleAfter; tests shorten it).
	idleAfter time.Duration

	startOnce sync.Once // Serve's first call starts the parker, the file watcher and the CRL poller

	crl *crlState // rollback watermark and, with a CRL URL, its poller (crlsource.go)
}

// New validates cfg, loads the server certificate and key, the client CA bundle and the CRL file (fail closed: any
// of them missing or invalid is an error), and returns a Server ready to Serve. It starts no goroutine and opens no
// socket, so `wsca serve --check` is New followed by discarding the Server — except that with a CRL URL it fetches
// the CRL once (falling back to the copy cached in state_dir). A CRL below the rollback watermark kept in state_dir
// (or next to the CRL file) is refused. A nil logger discards logs.
func New(cfg *Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		log:       logger,
		metrics:   newMetrics(),
		now:       time.Now,
		idleAfter: defaultIdleAfter,
		files:     newLoader(cfg.path),
		conns:     make(map[*trackedConn]struct{}),
		sessions:  make(map[*session]struct{}),
	}
	s.bufs.New = func() any { b := make([]byte, bigBufSize); return &b }
	s.hdrBufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }
	s.readers.New = func() any { return bufio.NewReaderSize(nil, 4096) }
	m, err := s.initCRL(cfg)
	if err != nil {
		return nil, err
	}
	s.prepare(m)
	s.mat.Store(m)
	s.logCRLState(m, slog.LevelInfo, "loaded")

	s.httpSrv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.Timeouts.ReadHeader.D(),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         s.connState,
		// No HTTP/2: WebSockets are relayed over HTTP/1.1 Upgrade (RFC 6455 §4), and ALPN offers only http/1.1.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if t := trackedOf(c); t != nil {
				return context.WithValue(ctx, connKey{}, t)
			}
			return ctx
		},
		// TLS handshake failures are logged by verifyConnection with their reason; the server's own line
		// for them is noise at the default level.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	return s, nil
}

type connKey struct{}

// prepare attaches what needs the server (logging, metrics) to a freshly loaded generation.
func (s *Server) prepare(m *material) {
	for _, rt := range m.routes {
		rt.proxy = &httputil.ReverseProxy{
			Rewrite:       s.rewrite(rt),
			Transport:     rt.transport,
			FlushInterval: -1,
			ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				s.proxyError(w, r, rt, err)
			},
		}
	}
}

// Serve accepts TLS connections on ln (a plain TCP listener: Serve adds TLS) until Shutdown. It starts the file
// watcher. Like http.Server.Serve it returns ErrServerClosed as soon as Shutdown begins (sessions may still be
// draining: wait for Shutdown to return before exiting), or the listener's error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		ln.Close()
		return ErrServerClosed
	}
	cfg := s.mat.Load().cfg
	ll := &limitListener{Listener: ln, srv: s, done: make(chan struct{}), handshake: cfg.Timeouts.Handshake.D(),
		limits: newConnLimits(s, cfg)}
	if cfg.MaxConnections > 0 {
		ll.sem = make(chan struct{}, cfg.MaxConnections)
	}
	s.startOnce.Do(func() {
		s.parker = newParker() // set before the first connection is accepted
		go s.watch()
		s.startCRLPoll()
	})
	err := s.httpSrv.Serve(tls.NewListener(ll, s.tlsConfig()))
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// ListenAndServe listens on the configured address (and serves /metrics on metrics_listen, if set) and calls Serve.
func (s *Server) ListenAndServe() error {
	cfg := s.mat.Load().cfg
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics on %s: %w", cfg.MetricsListen, err)
		}
		go s.ServeMetrics(mln) //nolint:errcheck // ends with Shutdown; errors are logged there
	}
	s.log.Info("relay listening", "addr", ln.Addr().String(), "routes", len(cfg.Routes))
	return s.Serve(ln)
}

// ServeMetrics serves the Prometheus text exposition at /metrics on ln (plain HTTP) until Shutdown.
func (s *Server) ServeMetrics(ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", s.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: maxHeaderBytes}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.metricsSrv = srv
	s.mu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return ErrServerClosed
	}
	return err
}

// Shutdown stops accepting connections, closes idle ones, lets plain requests finish and relayed WebSockets drain
// for up to shutdown_grace (or until ctx ends), then closes the remaining WebSockets (with close code 1001 going
// away where the stream allows, RFC 6455 §7.4.1) and every other connection. It returns when all relay goroutines
// have ended, or ctx's error if ctx ended before the grace period did.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	already := s.closing
	s.closing = true
	msrv := s.metricsSrv
	s.mu.Unlock()
	if already {
		return ErrServerClosed
	}
	s.startOnce.Do(func() { close(s.files.watchDone) }) // the watcher never started
	s.files.stopWatch()
	s.stopCRLPoll()

	grace := s.mat.Load().cfg.ShutdownGrace.D()
	gctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		s.httpSrv.Shutdown(gctx) //nolint:errcheck // the deadline is handled below
	}()
	s.log.Info("relay shutting down", "grace", grace.String(), "sessions", s.sessionCount())
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-gctx.Done():
			break wait
		case <-tick.C:
			select {
			case <-httpDone:
				if s.sessionCount() == 0 {
					break wait
				}
			default:
			}
		}
	}
	s.mu.Lock()
	remaining := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		remaining = append(remaining, sess)
	}
	s.mu.Unlock()
	for _, sess := range remaining {
		s.cutSession(sess, closeGoingAway, cutShutdown, "relay shutting down")
	}
	if len(remaining) > 0 {
		s.log.Info("relay closed sessions at the end of the grace period", "sessions", len(remaining))
	}
	s.httpSrv.Close()
	<-httpDone
	if msrv != nil {
		msrv.Close()
	}
	s.sessWG.Wait() // bounded: terminate closed every relayed connection and ended parked directions
	if s.parker != nil {
		s.parker.close()
	}
	for _, rt := range s.mat.Load().routes {
		rt.transport.CloseIdleConnections()
	}
	if ctx.Err() != nil {
		return fmt.Errorf("relay shutdown: %w", ctx.Err())
	}
	return nil
}

func (s *Server) sessionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}
