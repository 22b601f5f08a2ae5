package relay

import (
	"net/netip"
)

// ReasonRouteRemoved is the cut reason of a session whose path no longer matches any route after a reload.
const ReasonRouteRemoved = "route_removed"

// reauthorizeAll re-applies, after a reload, the route policy to every open WebSocket session: the route that
// now matches its path (the longest prefix, as for a new request) must still admit its client — allow lists,
// allow_cidr, require_client_cert — or the session is cut like a revoked one (close 1008 with the reason, then
// the connection), logged and counted by reason. Policy is a pure function of the configuration, the
// certificate and the address, so a reload that changes nothing cuts nothing. Revocation and a changed client CA
// bundle are recheckAll's; sessions it already cut are skipped. It returns the number of sessions cut.
func (s *Server) reauthorizeAll(m *material) int {
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	n := 0
	for _, ss := range sessions {
		if ss.closing.Load() {
			continue
		}
		var p *peer
		if ss.tc != nil {
			p = ss.tc.peer
		}
		reason, detail, route := reauthorize(m, ss, p)
		if reason == "" {
			continue
		}
		n++
		msg := "no longer allowed by the relay configuration (policy: " + reason + ")"
		if ss.tc != nil {
			s.cutConn(ss.tc, closePolicyViolation, reason, msg, "path", ss.path, "route", route, "detail", detail)
			continue
		}
		// A session without a tracked connection (a plain-TCP listener in tests) has no peer to log.
		s.log.Warn("session closed: "+msg, "remote", ss.remote, "path", ss.path, "route", route, "reason", reason,
			"detail", detail)
		s.cutSession(ss, closePolicyViolation, reason, msg)
	}
	return n
}

// reauthorize returns why m's routes refuse session ss of peer p ("" when they admit it), with a detail and the
// route's path.
func reauthorize(m *material, ss *session, p *peer) (reason, detail, route string) {
	rt := m.match(ss.path)
	if rt == nil {
		return ReasonRouteRemoved, "no route for this path any more", ""
	}
	var remote netip.Addr
	if ap, err := netip.ParseAddrPort(ss.remote); err == nil {
		remote = ap.Addr().Unmap()
	}
	reason, detail = rt.authorize(p, remote)
	return reason, detail, rt.cfg.Path
}
