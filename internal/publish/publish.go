// Package publish is wsca publish: the CA's public face on the CA host. It serves crl.pem (with ETag,
// Last-Modified, conditional GET and long-poll, see docs/publish.md), each CA's CRL in DER, ca.crt, and an
// RFC 6960 OCSP responder (package ocspresp) that signs with the delegated signer wsca crl keeps current.
//
// It never needs the CA passphrase and never keeps wsca.db open: a watcher stats the CA directory's files
// every PollInterval; when wsca.db changed it opens it read-only with a short lock timeout, copies the
// issued and revoked serials, and closes it (a read-only bbolt open still takes a shared flock that blocks
// writers such as wsca revoke, so the read must be short and must not be kept). Polling rather than
// inotify: no new dependency, it sees files replaced by rename and directories on any file system, and 20
// stat calls a second cost nothing measurable, while a change is seen within one interval (50 ms).
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/ocspresp"
)

// Defaults.
const (
	DefaultPollInterval = 50 * time.Millisecond
	// MaxWait caps ?wait= on /crl.pem (docs/publish.md, the CRL HTTP contract).
	MaxWait = 60 * time.Second
	// maxCRLAge bounds Cache-Control max-age: an HTTP cache between the publisher and a relay must not hold
	// a CRL much longer than the relays' own revocation promise.
	maxCRLAge = 60 * time.Second
	// dbLockTimeout is how long one read of wsca.db waits for a writer (wsca issue, revoke) to finish;
	// after it the watcher tries again on the next tick.
	dbLockTimeout = 500 * time.Millisecond
)

// Config is what a Server needs.
type Config struct {
	Dir          *cadir.Dir    // the CA directory; read only; its Passphrase is never used
	OCSPValidity time.Duration // nextUpdate - thisUpdate of OCSP responses; ocspresp.DefaultValidity when zero
	PollInterval time.Duration // DefaultPollInterval when zero
	// StatePath is the file that keeps the highest CRL number published per CA (crlsync.Watermark), so a
	// stale crl.pem is refused after a restart too; "" keeps it in memory only.
	StatePath string
	Logger    *slog.Logger
	Now       func() time.Time // time.Now when nil
}

// Server is a running publisher. Create it with New, serve its Handler, and run Watch until shutdown.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ocsp    *ocspresp.Responder
	wm      *crlsync.Watermark
	crl     atomic.Pointer[crlState]
	caCert  atomic.Pointer[[]byte]
	metrics metrics
	hdr     ocspHeaders
	pickup  pickups
	// dbCounts are the issued and revoked counts of the last database read; only the database watcher
	// touches them.
	dbCounts [2]int
	// ready is closed after the first complete load of every file (for tests and the startup log).
	ready     chan struct{}
	readyOnce sync.Once
}

// New reads the CA directory once (the CA certificates must exist; crl.pem, wsca.db and the OCSP signer are
// loaded when present and picked up later when not) and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := *cfg.Dir
	d.Passphrase = nil // wsca publish never opens a CA key
	d.LockTimeout = dbLockTimeout
	cfg.Dir = &d
	inter, _, err := d.Chain()
	if err != nil {
		return nil, err
	}
	r, err := ocspresp.New(ocspresp.Config{Issuer: inter, Validity: cfg.OCSPValidity, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	wm, err := crlsync.OpenWatermark(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ocsp: r, wm: wm, hdr: newOCSPHeaders(), ready: make(chan struct{})}
	s.crl.Store(&crlState{changed: make(chan struct{})})
	return s, nil
}

// Ready is closed once every file has been loaded once.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Serve serves s.Handler on ln with timeouts that bound slow clients, and watches the CA directory, until
// ctx is cancelled; then it stops accepting, ends long-polls and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsCert, tlsKey string) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      MaxWait + 15*time.Second, // a long-poll answers after at most MaxWait
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	watchDone := make(chan struct{})
	go func() { defer close(watchDone); s.Watch(ctx) }()
	sweepDone := make(chan struct{})
	go func() { defer close(sweepDone); s.sweepPickups(ctx) }()
	errc := make(chan error, 1)
	go func() {
		if tlsCert != "" {
			errc <- hs.ServeTLS(ln, tlsCert, tlsKey)
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = hs.Shutdown(sctx)
		cancel()
		<-errc
	}
	<-watchDone
	<-sweepDone
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
