// Package enroll is the online issuing endpoint behind `wsca enroll`: the RFC 7030 (EST) subset wsca
// serves under /.well-known/est/ — cacerts, simplereenroll authenticated by the current client certificate,
// simpleenroll authenticated by a one-time enrollment token. Signing and recording are cadir.Issuer's; client
// certificates are verified by relay.ClientVerifier, the checks of wsca serve.
package enroll

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsca/wsca/ca"
	"github.com/wsca/wsca/internal/cadir"
	"github.com/wsca/wsca/internal/pkcs7"
	"github.com/wsca/wsca/relay"
)

// Files names what the server's TLS side reads: its certificate and key, the client CA bundle and the CRL
// file. They are re-read when they change (checked at most once a second), as wsca serve does.
type Files struct {
	Cert, Key, ClientCA, CRL string
}

// Server answers EST requests. Create it with New.
type Server struct {
	issuer *cadir.Issuer
	files  Files
	now    func() time.Time
	log    *slog.Logger
	limit  *failLimiter
	grace  atomic.Int64                   // see SetGrace
	allow  atomic.Pointer[[]netip.Prefix] // see AllowFrom

	mu       sync.Mutex
	verifier *relay.ClientVerifier
	stamp    string // sizes and modification times of files when verifier was loaded
	checked  time.Time
}

// New loads the TLS files and returns a server signing with issuer. It fails if any file is unusable.
func New(issuer *cadir.Issuer, files Files, now func() time.Time, log *slog.Logger) (*Server, error) {
	s := &Server{issuer: issuer, files: files, now: now, log: log, limit: newFailLimiter(FailLimit, FailWindow)}
	if _, err := s.current(); err != nil {
		return nil, err
	}
	return s, nil
}

// stampOf describes the files' sizes and modification times: a change means a reload.
func (f Files) stampOf() string {
	out := ""
	for _, p := range []string{f.Cert, f.Key, f.ClientCA, f.CRL} {
		if st, err := os.Stat(p); err == nil {
			out += fmt.Sprintf("%d.%d;", st.Size(), st.ModTime().UnixNano())
		} else {
			out += "-;"
		}
	}
	return out
}

// current returns the verifier for the files as they are now, reloading them when they changed. A reload
// that fails keeps the last good verifier (and logs why), as wsca serve keeps its last good generation.
func (s *Server) current() (*relay.ClientVerifier, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if s.verifier != nil && now.Sub(s.checked) < time.Second {
		return s.verifier, nil
	}
	s.checked = now
	stamp := s.files.stampOf()
	if s.verifier != nil && stamp == s.stamp {
		return s.verifier, nil
	}
	v, err := relay.LoadClientVerifier(s.files.Cert, s.files.Key, s.files.ClientCA, s.files.CRL, now)
	if err != nil {
		if s.verifier == nil {
			return nil, err
		}
		s.log.Error("reload failed, keeping the previous files", "err", err)
		return s.verifier, nil
	}
	if s.verifier != nil {
		s.log.Info("reloaded certificate, CA bundle and CRL")
	}
	s.verifier, s.stamp = v, stamp
	return v, nil
}

// TLSConfig is the listener's configuration: a client certificate is requested, not required (cacerts and
// token enrollment are anonymous), and the handshake never fails on it. The certificate is verified instead
// by simplereenroll on every request, with relay.ClientVerifier — the checks wsca serve makes in
// VerifyConnection. Per request covers what VerifyConnection covers (full and resumed handshakes: both fill
// PeerCertificates) and more (a keep-alive connection's later requests after a revocation), and it lets the
// holder of a revoked, expired or foreign certificate get an HTTP answer that says why, with an audit entry,
// instead of a bare TLS alert.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			v, err := s.current()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   []string{"http/1.1"},
				Certificates: v.Certificate(),
				CipherSuites: v.CipherSuites(),
				ClientAuth:   tls.RequestClientCert,
				ClientCAs:    v.ClientCAs(),
			}, nil
		},
	}
}

// AllowFrom restricts simplereenroll and simpleenroll to clients whose address is in one of prefixes, as a
// relay route's allow_cidr does (cacerts stays open); none means any address.
func (s *Server) AllowFrom(prefixes []netip.Prefix) { s.allow.Store(&prefixes) }

