package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wsca/wsca/crlsync"
	"github.com/wsca/wsca/internal/atomicfile"
)

// Names in state_dir.
const (
	crlCacheFile = "crl-cache.pem" // the last good CRL fetched from a CRL URL
	// initialFetchTimeout bounds the fetch New makes with a CRL URL before falling back to the cache.
	initialFetchTimeout = 10 * time.Second
)

// crlState is the relay's side of package crlsync: the rollback watermark (both CRL kinds) and, with a CRL URL,
// the poller's source. Reloads read it under the loader's lock (files.mu); the counters are read by the metrics
// handler.
type crlState struct {
	wm        *crlsync.Watermark
	rollbacks atomic.Uint64

	// With a CRL URL only:
	src         *crlsync.Fetcher
	cachePath   string
	body        atomic.Pointer[[]byte] // the CRL body in force, as fetched
	fetchErrors atomic.Uint64
	lastFetch   atomic.Int64       // unix seconds of the last answer from the publisher (200 or 304)
	validators  crlsync.Validators // of the body fetched at start, so the poller's first request can be held
	cancel      context.CancelFunc
	done        chan struct{}
}

// statePaths returns where the watermark (and, with a URL, the cached CRL) live: the copy the relay uses is
// cachePath (URL) or the CRL file, and its watermark is that name + crlsync.StateSuffix, moved into state_dir
// when one is set.
func statePaths(cfg *Config) (state, cache string) {
	if crlsync.IsURL(cfg.CRL) {
		cache = filepath.Join(cfg.StateDir, crlCacheFile)
		return cache + crlsync.StateSuffix, cache
	}
	if cfg.StateDir != "" {
		return filepath.Join(cfg.StateDir, filepath.Base(cfg.CRL)+crlsync.StateSuffix), ""
	}
	return cfg.CRL + crlsync.StateSuffix, ""
}

// initCRL prepares the CRL state and loads the first generation. With a CRL URL it fetches once (a plain GET,
// bounded by initialFetchTimeout) and falls back to the cached copy when the publisher is unreachable or serves
// something that does not verify; without either the relay does not start. A CRL below the watermark is refused
// here too: a relay restarted on a stale copy fails closed rather than un-revoking.
func (s *Server) initCRL(cfg *Config) (*material, error) {
	statePath, cachePath := statePaths(cfg)
	wm, err := crlsync.OpenWatermark(statePath)
	if err != nil {
		return nil, err
	}
	s.crl = &crlState{wm: wm}
	if !crlsync.IsURL(cfg.CRL) {
		m, err := loadMaterial(cfg, s.now())
		if err != nil {
			return nil, err
		}
		if err := wm.Check(m.crls); err != nil {
			return nil, fmt.Errorf("CRL file %s: %w", cfg.CRL, err)
		}
		s.advance(m)
		return m, nil
	}
	return s.initCRLURL(cfg, cachePath)
}

// initCRLURL is initCRL for a CRL URL: the first fetch, else the cache.
func (s *Server) initCRLURL(cfg *Config, cachePath string) (*material, error) {
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	c := s.crl
	c.cachePath = cachePath
	interval := cfg.CRLPollInterval.D()
	if interval <= 0 {
		interval = crlsync.DefaultInterval
	}
	// A long-poll needs a request deadline above its wait; a failed fetch is retried after the poll interval.
	c.src = &crlsync.Fetcher{URL: cfg.CRL, Timeout: min(interval, crlsync.DefaultTimeout)}
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), initialFetchTimeout)
	resp, err := (&crlsync.Fetcher{URL: cfg.CRL, Wait: -1, Timeout: initialFetchTimeout}).Get(ctx, crlsync.Validators{})
	cancel()
	if err == nil {
		c.lastFetch.Store(s.now().Unix())
		var m *material
		if m, err = s.tryCRL(cfg, resp.Body); err == nil {
			s.acceptBody(resp.Body)
			c.validators = resp.Validators
			return m, nil
		}
	}
	errs = append(errs, err)
	c.fetchErrors.Add(1)
	cached, err := os.ReadFile(cachePath)
	if err != nil {
		errs = append(errs, fmt.Errorf("no cached CRL: %w", err))
		return nil, fmt.Errorf("CRL from %s: %w", cfg.CRL, errors.Join(errs...))
	}
	m, err := s.tryCRL(cfg, cached)
	if err != nil {
		errs = append(errs, fmt.Errorf("cached CRL %s: %w", cachePath, err))
		return nil, fmt.Errorf("CRL from %s: %w", cfg.CRL, errors.Join(errs...))
	}
	s.log.Warn("CRL URL unavailable at start: using the cached CRL", "crl_url", cfg.CRL, "cache", cachePath,
		"error", errors.Join(errs...).Error())
	c.body.Store(&cached)
	return m, nil
}

// tryCRL builds a generation with body as the CRL and checks it against the watermark.
func (s *Server) tryCRL(cfg *Config, body []byte) (*material, error) {
	m, err := loadMaterialFrom(cfg, s.now(), body, nil)
	if err != nil {
		return nil, err
	}
	if err := s.crl.wm.Check(m.crls); err != nil {
		s.crl.rollbacks.Add(1)
		return nil, err
	}
	s.advance(m)
	return m, nil
}

// advance moves the watermark to m's CRLs; a state file that cannot be written is logged (the rule still holds
// in memory until the process ends).
func (s *Server) advance(m *material) {
	if err := s.crl.wm.Advance(m.crls); err != nil {
		s.log.Error("CRL numbers not persisted: a restart would forget them", "state", s.crl.wm.Path(),
			"error", err.Error())
	}
}

