package relay

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxHeaderBytes bounds request headers (http.Server's default is 1 MiB, far more than a WebSocket handshake).
	maxHeaderBytes = 32 << 10
	// watchInterval is how often the file watcher stats the configuration, certificate, CA and CRL files: small
	// enough that a new CRL cuts a revoked session within one second, cheap enough (a few stat calls) to ignore.
	watchInterval = 250 * time.Millisecond
)

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

	configPath   string
	configDigest atomic.Pointer[[sha256.Size]byte]
	fileRestart  *restartOnly // the restart-only settings as last read from configPath (guarded by reloadMu)

	httpSrv    *http.Server
	metricsSrv *http.Server

	reloadMu sync.Mutex // one reload at a time

	mu       sync.Mutex
	conns    map[*trackedConn]struct{} // connections with a verified client certificate
	sessions map[*session]struct{}     // relayed WebSockets
	closing  bool
	sessWG   sync.WaitGroup // relay directions not yet done (running or parked)
	parker   *parker        // waits on idle directions' sockets; nil before Serve or where unsupported
	// idleAfter is how long a relay direction waits in Read before parking (defaultIdleAfter; tests shorten it).
	idleAfter time.Duration

	watchOnce sync.Once
	watchStop chan struct{}
	watchDone chan struct{}

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
		log:        logger,
		metrics:    newMetrics(),
		now:        time.Now,
		idleAfter:  defaultIdleAfter,
		configPath: cfg.path,
		conns:      make(map[*trackedConn]struct{}),
		sessions:   make(map[*session]struct{}),
		watchStop:  make(chan struct{}),
		watchDone:  make(chan struct{}),
	}
	s.bufs.New = func() any { b := make([]byte, bigBufSize); return &b }
	s.hdrBufs.New = func() any { return bytes.NewBuffer(make([]byte, 0, 4096)) }
	s.readers.New = func() any { return bufio.NewReaderSize(nil, 4096) }
	if s.configPath != "" {
		if data, err := os.ReadFile(s.configPath); err == nil {
			d := sha256.Sum256(data)
			s.configDigest.Store(&d)
			if fc, err := ParseConfig(data, filepath.Dir(s.configPath)); err == nil {
				r := restartOf(fc)
				s.fileRestart = &r
			}
		}
	}
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

// tlsConfig is the listener's TLS configuration. Every handshake gets its own tls.Config from GetConfigForClient,
// built from the current generation, so a reload swaps certificate, client CAs and CRLs without touching the
// listener, and VerifyConnection knows which connection it verifies. Session tickets stay valid across reloads:
// crypto/tls keys them from this base configuration.
func (s *Server) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			tc, _ := hello.Conn.(*trackedConn)
			m := s.mat.Load()
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   []string{"http/1.1"},
				Certificates: m.cert,
				CipherSuites: m.ciphers, // TLS 1.2 only; see DefaultCipherSuites
				// Request, never require, at the handshake: each route decides in HTTP whether it needs a
				// certificate. Asking later (TLS 1.3 post-handshake auth) breaks Chromium and Node.js.
				ClientAuth: tls.RequestClientCert,
				ClientCAs:  m.clientCAs,
				VerifyConnection: func(cs tls.ConnectionState) error {
					return s.verifyConnection(tc, cs)
				},
			}, nil
		},
	}
}

// verifyConnection runs on every handshake, full or resumed (crypto/tls calls VerifyConnection in both cases,
// VerifyPeerCertificate only on full ones): a session ticket issued before a revocation is refused here.
func (s *Server) verifyConnection(tc *trackedConn, cs tls.ConnectionState) error {
	if tc == nil {
		return errors.New("relay: connection not accepted by the relay listener")
	}
	tc.handshakeDone.Store(true)
	if tc.hsTimer != nil {
		tc.hsTimer.Stop() // set in Accept, before the handshake started
	}
	if len(cs.PeerCertificates) == 0 {
		s.metrics.handshake("ok", "none")
		if tc.lim.lim != nil {
			tc.lim.lim.setBusy(tc, false) // anonymous: timeouts.anonymous_idle until its first request
		}
		return nil
	}
	m := s.mat.Load()
	now := s.now()
	chains, rej := m.verifyClient(cs.PeerCertificates, now)
	if rej != nil {
		s.metrics.handshake("rejected", rej.Reason)
		s.logReject(tc.RemoteAddr().String(), "", rej, slog.Bool("resumed", cs.DidResume))
		return rej
	}
	if next := m.bundle.NextUpdate(); !now.Before(next) {
		s.log.Warn("CRL past its nextUpdate: accepted within crl_grace", "next_update", next,
			"overdue", now.Sub(next).Round(time.Second).String(), "serial", serialHex(cs.PeerCertificates[0]))
	}
	tc.peer = &peer{presented: cs.PeerCertificates, chains: chains}
	s.track(tc, now)
	if cur := s.mat.Load(); cur != m {
		// A reload swapped generations during this handshake, possibly after its re-check of registered
		// connections had taken its snapshot: verify against the new generation too. (Registration happens
		// before this load, and a reload stores the generation before its snapshot, so one of the two checks
		// sees the new CRL.)
		if _, rej := cur.verifyClient(cs.PeerCertificates, now); rej != nil {
			s.metrics.handshake("rejected", rej.Reason)
			s.logReject(tc.RemoteAddr().String(), "", rej, slog.Bool("resumed", cs.DidResume))
			return rej
		}
	}
	s.noteLegacyEKU(tc, cs.PeerCertificates[0])
	if tc.lim.lim != nil {
		tc.lim.lim.verified(tc) // no longer subject to the limits on connections without a certificate
	}
	outcome := "ok"
	if cs.DidResume {
		outcome = "resumed"
	}
	s.metrics.handshake(outcome, "certificate")
	return nil
}

