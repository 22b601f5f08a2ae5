package relay

import "time"

// crlPhase is where the loaded CRLs stand against the clock.
type crlPhase int

const (
	crlFresh   crlPhase = iota // before the earliest nextUpdate
	crlGrace                   // past nextUpdate, within crl_grace: certificates still accepted, each use logged
	crlExpired                 // past nextUpdate + crl_grace: every new client certificate is refused
)

func (m *material) crlPhase(now time.Time) crlPhase {
	next := m.bundle.NextUpdate()
	switch {
	case now.Before(next):
		return crlFresh
	case now.Before(next.Add(m.cfg.CRLGrace.D())):
		return crlGrace
	}
	return crlExpired
}

// crlClock remembers, for the file watcher, the generation and phase it saw last.
type crlClock struct {
	m     *material
	phase crlPhase
}

// tickCRLClock writes one ERROR line at the moment the current generation's CRL passes its nextUpdate (entering
// crl_grace, if set) and one when it expires for good, instead of leaving the on-call engineer to find the WARN line
// of each refused client. A new generation starts from the phase it was loaded in, which its load or reload logged
// already; comparing with that (not with the phase at the watcher's first look, up to one interval later) keeps a
// CRL that expires right after a reload from going unreported.
func (s *Server) tickCRLClock(c *crlClock, m *material) {
	if c.m != m {
		c.m, c.phase = m, m.crlPhase(m.loaded)
	}
	ph := m.crlPhase(s.now())
	if ph == c.phase {
		return
	}
	c.phase = ph
	next := m.bundle.NextUpdate().UTC()
	switch ph {
	case crlGrace:
		s.log.Error("CRL passed its nextUpdate: client certificates are accepted only within crl_grace; publish a new CRL",
			"crl_file", m.cfg.CRL, "next_update", next.Format(time.RFC3339),
			"grace_ends", next.Add(m.cfg.CRLGrace.D()).Format(time.RFC3339))
	case crlExpired:
		s.log.Error("CRL expired: every new client certificate is refused until a new CRL is loaded",
			"crl_file", m.cfg.CRL, "next_update", next.Format(time.RFC3339), "crl_grace", m.cfg.CRLGrace.D().String())
	}
}
