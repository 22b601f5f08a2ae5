package relay

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// metrics holds the relay's counters. Hot-path values are plain atomics; labelled counters, which change on rare
// events (handshake outcomes, reloads, cut sessions) or a few fixed labels, live in sync.Maps of atomics.
type metrics struct {
	activeConns    atomic.Int64
	activeSessions atomic.Int64
	parked         atomic.Int64  // relay directions parked (idle, no goroutine)
	bytesIn        atomic.Uint64 // from clients
	bytesOut       atomic.Uint64 // to clients
	backendErrors  atomic.Uint64
	handshakes     sync.Map // "outcome\x00reason" → *atomic.Uint64
	policies       sync.Map // reason → *atomic.Uint64
	reloads        sync.Map // result → *atomic.Uint64
	cuts           sync.Map // reason → *atomic.Uint64
	refusals       sync.Map // limit → *atomic.Uint64 (connections closed by a connection limit)
}

// newMetrics returns the counters with every known label value present at 0, so that a Prometheus increase()
// alert fires on the first event: a series that appears only with its first increment has no earlier sample to
// rise from.
func newMetrics() *metrics {
	m := &metrics{}
	zero := func(sm *sync.Map, keys ...string) {
		for _, k := range keys {
			sm.Store(k, new(atomic.Uint64))
		}
	}
	handshakeReasons := []string{ReasonUnknownCA, ReasonExpired, ReasonRevoked, ReasonWrongEKU, ReasonChainTooLong,
		ReasonInvalidChain, ReasonCRLMissing, ReasonCRLExpired}
	zero(&m.handshakes, "ok\x00none", "ok\x00certificate", "resumed\x00certificate")
	for _, r := range handshakeReasons {
		zero(&m.handshakes, "rejected\x00"+r)
	}
	zero(&m.policies, ReasonNoCertificate, ReasonCNNotAllowed, ReasonOUNotAllowed, ReasonEmailNotAllowed,
		ReasonURINotAllowed, ReasonIPNotAllowed)
	zero(&m.reloads, "ok", "error")
	zero(&m.cuts, append(handshakeReasons, cutIdleTimeout, cutPingTimeout, cutShutdown)...)
	zero(&m.refusals, limitPerAddress, limitReserved, limitAnonymousIdle)
	return m
}

func inc(m *sync.Map, key string) {
	v, ok := m.Load(key)
	if !ok {
		v, _ = m.LoadOrStore(key, new(atomic.Uint64))
	}
	v.(*atomic.Uint64).Add(1)
}

func (m *metrics) handshake(outcome, reason string) { inc(&m.handshakes, outcome+"\x00"+reason) }
func (m *metrics) policy(reason string)             { inc(&m.policies, reason) }
func (m *metrics) reload(result string)             { inc(&m.reloads, result) }
func (m *metrics) cut(reason string)                { inc(&m.cuts, reason) }
func (m *metrics) refused(limit string)             { inc(&m.refusals, limit) }

// MetricsHandler returns the handler serving the relay's metrics in the Prometheus text exposition format
// (version 0.0.4): sessions, handshakes by outcome and reason, bytes, reloads, sessions cut, and per CA the CRL's
// age, seconds to its nextUpdate and number of entries.
func (s *Server) MetricsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		s.writeMetrics(w)
	})
}