// track registers a connection with a verified certificate, so reloads re-check it, and arms its expiry timer.
func (s *Server) track(tc *trackedConn, now time.Time) {
	notAfter := tc.peer.leaf().NotAfter
	for _, c := range tc.peer.chains[0] {
		if c.NotAfter.Before(notAfter) {
			notAfter = c.NotAfter
		}
	}
	s.mu.Lock()
	s.conns[tc] = struct{}{}
	s.mu.Unlock()
	tc.mu.Lock()
	if !tc.closed {
		tc.expiry = time.AfterFunc(notAfter.Sub(now), func() {
			s.cutConn(tc, closePolicyViolation, ReasonExpired, "client certificate expired", "not_after", notAfter)
		})
	}
	tc.mu.Unlock()
}

func (s *Server) forget(tc *trackedConn) {
	s.mu.Lock()
	delete(s.conns, tc)
	s.mu.Unlock()
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
	s.watchOnce.Do(func() {
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
	s.watchOnce.Do(func() { close(s.watchDone) }) // the watcher never started
	close(s.watchStop)
	<-s.watchDone
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

// Reload re-reads the configuration file (when the Server was built from LoadConfig), the server certificate and
// key, the client CA bundle and the CRL file, and swaps them in without dropping connections. Open sessions are then
// re-checked: one whose certificate (or a CA above it) is now revoked is closed, as is, after a change of the client
// CA bundle, one whose chain no longer verifies; every open WebSocket is then re-authorized against the route that
// now matches its path, and closed if that route refuses it or is gone (reauth.go). A CRL older than one already
// accepted is refused (the current CRL stays, the rest of the reload applies; crlsource.go). A file that does not
// load leaves the previous generation in force;
// an invalid configuration file is reported but does not block the reload of the other files with the last good
// configuration (a broken edit must not stop a new CRL). Errors are logged, counted and returned. The settings
// of restartOnlyNames need a restart to change (warnRestartOnly says so).
// The command layer calls Reload on SIGHUP; the file watcher calls it when a file changes.
func (s *Server) Reload() error { return s.reload(nil) }

// reload is Reload with, from the CRL URL's poller, a newly downloaded CRL body (nil: the CRL in force, or the
// CRL file). It returns an error when that body was refused (verification or rollback): the poller counts it.
func (s *Server) reload(offered []byte) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	start := time.Now()
	old := s.mat.Load()
	cfg := old.cfg
	var digest *[sha256.Size]byte
	var cfgErr error
	if s.configPath != "" {
		// A broken configuration file must not block the other reloads (above all a new CRL): it is reported
		// and the last good configuration is used with freshly read certificate, CA and CRL files.
		data, err := os.ReadFile(s.configPath)
		if err == nil {
			d := sha256.Sum256(data)
			digest = &d
			var next *Config
			if next, err = ParseConfig(data, filepath.Dir(s.configPath)); err == nil {
				next.path = s.configPath
				cfg = next
			}
		}
		if err != nil {
			cfgErr = fmt.Errorf("%s: %w", s.configPath, err)
			s.metrics.reload("error")
			s.log.Error("relay config rejected, keeping the previous one", "error", err.Error())
		} else {
			// Settings bound to the listeners stay as running (including command-line overrides); say so
			// only when the file really changed them.
			fr := restartOf(cfg)
			s.warnRestartOnly(s.fileRestart, fr, old.cfg)
			s.fileRestart = &fr
			keepRestartOnly(cfg, old.cfg)
			s.keepCRLSource(old.cfg, cfg)
		}
	}
	m, err := loadMaterialFrom(cfg, s.now(), s.crlBody(offered))
	if err != nil {
		return errors.Join(cfgErr, s.reloadFailed(err))
	}
	rbErr := s.guardRollback(old, m)
	if offered != nil && rbErr == nil {
		s.acceptBody(offered)
	}
	s.prepare(m)
	s.mat.Store(m)
	if digest != nil && cfgErr == nil {
		s.configDigest.Store(digest)
	}
	if cfgErr == nil {
		s.metrics.reload("ok")
	}
	caChanged := old.digests[old.cfg.ClientCA] != m.digests[m.cfg.ClientCA] || old.cfg.ClientCA != m.cfg.ClientCA ||
		old.cfg.VerifyDepth != m.cfg.VerifyDepth
	cut := s.recheckAll(m, caChanged)
	cut += s.reauthorizeAll(m)
	for _, rt := range old.routes {
		rt.transport.CloseIdleConnections()
	}
	s.logCRLState(m, slog.LevelInfo, "reloaded", "took", time.Since(start).String(), "sessions_cut", cut)
	if err := errors.Join(cfgErr, rbErr); err != nil {
		return fmt.Errorf("relay reload: %w", err)
	}
	return nil
}

func (s *Server) reloadFailed(err error) error {
	s.metrics.reload("error")
	s.log.Error("reload rejected, keeping the previous configuration, certificates and CRL", "error", err.Error())
	return fmt.Errorf("relay reload: %w", err)
}

// recheckAll re-checks every connection with a client certificate against m and cuts the ones that must go.
func (s *Server) recheckAll(m *material, fullVerify bool) int {
	s.mu.Lock()
	conns := make([]*trackedConn, 0, len(s.conns))
	for tc := range s.conns {
		conns = append(conns, tc)
	}
	s.mu.Unlock()
	now := s.now()
	n := 0
	for _, tc := range conns {
		rej := m.recheck(tc.peer, now, fullVerify)
		if rej == nil {
			continue
		}
		n++
		s.cutConn(tc, closePolicyViolation, rej.Reason, "client certificate no longer valid ("+rej.Reason+")",
			"error", rej.Error())
	}
	return n
}

func (s *Server) logCRLState(m *material, level slog.Level, msg string, args ...any) {
	args = append(args, "crl_file", m.cfg.CRL, "crls", len(m.crls), "revoked_serials", m.bundle.Len(),
		"next_update", m.bundle.NextUpdate().UTC().Format(time.RFC3339))
	if !s.now().Before(m.bundle.NextUpdate()) {
		level = slog.LevelError
		args = append(args, "warning", "CRL past nextUpdate: certificates are refused unless within crl_grace")
	}
	s.log.Log(context.Background(), level, "relay "+msg, args...)
}

// watchedFiles returns the files whose change triggers a reload.
func (s *Server) watchedFiles(m *material) []string {
	files := make([]string, 0, len(m.digests)+1)
	if s.configPath != "" {
		files = append(files, s.configPath)
	}
	for name := range m.digests {
		files = append(files, name)
	}
	return files
}

type fileSig struct {
	mod  time.Time
	size int64
	ok   bool
}

// watch polls the watched files' metadata and reloads when the content of one differs from what the current
// generation loaded. Polling (instead of inotify) survives the atomic renames that `wsca crl` and editors do, works
// on every platform, and costs a handful of stat calls per interval.
func (s *Server) watch() {
	defer close(s.watchDone)
	seen := make(map[string]fileSig)
	var clock crlClock
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-s.watchStop:
			return
		case <-t.C:
		}
		m := s.mat.Load()
		s.tickCRLClock(&clock, m)
		changed := false
		for _, name := range s.watchedFiles(m) {
			var sig fileSig
			if fi, err := os.Stat(name); err == nil {
				sig = fileSig{mod: fi.ModTime(), size: fi.Size(), ok: true}
			}
			prev, known := seen[name]
			seen[name] = sig
			if known && prev == sig {
				continue
			}
			// Metadata changed (or first look): compare content with what is loaded, so that a touch or a
			// rewrite with identical bytes does not reload.
			data, err := os.ReadFile(name)
			if err != nil {
				if known {
					changed = true // vanished: let Reload report it
				}
				continue
			}
			want, have := sha256.Sum256(data), m.digests[name]
			if name == s.configPath {
				if d := s.configDigest.Load(); d != nil {
					have = *d
				}
			}
			if want != have {
				changed = true
			}
		}
		if changed {
			s.Reload() //nolint:errcheck // logged and counted by Reload
		}
	}
}