// addressAllowed reports whether addr may renew or enroll.
func (s *Server) addressAllowed(addr string) bool {
	allow := s.allow.Load()
	if allow == nil || len(*allow) == 0 {
		return true
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range *allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// SetGrace sets how long after its expiry a certificate may still renew itself (default 0: not at all).
// Within it the chain is verified as at the certificate's expiry, the CRLs and wsca.db's revocations as now.
func (s *Server) SetGrace(d time.Duration) { s.grace.Store(int64(d)) }

// Handler returns the HTTP handler for /.well-known/est/.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/est/cacerts", s.cacerts)
	mux.HandleFunc("POST /.well-known/est/simplereenroll", s.simplereenroll)
	mux.HandleFunc("POST /.well-known/est/simpleenroll", s.simpleenroll)
	return mux
}

func (s *Server) cacerts(w http.ResponseWriter, _ *http.Request) {
	der, err := pkcs7.EncodeCertsOnly(s.issuer.Chain()...)
	if err != nil {
		s.refuse(w, nil, http.StatusInternalServerError, ReasonInternal, err)
		return
	}
	writeCerts(w, der)
}

// exchange is one renewal or enrollment request: where it came from and who it claims to be, for answers,
// logs and audit entries.
type exchange struct {
	r        *http.Request
	path     string
	addr     string
	name     string
	serial   string
	verified bool // a client certificate of this CA authenticated the request
}

// refuseAddress answers a request from an address outside AllowFrom; it reports whether it did.
func (s *Server) refuseAddress(w http.ResponseWriter, x *exchange) bool {
	if s.addressAllowed(x.addr) {
		return false
	}
	s.refuse(w, x, http.StatusForbidden, ReasonAddress, fmt.Errorf("%s may not renew or enroll here (--allow-cidr)", x.addr))
	return true
}

func newExchange(r *http.Request) *exchange {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return &exchange{r: r, path: r.URL.Path, addr: host}
}

func (s *Server) simplereenroll(w http.ResponseWriter, r *http.Request) {
	x := newExchange(r)
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		if s.rateLimited(w, x) {
			return
		}
		s.refuse(w, x, http.StatusUnauthorized, ReasonNoCert, errors.New("simplereenroll needs the current client certificate"))
		return
	}
	leaf := r.TLS.PeerCertificates[0]
	x.name, x.serial = ca.SafeText(leaf.Subject.CommonName), ca.SerialHex(leaf.SerialNumber)
	if s.refuseAddress(w, x) {
		return
	}
	v, err := s.current()
	if err != nil {
		s.refuse(w, x, http.StatusInternalServerError, ReasonInternal, err)
		return
	}
	if _, err := v.VerifyExpired(r.TLS.PeerCertificates, s.now(), time.Duration(s.grace.Load())); err != nil {
		if s.rateLimited(w, x) {
			return
		}
		reason := ReasonRejected
		var rej *relay.RejectError
		if errors.As(err, &rej) && rej.Reason == relay.ReasonRevoked {
			reason = ReasonRevoked
		}
		s.refuse(w, x, http.StatusForbidden, reason, err)
		return
	}
	x.verified = true
	der, ok := s.readCSR(w, x)
	if !ok {
		return
	}
	rec, cert, err := s.issuer.Renew(leaf, der)
	if err != nil {
		s.refuseIssue(w, x, err)
		return
	}
	s.log.Info("renewed", "name", rec.Name, "serial", ca.SerialHex(rec.Serial), "renews", x.serial, "addr", x.addr)
	s.answer(w, x, cert)
}

