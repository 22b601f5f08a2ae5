package relay

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"time"
)

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
	m.shareBundleCerts(cs.PeerCertificates)
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

// shareBundleCerts replaces each certificate the client sent after its leaf (the intermediates it presents, often
// one of the client CA bundle's own) by the bundle's parsed object with the same DER. crypto/tls parses what the
// client sends for every connection and keeps it for the connection's life (this slice is the *tls.Conn's own
// peer certificates, and peer.presented): a parsed intermediate is ~2.5 KiB per open session, shared this way by
// all of them (issue 15). The swap is invisible: same DER, so the same verification, the same session ticket and the
// same identity; crypto/tls uses only the leaf after VerifyConnection (CertificateVerify), and the leaf is kept.
// It runs inside VerifyConnection, on the handshake's goroutine, before anything else reads the slice.
func (m *material) shareBundleCerts(certs []*x509.Certificate) {
	for i := 1; i < len(certs); i++ {
		if own, ok := m.caByRaw[string(certs[i].Raw)]; ok {
			certs[i] = own
		}
	}
}
