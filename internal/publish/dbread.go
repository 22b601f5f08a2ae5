package publish

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/ocspresp"
	"github.com/wsca/wsca/store"
)

// dbCopy is what one read of wsca.db copies out, raw, so the database is open only for the copy: the
// serials as length-prefixed magnitudes in one buffer, and the revocations.
type dbCopy struct {
	issued  []byte
	revoked []revokedCopy
	n       int
}

type revokedCopy struct {
	serial []byte
	rev    ocspresp.Revocation
}

// readDB copies the serials of every certificate and the intermediate's revocations. The shared lock it
// takes blocks writers (wsca issue, revoke), so it only appends bytes; the snapshot is built after Close.
func (s *Server) readDB() (*dbCopy, time.Duration, error) {
	start := time.Now()
	db, err := s.cfg.Dir.OpenStore(true)
	if err != nil {
		return nil, 0, err
	}
	c := &dbCopy{}
	err = db.ForEachSerial(func(serial []byte) error {
		c.issued = append(append(c.issued, byte(len(serial))), serial...)
		c.n++
		return nil
	})
	if err == nil {
		err = db.ForEachRevokedSerial(cadir.ScopeIntermediate, func(serial []byte, at time.Time, reason store.Reason, _ time.Time) error {
			c.revoked = append(c.revoked, revokedCopy{append([]byte(nil), serial...), ocspresp.Revocation{At: at, Reason: int(reason)}})
			return nil
		})
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return c, time.Since(start), err
}

// loadDB reads wsca.db into a new OCSP snapshot: the serials the intermediate issued (every certificate but
// the two CA certificates) and its revocations.
func (s *Server) loadDB(st stamp) bool {
	if !st.ok {
		return true // no database (yet): OCSP answers tryLater until there is one
	}
	inter, root, err := s.cfg.Dir.Chain()
	if err != nil {
		s.log.Error("reading the CA certificates", "err", err)
		return true
	}
	c, held, err := s.readDB()
	if errors.Is(err, store.ErrLocked) {
		return false // a writer holds it: next tick
	}
	if err != nil {
		s.log.Error("reading the issuance database", "err", err)
		return true // not retried until the file changes again
	}
	snap := ocspresp.NewSnapshot(c.n)
	interSerial, rootSerial := string(inter.SerialNumber.Bytes()), string(root.SerialNumber.Bytes())
	for b := c.issued; len(b) > 0; {
		n := int(b[0])
		serial := b[1 : 1+n]
		b = b[1+n:]
		if string(serial) != interSerial && string(serial) != rootSerial {
			snap.AddIssued(serial)
		}
	}
	for _, r := range c.revoked {
		snap.AddRevoked(r.serial, r.rev)
	}
	s.ocsp.SetSnapshot(snap)
	s.metrics.dbReads.Add(1)
	s.metrics.dbHeld.Store(int64(held))
	level := slog.LevelDebug // the same content again (a settling re-read, an audit entry)
	if counts := [2]int{snap.Len(), snap.Revoked()}; counts != s.dbCounts {
		level, s.dbCounts = slog.LevelInfo, counts
	}
	s.log.Log(context.Background(), level, "issuance database read", "certificates", snap.Len(), "revoked", snap.Revoked(),
		"held", held.Round(time.Microsecond).String())
	return true
}