func (s *Server) simpleenroll(w http.ResponseWriter, r *http.Request) {
	x := newExchange(r)
	if s.refuseAddress(w, x) {
		return
	}
	if s.rateLimited(w, x) {
		return
	}
	token := ParseToken(r.Header.Get("Authorization"))
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="wsca enroll", charset="UTF-8"`)
		s.refuse(w, x, http.StatusUnauthorized, ReasonNoToken,
			errors.New("simpleenroll needs the enrollment token from wsca issue NAME --token (Authorization: Bearer TOKEN)"))
		return
	}
	der, ok := s.readCSR(w, x)
	if !ok {
		return
	}
	rec, cert, err := s.issuer.Enroll(token, der, x.addr)
	if err != nil {
		s.refuseIssue(w, x, err)
		return
	}
	s.log.Info("enrolled", "name", rec.Name, "serial", ca.SerialHex(rec.Serial), "addr", x.addr)
	s.answer(w, x, cert)
}

// rateLimited answers 429 to an address that made FailLimit refused requests without a valid certificate
// within FailWindow, and reports whether it did. Such answers are logged, not audited: a flood must not grow
// the audit log.
func (s *Server) rateLimited(w http.ResponseWriter, x *exchange) bool {
	if s.limit.allow(x.addr, s.now()) {
		return false
	}
	s.refuse(w, x, http.StatusTooManyRequests, ReasonRateLimited,
		fmt.Errorf("too many refused requests from %s; wait %s", x.addr, FailWindow))
	return true
}

// readCSR reads and decodes the request body, answering the refusal itself when it fails.
func (s *Server) readCSR(w http.ResponseWriter, x *exchange) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, x.r.Body, MaxBody))
	if err != nil {
		s.refuse(w, x, http.StatusRequestEntityTooLarge, ReasonTooLarge,
			fmt.Errorf("the request body is larger than %d bytes", MaxBody))
		return nil, false
	}
	der, err := ParseCSRBody(x.r.Header.Get("Content-Type"), body)
	if err != nil {
		status, reason := http.StatusBadRequest, ReasonBadRequest
		if errors.Is(err, ErrContentType) {
			status, reason = http.StatusUnsupportedMediaType, ReasonContentType
		}
		s.refuse(w, x, status, reason, err)
		return nil, false
	}
	return der, true
}

// refuseIssue answers a refusal of cadir.Issuer.
func (s *Server) refuseIssue(w http.ResponseWriter, x *exchange, err error) {
	switch {
	case errors.Is(err, cadir.ErrRevoked):
		s.refuse(w, x, http.StatusForbidden, ReasonRevoked, err)
	case errors.Is(err, cadir.ErrUnknownCertificate):
		s.refuse(w, x, http.StatusForbidden, ReasonUnknownCert, err)
	case errors.Is(err, cadir.ErrCSRIdentity):
		s.refuse(w, x, http.StatusForbidden, ReasonIdentity, err)
	case errors.Is(err, cadir.ErrBadToken):
		s.refuse(w, x, http.StatusForbidden, ReasonBadToken, err)
	case errors.Is(err, cadir.ErrBadCSR):
		s.refuse(w, x, http.StatusBadRequest, ReasonBadCSR, err)
	default:
		s.refuse(w, x, http.StatusInternalServerError, ReasonInternal, err)
	}
}

// refuse answers status with one line "REASON: message", logs it and, for renewal and enrollment requests,
// records it in the audit log (except rate-limit answers) and counts it towards the rate limit when no valid
// certificate authenticated the request.
func (s *Server) refuse(w http.ResponseWriter, x *exchange, status int, reason string, err error) {
	msg := ca.SafeText(err.Error())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s: %s\n", reason, msg)
	if x == nil {
		s.log.Error("refused", "reason", reason, "err", msg)
		return
	}
	s.log.Warn("refused", "path", x.path, "addr", x.addr, "name", x.name, "serial", x.serial, "reason", reason, "err", msg)
	if reason == ReasonRateLimited {
		return
	}
	if !x.verified {
		s.limit.fail(x.addr, s.now()) // anonymous, foreign, revoked or expired: counted towards the rate limit
	}
	detail := fmt.Sprintf("%s from %s: %s: %s", x.path, x.addr, reason, msg)
	if aerr := s.issuer.AuditRefusal(x.name, x.serial, detail); aerr != nil {
		s.log.Error("could not audit a refusal", "err", aerr)
	}
}

func (s *Server) answer(w http.ResponseWriter, x *exchange, cert *x509.Certificate) {
	der, err := pkcs7.EncodeCertsOnly(cert)
	if err != nil {
		s.refuse(w, x, http.StatusInternalServerError, ReasonInternal, err)
		return
	}
	writeCerts(w, der)
}

// writeCerts answers a certs-only PKCS#7 as RFC 7030 §4.1.3 and §4.2.3 say: base64 with
// Content-Transfer-Encoding, 76-character lines.
func writeCerts(w http.ResponseWriter, der []byte) {
	w.Header().Set("Content-Type", "application/pkcs7-mime; smime-type=certs-only")
	w.Header().Set("Content-Transfer-Encoding", "base64")
	b := base64.StdEncoding.EncodeToString(der)
	for len(b) > 76 {
		io.WriteString(w, b[:76]+"\r\n") //nolint:errcheck // the client sees a short answer
		b = b[76:]
	}
	io.WriteString(w, b+"\r\n") //nolint:errcheck // the client sees a short answer
}