func (s *Server) writeMetrics(w io.Writer) {
	m := s.metrics
	var b strings.Builder
	head := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	head("relay_active_connections", "gauge", "Open client connections.")
	fmt.Fprintf(&b, "relay_active_connections %d\n", m.activeConns.Load())
	head("relay_active_sessions", "gauge", "Relayed WebSocket sessions.")
	fmt.Fprintf(&b, "relay_active_sessions %d\n", m.activeSessions.Load())
	head("relay_parked_directions", "gauge", "Idle relay directions waiting without a goroutine (two per idle session).")
	fmt.Fprintf(&b, "relay_parked_directions %d\n", m.parked.Load())
	head("relay_handshakes_total", "counter", "TLS handshakes that reached client verification, by outcome and reason.")
	writeMap(&b, &m.handshakes, func(k string) string {
		o, r, _ := strings.Cut(k, "\x00")
		return fmt.Sprintf("relay_handshakes_total{outcome=%q,reason=%q}", esc(o), esc(r))
	})
	head("relay_policy_rejections_total", "counter", "Requests refused by route policy, by reason.")
	writeMap(&b, &m.policies, func(k string) string {
		return fmt.Sprintf("relay_policy_rejections_total{reason=%q}", esc(k))
	})
	head("relay_bytes_total", "counter", "Bytes relayed, by direction (in: from clients, out: to clients).")
	fmt.Fprintf(&b, "relay_bytes_total{direction=\"in\"} %d\nrelay_bytes_total{direction=\"out\"} %d\n",
		m.bytesIn.Load(), m.bytesOut.Load())
	head("relay_backend_errors_total", "counter", "Requests answered 502 because the backend failed.")
	fmt.Fprintf(&b, "relay_backend_errors_total %d\n", m.backendErrors.Load())
	head("relay_reloads_total", "counter", "Reloads of configuration, certificates and CRL, by result.")
	writeMap(&b, &m.reloads, func(k string) string {
		return fmt.Sprintf("relay_reloads_total{result=%q}", esc(k))
	})
	head("relay_sessions_cut_total", "counter", "Connections closed by the relay, by reason (revoked, expired, idle_timeout, …).")
	writeMap(&b, &m.cuts, func(k string) string {
		return fmt.Sprintf("relay_sessions_cut_total{reason=%q}", esc(k))
	})

	head("relay_connections_refused_total", "counter", "Connections without a verified certificate closed by a connection limit (per_address, reserved, anonymous_idle).")
	writeMap(&b, &m.refusals, func(k string) string {
		return fmt.Sprintf("relay_connections_refused_total{limit=%q}", esc(k))
	})

	mat := s.mat.Load()
	now := s.now()
	head("relay_crl_age_seconds", "gauge", "Seconds since the CRL's thisUpdate, per issuing CA.")
	for _, c := range mat.crls {
		fmt.Fprintf(&b, "relay_crl_age_seconds{issuer=%q} %.0f\n", esc(c.Issuer.Subject.CommonName), now.Sub(c.ThisUpdate).Seconds())
	}
	head("relay_crl_next_update_seconds", "gauge", "Seconds until the CRL's nextUpdate (negative: expired), per issuing CA.")
	for _, c := range mat.crls {
		fmt.Fprintf(&b, "relay_crl_next_update_seconds{issuer=%q} %.0f\n", esc(c.Issuer.Subject.CommonName), c.NextUpdate.Sub(now).Seconds())
	}
	head("relay_crl_entries", "gauge", "Revoked serials in the CRL, per issuing CA.")
	for _, c := range mat.crls {
		fmt.Fprintf(&b, "relay_crl_entries{issuer=%q} %d\n", esc(c.Issuer.Subject.CommonName), c.Revoked.Len())
	}
	s.writeCRLMetrics(&b)
	head("relay_config_loaded_timestamp_seconds", "gauge", "Unix time the current configuration, certificates and CRL were loaded.")
	fmt.Fprintf(&b, "relay_config_loaded_timestamp_seconds %d\n", mat.loaded.Unix())
	io.WriteString(w, b.String()) //nolint:errcheck // the scraper may be gone
}

func writeMap(b *strings.Builder, m *sync.Map, series func(string) string) {
	var keys []string
	m.Range(func(k, _ any) bool { keys = append(keys, k.(string)); return true })
	slices.Sort(keys)
	for _, k := range keys {
		v, _ := m.Load(k)
		fmt.Fprintf(b, "%s %d\n", series(k), v.(*atomic.Uint64).Load())
	}
}

// esc prepares a label value for %q: the exposition format escapes only backslash, double quote and newline, which
// %q does the same way; other control characters are dropped so that %q does not emit Go-only escapes.
func esc(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