// acceptBody records body as the CRL in force and caches it for a restart without network.
func (s *Server) acceptBody(body []byte) {
	s.crl.body.Store(&body)
	if err := atomicfile.Write(s.crl.cachePath, body, 0o644); err != nil {
		s.log.Error("cannot cache the CRL for a restart without network", "cache", s.crl.cachePath, "error", err.Error())
	}
}

// crlBody returns the CRL a reload uses: offered (a new download) if set, else the body in force with a CRL URL,
// else nil (the CRL file is read).
func (s *Server) crlBody(offered []byte) []byte {
	if offered != nil {
		return offered
	}
	if p := s.crl.body.Load(); p != nil {
		return *p
	}
	return nil
}

// guardRollback applies the rollback rule to a freshly loaded generation: when m's CRLs go below the watermark,
// m keeps old's CRLs (the rest of the reload still applies), the refusal is logged as an ERROR naming both
// numbers and counted, and a *crlsync.RollbackError is returned. Otherwise the watermark advances.
func (s *Server) guardRollback(old, m *material) error {
	err := s.crl.wm.Check(m.crls)
	if err == nil {
		s.advance(m)
		return nil
	}
	var rb *crlsync.RollbackError
	args := []any{"crl", m.cfg.CRL, "error", err.Error()}
	if errors.As(err, &rb) {
		got := "none"
		if rb.Got != nil {
			got = rb.Got.String()
		}
		args = append(args, "issuer", rb.Issuer, "crl_number", got, "highest_seen", rb.Have.String())
	}
	s.crl.rollbacks.Add(1)
	s.log.Error("CRL refused: older than one already in force, keeping the current CRL", args...)
	m.crls, m.bundle = old.crls, old.bundle
	m.crlKey = crlSourceKey{} // not the CRL source's own: the next reload parses (and refuses) it again
	return err
}

// keepCRLSource undoes, in a reloaded configuration, a change of the CRL URL, state_dir or crl_poll_interval: the
// poller and the watermark were set up for the running values. (A CRL file may move to another file.)
func (s *Server) keepCRLSource(old, next *Config) {
	moved := next.CRL != old.CRL && (crlsync.IsURL(old.CRL) || crlsync.IsURL(next.CRL))
	if moved || next.StateDir != old.StateDir || next.CRLPollInterval != old.CRLPollInterval {
		s.log.Warn("relay config: a CRL URL, state_dir and crl_poll_interval change only on restart", "crl", old.CRL)
		if moved {
			next.CRL = old.CRL
		}
		next.StateDir, next.CRLPollInterval = old.StateDir, old.CRLPollInterval
	}
}

// startCRLPoll starts the poller of a CRL URL; it ends with stopCRLPoll.
func (s *Server) startCRLPoll() {
	c := s.crl
	if c.src == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	interval := s.mat.Load().cfg.CRLPollInterval.D()
	var last [sha256.Size]byte
	if p := c.body.Load(); p != nil {
		last = sha256.Sum256(*p)
	}
	p := &crlsync.Poller{Fetcher: c.src, Interval: interval,
		Accept: s.offerCRL,
		Report: s.reportFetch}
	go func() {
		defer close(c.done)
		p.Run(ctx, c.validators, last)
	}()
}

// offerCRL is the poller's Accept: a reload with body as the CRL. It fails only when body itself was refused; a
// broken configuration file, which the reload logs and counts on its own, does not make the poller download the
// same CRL again and again.
func (s *Server) offerCRL(body []byte) error {
	err := s.reload(body)
	if p := s.crl.body.Load(); p != nil && bytes.Equal(*p, body) {
		return nil
	}
	return err
}

func (s *Server) stopCRLPoll() {
	if c := s.crl; c != nil && c.cancel != nil {
		c.cancel()
		<-c.done
	}
}

// reportFetch logs and counts one poll: errors at ERROR (the relay keeps its last good CRL, which fails closed at
// its nextUpdate + crl_grace), a new CRL at INFO (Reload logs it too).
func (s *Server) reportFetch(r crlsync.Result) {
	c := s.crl
	if r.Err == nil {
		c.lastFetch.Store(s.now().Unix())
		return
	}
	c.fetchErrors.Add(1)
	var rb *crlsync.RollbackError
	if errors.As(r.Err, &rb) {
		return // logged by guardRollback with both numbers
	}
	m := s.mat.Load()
	s.log.Error("CRL fetch failed, keeping the last good CRL", "crl_url", m.cfg.CRL, "error", r.Err.Error(),
		"next_update", m.bundle.NextUpdate().UTC().Format(time.RFC3339))
}

// writeCRLMetrics appends the CRL source's series to the exposition.
func (s *Server) writeCRLMetrics(b *strings.Builder) {
	c := s.crl
	fmt.Fprintf(b, "# HELP relay_crl_rollbacks_total CRLs refused because their CRL number was lower than one already in force.\n"+
		"# TYPE relay_crl_rollbacks_total counter\nrelay_crl_rollbacks_total %d\n", c.rollbacks.Load())
	fmt.Fprintf(b, "# HELP relay_crl_fetch_errors_total Failed fetches of the CRL URL (network, HTTP, size, verification, rollback).\n"+
		"# TYPE relay_crl_fetch_errors_total counter\nrelay_crl_fetch_errors_total %d\n", c.fetchErrors.Load())
	fmt.Fprintf(b, "# HELP relay_crl_last_fetch_timestamp_seconds Unix time of the last answer from the CRL URL (0: none, or a CRL file).\n"+
		"# TYPE relay_crl_last_fetch_timestamp_seconds gauge\nrelay_crl_last_fetch_timestamp_seconds %d\n", c.lastFetch.Load())
}
