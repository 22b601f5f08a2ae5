package publish

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/ocspresp"
)

// stamp identifies one version of a file: a rename (atomic replace) changes the inode, an in-place write
// (bbolt) the modification time and usually the size.
type stamp struct {
	ok    bool
	ino   uint64
	size  int64
	mtime time.Time
}

func statStamp(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{ok: true, ino: inode(fi), size: fi.Size(), mtime: fi.ModTime()}
}

// watched is a group of files the watcher follows and what to do when any of them changes. load gets the
// newest stamp of the group and returns false to be retried on the next tick (a locked database, a
// half-renewed signer).
type watched struct {
	names []string
	last  []stamp
	load  func(stamp) bool
}

// check stats the group's files and calls load if any changed since the last successful load.
func (w *watched) check(dir *cadir.Dir) {
	now := make([]stamp, len(w.names))
	newest := stamp{}
	for i, n := range w.names {
		now[i] = statStamp(dir.File(n))
		if now[i].ok && now[i].mtime.After(newest.mtime) {
			newest = now[i]
		}
	}
	if w.last != nil && slices.Equal(now, w.last) {
		return
	}
	// File times come from the kernel's coarse clock (a few ms per tick): a second write in the tick of the
	// one just loaded leaves mtime, size and inode as they were. So a version younger than settleTime is
	// loaded again on the next tick, until it has settled.
	if w.load(newest) && time.Since(newest.mtime).Abs() > settleTime {
		w.last = now
	}
}

// settleTime is how old a file's modification time must be before an unchanged stamp proves the content
// unchanged (several ticks of the kernel's coarse clock, at HZ=100 10 ms each).
const settleTime = 50 * time.Millisecond

// Watch loads every file once, marks the server ready, then polls the CA directory every PollInterval
// until ctx is cancelled, reloading what changed. The database is polled on its own goroutine, so a wait
// for its lock never delays a new crl.pem.
func (s *Server) Watch(ctx context.Context) {
	files := []*watched{
		{names: []string{cadir.CRLFile}, load: s.loadCRL},
		{names: []string{cadir.BundleFile}, load: s.loadCABundle},
		// wsca crl writes the key before the certificate; either change reloads the pair.
		{names: []string{cadir.OCSPSignerCertFile, cadir.OCSPSignerKeyFile}, load: s.loadSigner},
	}
	db := []*watched{{names: []string{cadir.DBFile}, load: s.loadDB}}
	for _, w := range append(files, db...) {
		w.check(s.cfg.Dir)
	}
	s.readyOnce.Do(func() { close(s.ready) })
	done := make(chan struct{})
	go func() { defer close(done); s.poll(ctx, db) }()
	s.poll(ctx, files)
	<-done
}

func (s *Server) poll(ctx context.Context, group []*watched) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, w := range group {
			w.check(s.cfg.Dir)
		}
	}
}

// loadSigner installs the OCSP signer. A key that does not match its certificate is what a reader sees in
// the middle of a renewal (key written, certificate not yet): keep the old signer and try again.
func (s *Server) loadSigner(st stamp) bool {
	cert, key, err := s.cfg.Dir.OCSPSigner()
	if errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("no OCSP signer: OCSP requests are answered tryLater", "hint", "set an OCSP URL (wsca init --ocsp-url) and run wsca crl")
		return true
	}
	if err != nil {
		s.log.Warn("OCSP signer not (yet) usable; keeping the current one", "err", err)
		return !st.ok || time.Since(st.mtime) > 5*time.Second
	}
	sig, err := ocspresp.NewSigner(cert, key)
	if err == nil {
		err = s.ocsp.SetSigner(sig)
	}
	if err != nil {
		s.log.Error("OCSP signer refused", "err", err)
		return true
	}
	s.log.Info("OCSP signer loaded", "subject", cert.Subject.String(), "not_after", cert.NotAfter.UTC().Format(time.RFC3339))
	return true
}
