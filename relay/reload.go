package relay

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// watchInterval is how often the file watcher stats the configuration, certificate, CA and CRL files: small enough
// that a new CRL cuts a revoked session within one second, cheap enough (a few stat calls) to ignore.
const watchInterval = 250 * time.Millisecond

// loader owns the relay's files between reloads: the configuration file as last read (its path, the digest of its
// content and its restart-only settings), the lock that runs one reload at a time, and the watcher's stop and done
// signals. The certificate, key, CA and CRL files' digests travel with the generation that loaded them
// (material.digests), so the watcher compares each file with what is in force.
type loader struct {
	configPath   string // "" when the Server was not built from a file
	configDigest atomic.Pointer[[sha256.Size]byte]
	restart      *restartOnly // the restart-only settings as last read from configPath (guarded by mu)
	mu           sync.Mutex   // one reload at a time
	watchStop    chan struct{}
	watchDone    chan struct{}
}

// newLoader records the configuration file's current digest and restart-only settings (path "": none).
func newLoader(path string) *loader {
	l := &loader{configPath: path, watchStop: make(chan struct{}), watchDone: make(chan struct{})}
	if path == "" {
		return l
	}
	cfg, digest, err := l.readConfig()
	if digest != nil {
		l.configDigest.Store(digest)
	}
	if err == nil {
		r := restartOf(cfg)
		l.restart = &r
	}
	return l
}

// readConfig reads and parses the configuration file. The digest is that of the bytes read, nil when the file could
// not be read; the Config is nil on any error.
func (l *loader) readConfig() (*Config, *[sha256.Size]byte, error) {
	data, err := os.ReadFile(l.configPath)
	if err != nil {
		return nil, nil, err
	}
	d := sha256.Sum256(data)
	cfg, err := ParseConfig(data, filepath.Dir(l.configPath))
	if err != nil {
		return nil, &d, err
	}
	cfg.path = l.configPath
	return cfg, &d, nil
}

// stopWatch stops the watcher and waits for it (watchDone must be closed by the watcher, or by Shutdown when the
// watcher never started).
func (l *loader) stopWatch() {
	close(l.watchStop)
	<-l.watchDone
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
	s.files.mu.Lock()
	defer s.files.mu.Unlock()
	start := time.Now()
	old := s.mat.Load()
	cfg := old.cfg
	var digest *[sha256.Size]byte
	var cfgErr error
	if s.files.configPath != "" {
		// A broken configuration file must not block the other reloads (above all a new CRL): it is reported
		// and the last good configuration is used with freshly read certificate, CA and CRL files.
		next, d, err := s.files.readConfig()
		if err != nil {
			cfgErr = fmt.Errorf("%s: %w", s.files.configPath, err)
			s.metrics.reload("error")
			s.log.Error("relay config rejected, keeping the previous one", "error", err.Error())
		} else {
			cfg, digest = next, d
			// Settings bound to the listeners stay as running (including command-line overrides); say so
			// only when the file really changed them.
			fr := restartOf(cfg)
			s.warnRestartOnly(s.files.restart, fr, old.cfg)
			s.files.restart = &fr
			keepRestartOnly(cfg, old.cfg)
			s.keepCRLSource(old.cfg, cfg)
		}
	}
	m, err := loadMaterialFrom(cfg, s.now(), s.crlBody(offered), old)
	if err != nil {
		return errors.Join(cfgErr, s.reloadFailed(err))
	}
	var rbErr error
	if m.bundle != old.bundle { // the CRLs in force, taken over unchanged (loadCRL), passed the watermark already
		rbErr = s.guardRollback(old, m)
	}
	if offered != nil && rbErr == nil {
		s.acceptBody(offered)
	}
	s.prepare(m)
	s.mat.Store(m)
	if digest != nil && cfgErr == nil {
		s.files.configDigest.Store(digest)
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
func (l *loader) watchedFiles(m *material) []string {
	files := make([]string, 0, len(m.digests)+1)
	if l.configPath != "" {
		files = append(files, l.configPath)
	}
	for name := range m.digests {
		files = append(files, name)
	}
	return files
}

// fileSig is the metadata the watcher compares between two looks at a file.
type fileSig struct {
	mod  time.Time
	size int64
	ok   bool
}

// watch polls the watched files' metadata and reloads when the content of one differs from what the current
// generation loaded. Polling (instead of inotify) survives the atomic renames that `wsca crl` and editors do, works
// on every platform, and costs a handful of stat calls per interval.
func (s *Server) watch() {
	defer close(s.files.watchDone)
	seen := make(map[string]fileSig)
	var clock crlClock
	t := time.NewTicker(watchInterval)
	defer t.Stop()
	for {
		select {
		case <-s.files.watchStop:
			return
		case <-t.C:
		}
		m := s.mat.Load()
		s.tickCRLClock(&clock, m)
		if s.files.changed(seen, m) {
			s.Reload() //nolint:errcheck // logged and counted by Reload
		}
	}
}

// changed looks at every watched file and reports whether one differs in content from what m (or, for the
// configuration file, the last good read of it) loaded, or vanished. seen keeps each file's metadata between calls,
// so that only a file whose metadata moved is read and hashed.
func (l *loader) changed(seen map[string]fileSig, m *material) bool {
	changed := false
	for _, name := range l.watchedFiles(m) {
		var sig fileSig
		if fi, err := os.Stat(name); err == nil {
			sig = fileSig{mod: fi.ModTime(), size: fi.Size(), ok: true}
		}
		prev, known := seen[name]
		seen[name] = sig
		if known && prev == sig {
			continue
		}
		// Metadata changed (or first look): compare content with what is loaded, so that a touch or a rewrite
		// with identical bytes does not reload.
		data, err := os.ReadFile(name)
		if err != nil {
			if known {
				changed = true // vanished: let Reload report it
			}
			continue
		}
		want, have := sha256.Sum256(data), m.digests[name]
		if name == l.configPath {
			if d := l.configDigest.Load(); d != nil {
				have = *d
			}
		}
		if want != have {
			changed = true
		}
	}
	return changed
}
